"""devhost as users run it: a real `devhost start` process with its worker processes over
gRPC, driven over HTTP from this process (bench/devhost_start.py). The in-process figures of
bench/test_devhost.py stay beside these, named `_in_process`."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from devhost.cli.client import send
from devhost.cli.start import load_app, stop_workers
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.history import EventType
from devhost.durable.protocol import call_orchestrator, episodes, trigger_payload
from devhost.durable.store import Store
from devhost.host.app import AppIndex

from .conftest import QUICK
from .devhost_start import REPO, DevhostStart, cpu_ms_per_run, median_ms

APPS = REPO / "tests" / "devhost" / "apps"
RECIPE = "/api/start-sub-orchestration"
PARENT = "parent_workflow_orchestrator"


def test_runs_and_latency_through_workers(benchmark: Any, results: dict[str, Any],
                                          tmp_path: Path) -> None:
    """Two workers (FUNCTIONS_WORKER_PROCESS_COUNT=2), then one, back to back: client
    threads start and follow the runs, polling as users' clients do (`runs_per_s`), and
    the CPU each process spent on them (`cpu_ms_per_run`); then single runs, polled every
    5 ms, for the latency."""
    runs = 60 if QUICK else 400
    single = 20 if QUICK else 200

    def measure() -> None:
        with DevhostStart(tmp_path / "two", workers=2) as host:
            host.start(RECIPE)
            results["start_to_ready_s"] = round(host.start_to_ready_s, 2)
            before = host.cpu_s()
            results["runs_per_s"] = round(host.runs_per_s(RECIPE, runs), 1)
            cpu = cpu_ms_per_run(before, host.cpu_s(settle=True), runs)
            results["cpu_ms_per_run"] = cpu
            # What the machine's cores could complete if they did nothing else, and what the
            # host alone could: its Python holds one interpreter lock, so about one core.
            results["runs_per_s_cpu_bound"] = round((os.cpu_count() or 1) * 1000 / cpu["total"],
                                                    1)
            results["runs_per_s_host_bound"] = round(1000 / cpu["host"], 1)
            latencies = [host.run(RECIPE) for _ in range(single)]
            results["http_p50_ms"] = median_ms(latencies)
            results["http_p95_ms"] = round(statistics.quantiles(latencies, n=20)[18] * 1000, 2)
        results["episodes_per_run"] = episodes_per_run(tmp_path / "two" / "data")
        with DevhostStart(tmp_path / "one", workers=1) as host:
            host.start(RECIPE)
            results["runs_per_s_one_worker"] = round(host.runs_per_s(RECIPE, runs), 1)

    benchmark.pedantic(measure, rounds=1, iterations=1)


def episodes_per_run(data_dir: Path) -> float:
    """Orchestrator episodes per recipe run, read from the stopped host's durable store: each
    episode opens with one OrchestratorStarted event in its instance's history
    (DurableTask.Core `TaskOrchestrationDispatcher`), children's included. The recipe's floor
    is 6: the parent starts both children, then completes when they have (2), and each child
    schedules its activity, then completes (2 each)."""
    with closing(sqlite3.connect(data_dir / "durable.sqlite")) as db:
        episodes = _events(db, EventType.ORCHESTRATOR_STARTED)
        (runs,), = db.execute("SELECT count(*) FROM instances WHERE name = ?", (PARENT,))
    return round(episodes / runs, 2)


def _events(db: sqlite3.Connection, event_type: EventType, instances: str = "",
            *args: str) -> int:
    """History events of one type, of the instances the `instances` subquery names (all
    when empty)."""
    where = f" AND instance_id IN ({instances})" if instances else ""
    (found,), = db.execute(
        f"SELECT count(*) FROM history WHERE json_extract(event, '$.EventType') = ?{where}",
        (event_type, *args))
    return int(found)


def test_fan_out_through_workers(benchmark: Any, results: dict[str, Any],
                                 tmp_path: Path) -> None:
    """A parent fanning out to N child orchestrations (one activity each), started over
    HTTP on `devhost start` with two workers; the median of `rounds` runs of each size.
    Beside the times, what bounds them: the CPU seconds of the host process and of the
    worker processes per 1000-child run (median), and the last such run's episodes and
    activity runs, each one invocation over gRPC (`fan_out_counts`)."""
    rounds = 1 if QUICK else 3
    times: dict[int, list[float]] = {100: [], 1000: []}
    cpu: dict[str, list[float]] = {"host": [], "workers": []}
    parents: list[str] = []
    env = {"SEMANTICS_ATTEMPTS_DIR": str(tmp_path / "attempts")}
    path = "/api/orchestrators/fan_out_children"

    def measure() -> None:
        with DevhostStart(tmp_path / "fan", workers=2, app="semantics_app", app_dir=APPS,
                          env=env) as host:
            host.start(path, b"1")
            for _ in range(rounds):
                for n in times:
                    before = host.cpu_s() if n == 1000 else {}
                    seconds, parent = _fan_out(host, path, n)
                    times[n].append(seconds)
                    if n == 1000:
                        after = host.cpu_s(settle=True)
                        for key in cpu:
                            cpu[key].append(after[key] - before[key])
                        parents.append(parent)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    fan100, fan1000 = statistics.median(times[100]), statistics.median(times[1000])
    results["fanout_100_s"] = round(fan100, 3)
    results["fanout_1000_s"] = round(fan1000, 3)
    results["fanout_ratio_1000_100"] = round(fan1000 / fan100, 2)
    for key, seconds in cpu.items():
        results[f"fanout_1000_cpu_s_{key}"] = round(statistics.median(seconds), 2)
    for key, count in fan_out_counts(tmp_path / "fan" / "data", parents[-1]).items():
        results[f"fanout_1000_{key}"] = count


def _fan_out(host: DevhostStart, path: str, n: int) -> tuple[float, str]:
    """One fan-out, as `DevhostStart.run` does it (POST, then poll every 5 ms until
    Completed); the seconds and the parent's instance id."""
    began = time.perf_counter()
    status, started = send("POST", host.base_url + path, str(n).encode(), timeout=60)
    assert status == 202, (status, started)
    host.wait(started["statusQueryGetUri"])
    return time.perf_counter() - began, str(started["id"])


def fan_out_counts(data_dir: Path, parent: str) -> dict[str, int]:
    """One fan-out's work, read from the stopped host's durable store: the parent's and its
    children's episodes (one OrchestratorStarted each, DurableTask.Core
    `TaskOrchestrationDispatcher`) and the children's activity runs (TaskCompleted). The
    floor for N children is N activities and 2N child episodes (each child schedules its
    activity, then completes), plus the parent's: 2 if every answer joined one episode."""
    children = "SELECT instance_id FROM instances WHERE parent_instance_id = ?"
    with closing(sqlite3.connect(data_dir / "durable.sqlite")) as db:
        return {"parent_episodes": _events(db, EventType.ORCHESTRATOR_STARTED, "?", parent),
                "child_episodes": _events(db, EventType.ORCHESTRATOR_STARTED, children, parent),
                "activities": _events(db, EventType.TASK_COMPLETED, children, parent)}


def _recorded_history(tmp: Path) -> tuple[str, list[dict[str, Any]]]:
    """One recipe run in-process; the parent's stored history and its instance id."""
    index = load_app("function_app", REPO, worker_processes=False)
    engine = Engine(index, Store(tmp / "episode.sqlite"), EngineOptions(10, 10))

    async def main() -> str:
        await engine.start()
        try:
            iid = engine.start_new(PARENT, None, None)
            assert (await engine.wait(iid, 120)).runtime_status == "Completed"
            return iid
        finally:
            await engine.stop()

    iid = asyncio.run(main())
    return iid, engine.store.history(iid)


def _episode_s(index: AppIndex, payload: dict[str, Any]) -> float:
    fn = index.orchestrators[PARENT]

    async def one() -> float:
        began = time.perf_counter()
        state, error = await call_orchestrator(index.workers, fn, payload)
        assert error is None and state is not None and state["isDone"], (state, error)
        return time.perf_counter() - began

    return asyncio.run(one())


def test_grpc_episode_ratio(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    """The recipe parent's last episode (its whole history replayed, then completion), run
    through one worker process over gRPC and through the same runtime in this process,
    interleaved round by round; the ratio of the medians."""
    rounds = 30 if QUICK else 200
    iid, history = _recorded_history(tmp_path)
    past, new = list(episodes(history))[-1]
    payload = trigger_payload(iid, None, None, past, new)
    local = load_app("function_app", REPO, worker_processes=False)
    remote = load_app("function_app", REPO, count=1, console_invocations=False)
    grpc: list[float] = []
    in_process: list[float] = []
    try:
        def measure() -> None:
            for _ in range(3):  # warm both paths
                _episode_s(remote, payload), _episode_s(local, payload)
            for _ in range(rounds):
                grpc.append(_episode_s(remote, payload))
                in_process.append(_episode_s(local, payload))

        benchmark.pedantic(measure, rounds=1, iterations=1)
    finally:
        stop_workers(remote)
    results["grpc_episode_ms"] = median_ms(grpc)
    results["in_process_episode_ms"] = median_ms(in_process)
    results["grpc_episode_ratio"] = round(statistics.median(grpc) / statistics.median(in_process),
                                          2)

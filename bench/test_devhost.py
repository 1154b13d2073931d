"""devhost in-process (the app in this process, no gRPC): runs per second, HTTP latency,
fan-out scaling. Named `_in_process`; bench/test_workers.py measures what users run."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from devhost.cli.client import send
from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from .conftest import QUICK

REPO = Path(__file__).resolve().parents[1]
APPS = REPO / "tests" / "devhost" / "apps"


def _engine(module: str, directory: Path, tmp: Path) -> Engine:
    index = load_app(module, directory, worker_processes=False)
    return Engine(index, Store(tmp / "durable.sqlite"), EngineOptions(10, 10))


def _run_many(engine: Engine, name: str, inputs: list[str | None]) -> float:
    async def main() -> float:
        await engine.start()
        try:
            started = time.perf_counter()
            ids = [engine.start_new(name, None, payload) for payload in inputs]
            for iid in ids:
                final = await engine.wait(iid, 600)
                assert final.runtime_status == "Completed", final
            return time.perf_counter() - started
        finally:
            await engine.stop()

    return asyncio.run(main())


def test_runs_per_second(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    runs = 100 if QUICK else 500
    engine = _engine("function_app", REPO, tmp_path)
    elapsed = benchmark.pedantic(lambda: _run_many(engine, "parent_workflow_orchestrator",
                                                   [None] * runs), rounds=1, iterations=1)
    results["runs_per_s_in_process"] = round(runs / elapsed, 1)
    results["episodes_per_run_in_process"] = round(engine.episodes / runs, 2)


def test_http_latency(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    runs = 30 if QUICK else 200
    index = load_app("function_app", REPO, worker_processes=False)
    store = Store(tmp_path / "http.sqlite")
    latencies: list[float] = []
    with BackgroundHost(host_server(index, Engine(index, store), port=0)) as host:
        url = host.base_url + "/api/start-sub-orchestration"

        def one() -> None:
            started = time.perf_counter()
            _, body = send("POST", url)
            status_uri = body["statusQueryGetUri"]
            while send("GET", status_uri)[1]["runtimeStatus"] != "Completed":
                time.sleep(0.002)
            latencies.append((time.perf_counter() - started) * 1000)

        benchmark.pedantic(one, rounds=runs, iterations=1, warmup_rounds=3)
    quantiles = statistics.quantiles(latencies, n=20)
    results["http_p50_ms_in_process"] = round(statistics.median(latencies), 2)
    results["http_p95_ms_in_process"] = round(quantiles[18], 2)


def test_fan_out_scaling(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    import os

    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path / "attempts"))
    times: dict[int, float] = {}

    def fan(n: int) -> None:
        engine = _engine("semantics_app", APPS, tmp_path / f"fan{n}")
        times[n] = _run_many(engine, "fan_out_children", [str(n)])

    (tmp_path / "fan100").mkdir()
    (tmp_path / "fan1000").mkdir()
    def both() -> None:
        fan(100)
        fan(1000)

    benchmark.pedantic(both, rounds=1, iterations=1)
    results["fanout_100_s_in_process"] = round(times[100], 3)
    results["fanout_1000_s_in_process"] = round(times[1000], 3)
    results["fanout_ratio_1000_100_in_process"] = round(times[1000] / times[100], 2)

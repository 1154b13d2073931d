"""Graceful shutdown of a real `devhost start` process (SIGTERM / Ctrl-C).

Checked against azure-functions-host: running invocations get a bounded time to finish
(WorkerProcessCountOptions.ProcessShutdownTimeout, 10 s); the Durable extension only
completes a work item (DurableTask.Core TaskActivityDispatcher.OnProcessWorkItemAsync →
CompleteTaskActivityWorkItemAsync) once the activity returned, so a finished activity's result
is committed and never runs again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from devhost.insights.query import run_kql
from tests.hosting import devhost_env, launch

from .support import APPS, free_port, http

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, port: int, marks: Path, *extra: str) -> subprocess.Popen[bytes]:
    log = _log(data_dir)
    log.unlink(missing_ok=True)
    return launch(APPS, "lifecycle_app", data_dir, port, log,
                  devhost_env(LIFECYCLE_MARKS_DIR=str(marks)), *extra)


def _log(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}.log"


def _stop(proc: subprocess.Popen[bytes], data_dir: Path, timeout: float = 20) -> str:
    proc.wait(timeout)
    return _log(data_dir).read_text(errors="replace")


def _wait_for_file(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _wait_for_shutdown(data_dir: Path, timeout: float = 20) -> None:
    """Until the host says it is shutting down: it refuses new invocations from then on
    (devhost/cli: the line is printed as the host starts to drain)."""
    deadline = time.monotonic() + timeout
    while "Application is shutting down" not in _log(data_dir).read_text(errors="replace"):
        assert time.monotonic() < deadline, "the host never began to shut down"
        time.sleep(0.05)


def _workers_of(host_pid: int) -> list[int]:
    """The host's `devhost.worker` children, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == host_pid and b"devhost.worker" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _assert_outlived_by_none(workers: list[int], text: str, grace: float = 2.0) -> None:
    """No worker outlives its host: the host's WorkerProcess.Dispose kills the worker
    process (`Process.Kill()`, azure-functions-host WorkerProcess.cs). The grace is for the
    kernel to finish a kill already sent; an orphan runs on for the whole activity."""
    deadline = time.monotonic() + grace
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"worker(s) {survivors} outlived the host\n{text}"


def _finish(base: str, uri_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        _, body, _ = http("GET", f"{base}/runtime/webhooks/durabletask/instances/{uri_id}")
        if body["runtimeStatus"] not in ("Pending", "Running"):
            return dict(body)
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def test_sigterm_during_activity_commits_its_result_and_restart_does_not_rerun_it(
        tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marks = tmp_path / "marks"
    proc = _start(tmp_path / "data", port, marks)
    try:
        status, started, _ = http(
            "POST", f"{base}/runtime/webhooks/durabletask/orchestrators/slow_once/once", 1.5)
        assert status == 202
        _wait_for_file(marks / "slow_step.started")
        proc.send_signal(signal.SIGTERM)
        _wait_for_shutdown(tmp_path / "data")
        refused, body, _ = http("GET", f"{base}/api/Boom/x")  # no new invocations
        text = _stop(proc, tmp_path / "data")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (refused, body["error"]) == (503, "the host is shutting down"), text
    assert proc.returncode == 0, text
    assert "Waiting up to" in text and "slow_step (instance once" in text, text
    assert "Traceback" not in text, text
    assert (marks / "slow_step.finished").read_text() == "1"

    proc = _start(tmp_path / "data", port, marks)
    try:
        final = _finish(base, "once")
    finally:
        proc.send_signal(signal.SIGTERM)
        _stop(proc, tmp_path / "data")
    assert final["runtimeStatus"] == "Completed" and final["output"] == "slept 1.5"
    assert (marks / "slow_step.started").read_text() == "1"  # ran once, across the restart
    _, rows = run_kql(tmp_path / "data" / "insights.duckdb",
                      "requests | where name == 'activity:slow_step' | count")
    assert rows == [(1,)]


def test_shutdown_bound_kills_the_worker_and_the_activity_runs_again_at_next_start(
        tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marks = tmp_path / "marks"
    proc = _start(tmp_path / "data", port, marks, "--shutdown-timeout", "0.5")
    try:
        http("POST", f"{base}/runtime/webhooks/durabletask/orchestrators/slow_once/cut", 4)
        _wait_for_file(marks / "slow_step.started")
        workers = _workers_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        text = _stop(proc, tmp_path / "data")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Shutdown timeout of 0.5s reached; abandoning 1 running activities" in text, text
    assert workers, text
    _assert_outlived_by_none(workers, text)
    # Killed, not waited for: the 4 s activity never finishes.
    assert not (marks / "slow_step.finished").exists()

    proc = _start(tmp_path / "data", port, marks)
    try:
        final = _finish(base, "cut")
    finally:
        proc.send_signal(signal.SIGTERM)
        _stop(proc, tmp_path / "data")
    assert final["runtimeStatus"] == "Completed"
    assert (marks / "slow_step.started").read_text() == "2"  # at least once: it ran again


def test_second_interrupt_exits_at_once_kills_the_worker_without_traceback(
        tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marks = tmp_path / "marks"
    proc = _start(tmp_path / "data", port, marks)
    try:
        http("POST", f"{base}/runtime/webhooks/durabletask/orchestrators/slow_once/twice", 5)
        _wait_for_file(marks / "slow_step.started")
        workers = _workers_of(proc.pid)
        proc.send_signal(signal.SIGINT)
        _wait_for_shutdown(tmp_path / "data")  # the first interrupt is being handled
        proc.send_signal(signal.SIGINT)
        text = _stop(proc, tmp_path / "data", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, text
    assert "Second interrupt: exiting now" in text and "Traceback" not in text, text
    assert workers, text
    _assert_outlived_by_none(workers, text)
    assert not (marks / "slow_step.finished").exists()

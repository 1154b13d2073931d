"""A real `devhost start` process, as users run it (worker processes over gRPC), driven over
HTTP from the bench process. Used by bench/test_workers.py; never by `make test`."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devhost.cli.client import send
from devhost.insights.remote import remote_flush
from devhost.insights.serving import server_of

from .proc_cpu import self_cpu_s, tree_cpu_s

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0
POLL_S = 0.005  # single runs (`run`): a latency figure, so its end is seen within 5 ms
# Throughput (`runs_per_s`): users' clients poll far less often than every 5 ms. The Durable
# SDK's check-status response asks for `Retry-After: 10` and its
# `wait_for_completion_or_create_check_status_response` polls every 1,000 ms by default
# (azure/durable_functions/models/DurableOrchestrationClient.py); 16 clients at 5 ms spent
# much of the host's CPU on status answers instead of runs.
THROUGHPUT_POLL_S = 0.1
THROUGHPUT_CLIENTS = 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevhostStart:
    """`python -m devhost start --quiet` on a fresh data folder with `workers` worker
    processes (FUNCTIONS_WORKER_PROCESS_COUNT). Local insights runs as `devhost start` runs it
    by default (no connection string), so the host's own telemetry cost is counted.
    `DEVHOST_PROFILE`, when set in this process's environment, passes through to the host."""

    def __init__(self, data_dir: Path, *, workers: int, app: str = "function_app",
                 app_dir: Path = REPO, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.start_to_ready_s = 0.0
        self._app, self._app_dir, self._workers = app, app_dir, workers
        self._extra = env or {}
        self._proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OTEL_", "TELEMETRY_", "APPLICATIONINSIGHTS_"))}
        env.update(PYTHONPATH=str(REPO), TELEMETRY_CONSOLE_LOGS="false",
                   FUNCTIONS_WORKER_PROCESS_COUNT=str(self._workers),
                   APPLICATIONINSIGHTS_CONNECTION_STRING="", TMPDIR=str(self.data_dir))
        env.update(self._extra)
        return env

    def start(self, ready_path: str, ready_body: bytes = b"") -> DevhostStart:
        """Start the process; ready when `POST ready_path` first answers 202 (the time from
        the spawn to that answer is `start_to_ready_s`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        log = open(self.data_dir / "devhost.log", "wb")  # noqa: SIM115 - kept for the process
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", "--quiet", "--port", str(self.port),
             "--app", self._app, "--app-dir", str(self._app_dir),
             "--data-dir", str(self.data_dir / "data")],
            cwd=self._app_dir, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError("devhost start exited:\n" + self.log_tail())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("devhost start was not ready in time:\n" + self.log_tail())
            try:
                status, body = send("POST", self.base_url + ready_path, ready_body, timeout=30)
            except OSError:
                time.sleep(0.02)
                continue
            if status == 202:
                self.start_to_ready_s = time.perf_counter() - began
                self.wait(body["statusQueryGetUri"])
                return self
            time.sleep(0.02)

    def cpu_s(self, *, settle: bool = False) -> dict[str, float]:
        """CPU seconds used so far by the host process, its worker processes (all its
        descendants) and this process (the client threads): two readings around a
        measurement say where its CPU went (see `cpu_ms_per_run`). The host's telemetry
        pipelines batch, so they are flushed first (`/devhost/flush`, which answers once what
        they held is filed). The workers' exporters batch too, and FunctionRpc has no message
        that flushes them: with `settle` (the reading after a measurement) this waits out
        their schedule (`worker_export_delay_s`), so the telemetry of the runs measured is
        exported, ingested and filed inside the readings."""
        assert self._proc is not None, "not started"
        if settle:
            time.sleep(worker_export_delay_s())
        url = server_of(self.data_dir / "data" / "insights.duckdb")
        assert url is not None, "local insights is not served"
        remote_flush(url, timeout=60)
        return {**tree_cpu_s(self._proc.pid), "client": self_cpu_s()}

    def log_tail(self, lines: int = 30) -> str:
        text = (self.data_dir / "devhost.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, status_uri: str, poll_s: float = POLL_S) -> dict[str, Any]:
        """Poll `status_uri` every `poll_s` until the run ends; it must end Completed."""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            body = send("GET", status_uri, timeout=60)[1]
            if body["runtimeStatus"] not in ("Pending", "Running"):
                assert body["runtimeStatus"] == "Completed", body
                return dict(body)
            time.sleep(poll_s)
        raise TimeoutError(status_uri)

    def run(self, path: str, body: bytes = b"", poll_s: float = POLL_S) -> float:
        """One run over HTTP: POST the starter, poll its status until Completed; seconds."""
        began = time.perf_counter()
        status, started = send("POST", self.base_url + path, body, timeout=60)
        assert status == 202, (status, started)
        self.wait(started["statusQueryGetUri"], poll_s)
        return time.perf_counter() - began

    def runs_per_s(self, path: str, runs: int, clients: int = THROUGHPUT_CLIENTS,
                   poll_s: float = THROUGHPUT_POLL_S) -> float:
        """`runs` runs started and followed by `clients` threads at once, each polling its
        run's status every `poll_s` (THROUGHPUT_POLL_S) until Completed: a figure of the host,
        not of how fast the clients poll. Enough runs are in flight to keep the host busy
        however long each takes (a run waits for a worker, not for its client); a run
        counts only once its status says Completed, and the last ones are seen at most
        `poll_s` late, against a measurement of several seconds."""
        left = list(range(runs))
        lock = threading.Lock()
        errors: list[BaseException] = []

        def client() -> None:
            while True:
                with lock:
                    if not left or errors:
                        return
                    left.pop()
                try:
                    self.run(path, poll_s=poll_s)
                except BaseException as exc:  # reported below, after the threads end
                    errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return runs / (time.perf_counter() - began)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # graceful: a profile, if asked for, is written
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> DevhostStart:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def cpu_ms_per_run(before: dict[str, float], after: dict[str, float],
                   runs: int) -> dict[str, float]:
    """Milliseconds of CPU per run of each process between two `DevhostStart.cpu_s`
    readings, and their total."""
    per_run = {k: (after[k] - before[k]) * 1000 / runs for k in after}
    per_run["total"] = sum(per_run.values())
    return {k: round(v, 2) for k, v in per_run.items()}


def worker_export_delay_s() -> float:
    """How long a worker's batch processors may hold telemetry: the longer of the span and
    log schedules (OpenTelemetry SDK: OTEL_BSP_SCHEDULE_DELAY 5000 ms,
    OTEL_BLRP_SCHEDULE_DELAY 1000 ms by default), plus a second for the export itself."""
    delays = [float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "5000")),
              float(os.environ.get("OTEL_BLRP_SCHEDULE_DELAY", "1000"))]
    return max(delays) / 1000 + 1


def median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)

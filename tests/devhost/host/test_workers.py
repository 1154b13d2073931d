"""The worker process: Microsoft's runtime indexes and invokes; devhost is the host side.

Sources: azure-functions-runtime 1.3.0 (functions.py Registry.add_indexed_function validates
parameters against bindings at indexing; handle_event.py worker_init_request returns its
failure), azure-functions-host GrpcWorkerChannel (a worker that exits is restarted).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from devhost.cli.start import load_app, run_sync
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.metadata import AppLoadError

from ..support import until

pytestmark = pytest.mark.host

APPS = Path(__file__).resolve().parents[1] / "apps"


def test_a_parameter_that_matches_no_binding_is_refused_at_load() -> None:
    """Registry.validate_function_params: the runtime's own message, from the worker."""
    with pytest.raises(AppLoadError) as caught:
        load_app("function_app", APPS / "mismatch")
    assert "hello" in str(caught.value) and "request" in str(caught.value)


@pytest.mark.parametrize(("app", "message"), [
    # loader.py index_function_app
    ("two_registries", "More than one FunctionApp or other top level function app instances"),
    # functions.py Registry.validate_function_params (a trigger annotation its converter
    # cannot produce; str/bytes would pass, as the runtime treats them as 'generic')
    ("wrong_annotation", "do not match the corresponding function parameter's Python type "
                         "annotation int"),
    # handle_event.py load_function_metadata: only PYTHON_SCRIPT_FILE_NAME is indexed
    ("no_script_file", "No job functions found"),
])
def test_what_the_worker_refuses_at_load(app: str, message: str) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app("function_app", APPS / app)
    assert message in str(caught.value)


def test_the_app_runs_in_another_process_with_the_runtime_version() -> None:
    index = load_app("semantics_app", APPS)
    try:
        assert index.runtime_version == "1.3.0"
        pids = index.workers.pids  # type: ignore[attr-defined]
        assert pids and os.getpid() not in pids
    finally:
        index.workers.stop()


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL while activities (0.1 s naps) are in flight on it: the engine delivers what
    the dead worker held again (at least once) and the run completes with the right sum."""
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path))
    index = load_app("semantics_app", APPS, count=2)
    workers = index.workers
    engine = Engine(index, Store(tmp_path / "durable.sqlite"))

    async def scenario() -> dict[str, object]:
        await engine.start()
        try:
            iid = engine.start_new("napping_children", "nap-run", json.dumps(40))
            victim = 0
            while not victim:  # a worker with activities (0.1 s naps) in flight
                busy = [pid for pid, n in workers.in_flight().items() if n]  # type: ignore[attr-defined]
                victim = busy[0] if busy else 0
                await asyncio.sleep(0.005)
            os.kill(victim, signal.SIGKILL)
            await engine.wait(iid, 60)
            status = engine.status(iid)
            assert status is not None
            return {**status, "victim": victim}
        finally:
            await engine.stop()

    try:
        status = asyncio.run(scenario())
        assert status["runtimeStatus"] == "Completed"
        assert status["output"] == sum(i * 2 for i in range(40))
        assert workers.restarts >= 1  # type: ignore[attr-defined]
        assert status["victim"] not in workers.pids  # type: ignore[attr-defined]
        # The survivor can finish the run before the replacement is up (its start is slower
        # under load), so wait for the count rather than read it once.
        until(lambda: len(workers.pids) == 2, 30)  # type: ignore[attr-defined]
        assert any("lost its worker" in r.getMessage() for r in caplog.records)
    finally:
        workers.stop()
        engine.store.close()


def test_a_killed_worker_is_replaced_and_runs_complete(tmp_path: Path) -> None:
    """The host starts another worker; what the dead one held is delivered again."""
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path))
    index = load_app("semantics_app", APPS, count=2)
    workers = index.workers
    try:
        first = list(workers.pids)  # type: ignore[attr-defined]
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        engine = Engine(index, Store(tmp_path / "durable.sqlite"))
        status = run_sync(engine, "fan_out", json.dumps(20), timeout=60)
        assert status["runtimeStatus"] == "Completed"
        assert status["output"] == sum(i * 2 for i in range(20))
        assert workers.restarts >= 1  # type: ignore[attr-defined]
        assert first[0] not in workers.pids  # type: ignore[attr-defined]
        engine.store.close()
    finally:
        workers.stop()

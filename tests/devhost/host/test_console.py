"""Console lines for failures like `func start` (azure-functions-host FunctionExecutor:
"Executed 'Functions.<name>' (Failed, Id=…, Duration=…ms)"; the Python worker's
"Exception: <Type>: <message>" / "Stack:"), with the user's frames only, and failure
messages that never end in a `None` detail."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from ..support import APPS, http

pytestmark = pytest.mark.host


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    os.environ.setdefault("LIFECYCLE_MARKS_DIR", str(tmp_path / "marks"))
    return Engine(load_app("lifecycle_app", APPS), Store(tmp_path / "d.sqlite"))


def _run(engine: Engine, name: str, payload: str | None, iid: str) -> dict[str, object]:
    async def main() -> dict[str, object]:
        await engine.start()
        try:
            engine.start_new(name, iid, payload)
            await engine.wait(iid, 10)
            status = engine.status(iid)
            assert status is not None
            return status
        finally:
            await engine.stop()

    try:
        return asyncio.run(main())
    finally:
        engine.store.close()


def test_failed_activity_and_orchestration_print_one_line_each_with_user_frames(
        engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    status = _run(engine, "rewindable", json.dumps("console-1"), "c1")
    assert status["runtimeStatus"] == "Failed"
    err = capsys.readouterr().err
    lines = err.splitlines()
    executed = [line for line in lines if "Executed 'Functions.fails_first_time'" in line]
    assert len(executed) == 1 and "(Failed, Id=" in executed[0]
    assert "InstanceId=c1" in executed[0]
    assert "Exception: RuntimeError: transient failure for console-1" in err
    assert "lifecycle_app.py" in err
    assert "devhost/durable" not in err and "devhost/host" not in err
    failed = [line for line in lines if "Function 'rewindable (Orchestrator)' failed" in line]
    assert len(failed) == 1 and failed[0].split("] ", 1)[1].startswith("c1: ")
    output = str(status["output"])
    assert "engine.py" not in output and "invoker.py" not in output
    assert "lifecycle_app.py" in output


def test_failures_without_details_never_end_in_none(engine: Engine) -> None:
    status = _run(engine, "calls_missing_activity", None, "c2")
    assert status["runtimeStatus"] == "Failed"
    output = str(status["output"])
    assert "The function 'not_there' doesn't exist" in output
    assert not output.rstrip().endswith("None")
    assert "Activity functions in this app:" in output


def test_http_500_prints_the_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.setdefault("LIFECYCLE_MARKS_DIR", str(tmp_path / "marks"))
    index = load_app("lifecycle_app", APPS)
    with BackgroundHost(host_server(index, Engine(index, Store(tmp_path / "d.sqlite")),
                                    port=0)) as host:
        status, _, _ = http("GET", f"{host.base_url}/api/Boom/x")
    assert status == 500
    err = capsys.readouterr().err
    assert "Executed 'Functions.boom' (Failed, Id=" in err
    assert "Exception: LookupError: no x" in err


def test_routes_match_case_insensitively_and_keep_parameter_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Functions host routes through ASP.NET routing, which compares literal segments
    case-insensitively (azure-functions-host WebJobsRouter / ASP.NET TemplateMatcher)."""
    os.environ.setdefault("LIFECYCLE_MARKS_DIR", str(tmp_path / "marks"))
    index = load_app("lifecycle_app", APPS)
    with BackgroundHost(host_server(index, Engine(index, Store(tmp_path / "d.sqlite")),
                                    port=0)) as host:
        for path in ("/api/Boom/MiXed", "/api/boom/MiXed", "/api/BOOM/MiXed"):
            status, body, _ = http("GET", host.base_url + path)
            # The host answers a failed invocation 500 with an empty body; the function's
            # exception (with the parameter's case) is on the console.
            assert status == 500 and body is None, (path, body)
            assert "Exception: LookupError: no MiXed" in capsys.readouterr().err
        assert http("GET", host.base_url + "/api/boomx/a")[0] == 404


def test_failed_entity_operation_prints_the_extensions_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EndToEndTraceHelper.OperationFailed: "<id>: Function '<name> (Entity)' failed '<op>'
    operation <operation id> after <n>ms with exception <exception>"."""
    engine = Engine(load_app("entity_counter_app", APPS), Store(tmp_path / "e.sqlite"))
    status = _run(engine, "counter_orchestrator", json.dumps("con"), "e1")
    assert status["runtimeStatus"] == "Completed"
    lines = [line for line in capsys.readouterr().err.splitlines() if "(Entity)" in line]
    assert len(lines) == 1
    assert "@counter@con: Function 'Counter (Entity)' failed 'fail' operation " in lines[0]
    assert lines[0].endswith("with exception cannot divide")

"""A mistake on the command line is one JSON line naming the flag, exit 2, and nothing done:
no worker started, no data folder written, no traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.cli import main

APPS = Path(__file__).resolve().parents[1] / "apps"


def _one_line(capfd: pytest.CaptureFixture[str]) -> dict[str, str]:
    err = capfd.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return dict(json.loads(err))


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_port_names_the_port_and_the_flag(busy_port: int, tmp_path: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["start", "--app-dir", str(APPS), "--app", "semantics_app",
                 "--port", str(busy_port), "--data-dir", str(data)]) == 2
    line = _one_line(capfd)
    assert line["field"] == "port" and f"port {busy_port}" in line["error"]
    assert "--port" in line["error"]
    assert not data.exists()


@pytest.mark.parametrize("command", [["start"], ["call", "GET", "/api/x"], ["run", "x"]])
def test_an_unknown_app_names_the_module_it_looked_for(
        command: list[str], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    port = ["--port", "0"] if command == ["start"] else []  # 7071 may be a devhost running
    assert main([*command, "--app-dir", str(APPS), "--app", "nope_module",
                 "--data-dir", str(data), *port]) == 2
    line = _one_line(capfd)
    assert line == {"error": f"--app nope_module: no nope_module.py in {APPS}, and no folder "
                             "with a function.json (the v1 model)", "field": "app"}
    assert not data.exists()


def test_a_missing_app_folder_is_named(tmp_path: Path,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "GET", "/api/x", "--app-dir", str(tmp_path / "nope")]) == 2
    assert _one_line(capfd)["field"] == "app_dir"


@pytest.mark.host
def test_call_says_it_timed_out_and_the_last_status(tmp_path: Path) -> None:
    # a process of its own: `call` applies settings and local insights to its environment
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "call", "POST", "/api/approvals", "--app-dir",
         str(APPS), "--app", "approval_app", "--data-dir", str(tmp_path / "data"),
         "--timeout", "0.2"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    last = [json.loads(line) for line in done.stderr.splitlines()
            if line.startswith('{"error"')]
    assert len(last) == 1 and last[0]["field"] == "timeout"
    assert "timed out after 0.2s" in last[0]["error"] and "still Running" in last[0]["error"]
    assert '"runtimeStatus": "Running"' in done.stdout


def test_a_host_json_with_trailing_content_is_one_line_naming_it(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Two JSON objects in host.json (the SDK's function_chaining v2 sample had them): the host
    cannot parse its configuration file and says which (HostJsonFileConfigurationSource
    .LoadHostConfig, azure-functions-host v4.1036.3); nothing starts."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "function_app.py").write_text("app = None\n")
    (app / "host.json").write_text('{\n  "version": "2.0"\n}\n{\n  "logging": {}\n}\n')
    data = tmp_path / "data"
    assert main(["start", "--app-dir", str(app), "--port", "0", "--data-dir", str(data)]) == 2
    line = _one_line(capfd)
    assert line == {"error": f"Unable to parse host configuration file '{app / 'host.json'}': "
                             "Extra data (line 4, column 1)",
                    "file": str(app / "host.json"), "line": 4}
    assert not data.exists()


@pytest.mark.parametrize(("argv", "field", "says"), [
    (["start", "--prot", "1"], "prot", "unrecognized arguments: --prot"),
    (["start", "--port", "99999"], "port", "99999 is not a port: 0-65535"),
    (["start", "--port", "abc"], "port", "'abc' is not a port number"),
    (["run"], "orchestrator", "required: orchestrator"),
    (["nope"], "command", "invalid choice: 'nope'"),
    (["insights", "query"], "kql", "required: kql"),
])
def test_an_argument_mistake_is_one_json_line_naming_it(
        argv: list[str], field: str, says: str, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse's own answer (a usage block, then a sentence) replaced by devhost's line;
    `devhost insights` has its own entry point (devhost/__main__.py), so both are checked."""
    from devhost.__main__ import main as entry

    with pytest.raises(SystemExit) as exited:
        if argv[0] == "insights":
            monkeypatch.setattr(sys, "argv", ["devhost", *argv])
            entry()
        else:
            main(argv)
    assert exited.value.code == 2
    line = _one_line(capfd)
    assert line["field"] == field and says in line["error"], line


@pytest.mark.parametrize(("argv", "field", "says"), [
    (["POST", "api/start"], "path", "a path starts with /"),
    (["POST", "http://127.0.0.1:7071/api/start"], "path", "give the path only"),
    (["FOO", "/x"], "method", "one of GET"),
])
def test_call_refuses_what_is_no_request_before_loading_anything(
        argv: list[str], field: str, says: str, tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["call", *argv, "--app-dir", str(APPS), "--app", "semantics_app",
                 "--data-dir", str(data)]) == 2
    line = _one_line(capfd)
    assert line["field"] == field and says in line["error"], line
    assert not data.exists()


_HOLDER = ("import duckdb, sys; held = duckdb.connect(sys.argv[1]); print('held', flush=True);"
           " sys.stdin.read()")


@pytest.mark.host  # a second process holds the database, as a devhost on that folder would
def test_a_data_folder_another_devhost_holds_is_named(tmp_path: Path) -> None:
    """DuckDB locks its file for one writing process (two `devhost start`s on one --data-dir
    started at the same moment both pass the port check)."""
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    with subprocess.Popen([sys.executable, "-c", _HOLDER, str(data / "insights.duckdb")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        try:
            done = subprocess.run(
                [sys.executable, "-m", "devhost", "start", "--port", "0", "--app-dir",
                 str(APPS), "--app", "semantics_app", "--data-dir", str(data)],
                capture_output=True, text=True, timeout=60, env=env)
        finally:
            holder.communicate("")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    line = json.loads(done.stderr)
    assert line["field"] == "data_dir", line
    assert f"PID {holder.pid}" in line["error"] and "--data-dir" in line["error"], line

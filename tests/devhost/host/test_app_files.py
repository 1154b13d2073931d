"""The app's own files as the host reads them, without a process: function.json (the v1 model),
host.json, local.settings.json and the App Insights setting, and where a load error that
names a function points. Each error names its file, and its line when there is one."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import azure.monitor.opentelemetry.exporter  # noqa: F401  at collection: its import runs `uname`
import pytest

from devhost.host import loaderrors
from devhost.host.functionjson import FunctionJsonError, is_v1_app, read_functions
from devhost.host.inprocess import LocalWorkers
from devhost.host.metadata import AppLoadError
from devhost.host.settings import (
    CONNECTION_STRING,
    SettingsError,
    apply_local_settings,
    read_host_json,
    set_aside_unusable_telemetry_setting,
)

from ..support import APPS

# The SDK's function_chaining v2 sample's host.json held two objects (issue 24): Json.NET's
# JObject.Parse refuses the trailing content, and so does json.loads.
TWO_OBJECTS = '{\n  "version": "2.0"\n}\n{\n  "logging": {}\n}\n'


def _function(app: Path, name: str, config: str, script: str | None = "__init__.py") -> Path:
    folder = app / name
    folder.mkdir(parents=True)
    (folder / "function.json").write_text(config)
    if script:
        (folder / script).write_text("def main(name: str) -> str:\n    return name\n")
    return folder


def test_function_json_folders_are_read_as_the_host_reads_them() -> None:
    pairs = read_functions(APPS / "v1_app")
    names = [metadata.name for metadata, _ in pairs]
    assert names == ["Approval", "Chaining", "Counter", "FanOutFanIn", "Greet", "HttpStart",
                     "Parent"]  # shared_code has no function.json: not a function
    metadata, info = dict((m.name, (m, i)) for m, i in pairs)["HttpStart"]
    assert metadata.script_file == str(APPS / "v1_app" / "HttpStart" / "__init__.py")
    assert not metadata.raw_bindings  # only worker indexing produces them
    assert {k: (v.type, v.direction) for k, v in metadata.bindings.items()} == {
        "req": ("httpTrigger", 0), "$return": ("http", 1), "starter": ("durableClient", 0)}
    assert info.trigger.settings["route"] == "orchestrators/{functionName}"
    again = dict((m.name, m.function_id) for m, _ in read_functions(APPS / "v1_app"))
    assert again["HttpStart"] == metadata.function_id  # every worker gets the same id
    assert is_v1_app(APPS / "v1_app") and not is_v1_app(APPS)


@pytest.mark.parametrize(("config", "script", "message", "line"), [
    ('{\n  "bindings": [\n    {"type": "activityTrigger" "name": "x"}\n  ]\n}', "__init__.py",
     "is not valid JSON: Expecting ',' delimiter (line 3, column 32)", 3),
    ('{"bindings": []}', "__init__.py", "At least one binding must be declared.", None),
    ('{"scriptFile": "main.py", "bindings": [{"type": "activityTrigger", "name": "x"}]}',
     "__init__.py", "The 'scriptFile' property is set to a file that does not exist.", None),
    ('{"bindings": [{"type": "queue", "name": "x", "direction": "out"}]}', "__init__.py",
     "has no trigger binding", None),
])
def test_a_function_json_the_host_refuses_names_its_file(
        tmp_path: Path, config: str, script: str, message: str, line: int | None) -> None:
    folder = _function(tmp_path, "Hello", config, script)
    with pytest.raises(FunctionJsonError) as caught:
        read_functions(tmp_path)
    assert message in str(caught.value)
    body = loaderrors.describe(caught.value, tmp_path)
    assert (body["file"], body["line"]) == (str(folder / "function.json"), line)


def test_a_v1_function_that_does_not_load_points_at_its_entry_point() -> None:
    """azure_functions_runtime_v1 refuses a parameter its function.json does not bind, from its
    own frames: the location is the entry point's def in the function's script. In-process:
    the same runtime and messages, no worker process."""
    with pytest.raises(AppLoadError) as caught:
        LocalWorkers.for_app(APPS / "v1_mismatch")
    body = loaderrors.describe(caught.value, APPS / "v1_mismatch")
    assert body["error"].startswith("Worker failed to load function Hello: FunctionLoadError: "
                                    "cannot load the Hello function: ")
    assert (body["file"], body["line"]) == (str(APPS / "v1_mismatch" / "Hello" /
                                                 "__init__.py"), 4)


def _indexing_error(app_dir: Path, source: str) -> AppLoadError:
    """What the worker reports when azure-functions refuses the app while indexing: the
    library's own ValueError (raised here by the library itself), as the host wraps it."""
    script = app_dir / "function_app.py"
    script.write_text(source)
    spec = importlib.util.spec_from_file_location(f"app_{app_dir.name}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ValueError) as caught:
        module.app.get_functions()
    return AppLoadError(f"Worker failed to index functions: ValueError: {caught.value}")


def test_a_function_without_a_trigger_is_located_by_its_name(tmp_path: Path) -> None:
    error = _indexing_error(tmp_path, (
        "import azure.durable_functions as df\n\napp = df.DFApp()\n\n\n"
        "@app.function_name(name='start_monitor')\n@app.durable_client_input(client_name='c')\n"
        "def start(c: str) -> None:\n    pass\n"))
    body = loaderrors.describe(error, tmp_path, "function_app.py")
    assert "Function start_monitor does not have a trigger." in body["error"]
    assert (body["file"], body["line"]) == (str(tmp_path / "function_app.py"), 6)


def test_a_named_function_that_cannot_be_found_says_why(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("app = None\n")
    error = AppLoadError("Worker failed to index functions: ValueError: Function ghost does "
                         "not have a trigger. A valid function must have one and only one "
                         "trigger registered.")
    body = loaderrors.describe(error, tmp_path, "function_app.py")
    assert "file" not in body
    assert body["location"].startswith("no decorated function named 'ghost'")


def test_host_json_with_trailing_content_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(TWO_OBJECTS)
    with pytest.raises(SettingsError) as caught:
        read_host_json(tmp_path)
    path = tmp_path / "host.json"
    assert str(caught.value) == (f"Unable to parse host configuration file '{path}': "
                                 "Extra data (line 4, column 1)")
    assert loaderrors.describe(caught.value, tmp_path) == {
        "error": str(caught.value), "file": str(path), "line": 4}


def test_local_settings_that_do_not_parse_are_named_with_their_line(tmp_path: Path) -> None:
    (tmp_path / "local.settings.json").write_text('{"Values": {\n  "A": "1",\n}}')
    with pytest.raises(SettingsError) as caught:
        apply_local_settings(tmp_path, {})
    assert str(caught.value) == (f"Unable to parse local.settings.json "
                                 f"'{tmp_path / 'local.settings.json'}': Illegal trailing comma "
                                 "before end of object (line 2, column 11)")
    assert caught.value.location == (str(tmp_path / "local.settings.json"), 2)


PLACEHOLDER = ("InstrumentationKey=xxxx;IngestionEndpoint=https://xxxx.applicationinsights."
               "azure.com/")


def test_an_unusable_connection_string_is_set_aside_for_the_host_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"Values": {CONNECTION_STRING: PLACEHOLDER}}))
    monkeypatch.delenv(CONNECTION_STRING, raising=False)
    monkeypatch.delenv("APPINSIGHTS_INSTRUMENTATIONKEY", raising=False)
    applied = apply_local_settings(tmp_path)
    line, for_workers = set_aside_unusable_telemetry_setting(tmp_path, applied,
                                                             keeps_local=True)
    assert line and "\n" not in line
    assert line.startswith(f"WARNING: {CONNECTION_STRING} from "
                           f"{tmp_path / 'local.settings.json'} is not usable (Invalid "
                           "instrumentation key. It should be a valid UUID.)")
    assert "kept in local Application Insights" in line
    assert CONNECTION_STRING not in os.environ  # the host's exporters never see it
    assert for_workers == {CONNECTION_STRING: PLACEHOLDER}  # the app's workers do


def test_a_usable_connection_string_is_left_alone(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    usable = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
              "IngestionEndpoint=http://127.0.0.1:9/")
    monkeypatch.setenv(CONNECTION_STRING, usable)
    assert set_aside_unusable_telemetry_setting(tmp_path, {}, keeps_local=False) == ("", {})
    assert os.environ[CONNECTION_STRING] == usable

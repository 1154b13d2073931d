"""Load errors all look alike: one JSON object with the message and the user's file and line,
exit code 2, never devhost's traceback (the Functions host reports indexing failures per
function with the worker's exception: azure-functions-host FunctionMetadataManager /
"Worker failed to index functions")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..support import APPS

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[3]

HEADER = "import azure.functions as func\nimport azure.durable_functions as df\n" \
         "app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"

CASES = {
    "syntax": (HEADER + "def broken(:\n    pass\n", 4, "SyntaxError"),
    "raises": (HEADER + "\n\nraise RuntimeError('no config')\n", 6, "RuntimeError: no config"),
    "missing_import": (HEADER + "import not_installed_anywhere\n", 4,
                       "No module named 'not_installed_anywhere'"),
    "bad_timer": (HEADER + "\n\n@app.timer_trigger(schedule='every day', arg_name='t')\n"
                  "def nightly(t: func.TimerRequest) -> None:\n    pass\n", 6,
                  "nightly: The schedule expression 'every day' was not recognized"),
    # azure_functions_runtime.functions.Registry.add_function raises FunctionLoadError from
    # its own frames: the location is the function's def (co_firstlineno: its first decorator)
    "mismatch": ((APPS / "mismatch" / "function_app.py").read_text(), 8,
                 "FunctionLoadError: cannot load the hello function: the following parameters "
                 "are declared in Python but not in the function definition"),
    "renamed_mismatch": (HEADER + "\n\ndef helper() -> None:\n    pass\n\n\n"
                         "@app.function_name(name='helper')\n@app.route(route='x')\n"
                         "def greet(request: func.HttpRequest) -> func.HttpResponse:\n"
                         "    return func.HttpResponse('hi')\n", 10,
                         "cannot load the helper function"),
}


def _devhost(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    return subprocess.run([sys.executable, "-m", "devhost", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_error_is_one_json_line_with_the_user_location(case: str, tmp_path: Path) -> None:
    source, line, message = CASES[case]
    app_dir = tmp_path / case
    app_dir.mkdir()
    (app_dir / f"{case}_app.py").write_text(source)
    result = _devhost("start", "--app", f"{case}_app", "--app-dir", str(app_dir), "--port", "0",
                      "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    body = json.loads(result.stderr.strip().splitlines()[-1])
    assert message in body["error"], body
    assert body["file"] == str(app_dir / f"{case}_app.py") and body["line"] == line, body


def test_run_with_a_wrong_name_lists_the_orchestrators(tmp_path: Path) -> None:
    result = _devhost("run", "no_such", "--app", "lifecycle_app", "--app-dir", str(APPS),
                      "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2
    body = json.loads(result.stderr.strip().splitlines()[-1])
    assert "'no_such' does not exist" in body["error"]
    assert "rewindable, rewindable_child" in body["error"]

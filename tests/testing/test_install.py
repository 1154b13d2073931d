"""`pip install` of the project into a fresh venv, then plain `pytest` in a folder that holds
only a user's function_app.py and a test file: the entry point alone brings the fixture.

Offline: pip installs from the wheelhouse `make wheelhouse` (part of `make test`) downloads
with requirements.lock as constraints; the project itself is built from a copy of its source.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USER_APP = Path(__file__).parent / "user_app.py"
SOURCES = ["pyproject.toml", "README.md", "function_app.py", "workflow.py", "telemetry",
           "devhost"]
USER_TEST = '''
def test_activity_span_carries_the_name(durable_app):
    run = durable_app.start("greeter", "grace")
    assert run.wait().output == "hello grace"
    (span,) = run.spans(name="greet")
    assert span.attributes["greeting.name"] == "grace"
    assert run.logs(message="greeting")[0].attributes["who"] == "grace"
    assert run.kql("requests | where name == 'activity:greet' | count") == [[1]]
'''


def _clean_env() -> dict[str, str]:
    """No pip configuration of this machine, nothing of this repository on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "PYTEST_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def test_pip_install_then_plain_pytest_runs_a_users_test(tmp_path: Path) -> None:
    wheelhouse = Path(os.environ.get("DEVHOST_WHEELHOUSE", REPO / ".wheelhouse"))
    assert (wheelhouse / ".complete").is_file(), (
        f"no wheelhouse at {wheelhouse}: run `make wheelhouse` (make test does)")
    source = tmp_path / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    env = _clean_env()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env,
                   timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--find-links", str(wheelhouse), "-c", str(REPO / "requirements.lock"),
         f"{source}[devhost]", "pytest"],
        env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    user = tmp_path / "user"
    user.mkdir()
    shutil.copy2(USER_APP, user / "function_app.py")
    # Durable distributed tracing V2 on, as the user's host.json would turn it on: without it
    # the activity's span is in a trace of its own, as on Azure.
    (user / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {
        "durableTask": {"tracing": {"distributedTracingEnabled": True, "version": "V2"}}}}),
        encoding="utf-8")
    (user / "test_greeter.py").write_text(USER_TEST, encoding="utf-8")
    result = subprocess.run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"],
                            cwd=user, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout

"""`pip install` of the project into a fresh venv, then plain `pytest` in a folder that holds
only a user's function_app.py and a test file: the entry point alone brings the fixture.

The project is built from its committed tree (`git archive HEAD`: what a clone, and so CI,
has), never from this working tree: the protocol modules devhost speaks gRPC with are
git-ignored, so a wheel holds them only if the build compiles them (setup.py). Offline: pip
installs from the wheelhouse `make wheelhouse` (part of `make test`) downloads — the lock's
wheels and the isolated build's requirements.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
RPC = REPO / "devhost" / "rpc"
USER_APP = Path(__file__).parent / "user" / "function_app.py"  # without its host.json
USER_TEST = '''
from pathlib import Path

import telemetry
import workflow


def test_a_run_and_its_telemetry_with_the_hosts_defaults(durable_app):
    # The user's own workflow.py and telemetry/ package: nothing installed shadows them.
    here = Path(__file__).parent
    assert Path(workflow.__file__).parent == here
    assert Path(telemetry.__file__).parent == here / "telemetry"
    run = durable_app.start("greeter", "grace")
    assert run.wait().output == "hello grace"
    assert run.logs(message="Executed 'Functions.greeter' (Succeeded")
    # No host.json, so the host's defaults: Durable distributed tracing is off, and the
    # activity's span is in the trace of the host's invocation of the activity, as on Azure.
    [[trace_id, name]] = durable_app.kql(
        "dependencies | where name == 'greet'"
        " | project operation_Id, tostring(customDimensions['greeting.name'])")
    assert name == "grace"
    assert durable_app.kql(
        f"traces | where operation_Id == '{trace_id}'"
        " and message startswith \\"Executed 'Functions.greet' (Succeeded\\" | count") == [[1]]
    [[who]] = durable_app.kql(
        "traces | where message == 'greeting someone' and isempty(customDimensions['Category'])"
        " | project tostring(customDimensions['who'])")
    assert who == "grace"
'''
# What the user's app needs (user_app.py's imports), as a project lists it for Azure.
USER_REQUIREMENTS = """azure-functions
azure-functions-durable
azure-monitor-opentelemetry-exporter
opentelemetry-sdk
opentelemetry-instrumentation-logging
"""


def _clean_env() -> dict[str, str]:
    """No pip configuration of this machine, nothing of this repository on the path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "PYTEST_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=60)


def _committed_tree(dest: Path) -> str:
    """HEAD's files into `dest`, as a fresh clone has them: no generated, ignored or
    uncommitted file. Returns what the build is of, for failure messages."""
    archive = _git("archive", "--format=tar", "HEAD")
    assert archive.returncode == 0, (
        f"the install test builds the committed tree, and {REPO} is not a git checkout: "
        f"{archive.stderr.decode(errors='replace')}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    head = _git("rev-parse", "--short", "HEAD").stdout.decode().strip()
    dirty = _git("status", "--porcelain", "--untracked-files=no").stdout.decode().strip()
    return f"HEAD {head}" + (" (uncommitted changes are not in it)" if dirty else "")


@pytest.mark.slow
@pytest.mark.host
def test_pip_install_then_plain_pytest_runs_a_users_test(tmp_path: Path) -> None:
    wheelhouse = Path(os.environ.get("DEVHOST_WHEELHOUSE", REPO / ".wheelhouse"))
    assert (wheelhouse / ".complete").is_file(), (
        f"no wheelhouse at {wheelhouse}: run `make wheelhouse` (make test does)")
    source = tmp_path / "source"
    built = _committed_tree(source)
    assert not list((source / "devhost" / "rpc").glob("*_pb2*.py*")), (
        "generated protocol modules or stubs are committed: the build must make them")
    env = _clean_env()
    venv = tmp_path / "venv"
    # pip itself runs from this venv into the new one (`--python`), and compiles nothing
    # ahead: the same install, without seeding a second pip or byte-compiling every module.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=env, timeout=120)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
           "--quiet", "--no-compile", "--no-index", "--find-links", str(wheelhouse),
           "-c", str(source / "requirements.lock")]
    install = subprocess.run([*pip, str(source), "pytest"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert install.returncode == 0, f"building {built}:\n{install.stderr[-3000:]}"
    (site,) = venv.glob("lib/python*/site-packages")
    (record,) = site.glob("devhost-*.dist-info/RECORD")
    top_level = {Path(line.split(",")[0]).parts[0] for line in record.read_text().splitlines()}
    assert {t for t in top_level if not t.endswith(".dist-info") and t != ".."} == {"devhost"}
    stubs = sorted(path.name for path in site.glob("devhost/rpc/*.pyi"))
    assert stubs == ["FunctionRpc_pb2.pyi", "NullableTypes_pb2.pyi"], (
        f"the wheel carries the messages' type stubs: {stubs}")
    helped = subprocess.run([str(venv / "bin" / "devhost"), "--help"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "usage: devhost" in helped.stdout, helped.stderr
    user = tmp_path / "user"
    (user / "telemetry").mkdir(parents=True)
    shutil.copy2(USER_APP, user / "function_app.py")
    (user / "workflow.py").write_text("GREETING = 'hello'\n", encoding="utf-8")
    (user / "telemetry" / "__init__.py").write_text("", encoding="utf-8")
    (user / "requirements.txt").write_text(USER_REQUIREMENTS, encoding="utf-8")
    (user / "test_greeter.py").write_text(USER_TEST, encoding="utf-8")
    requirements = subprocess.run([*pip, "-r", str(user / "requirements.txt")], env=env,
                                  capture_output=True, text=True, timeout=600)
    assert requirements.returncode == 0, requirements.stderr[-3000:]
    result = subprocess.run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider"],
                            cwd=user, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"built from {built}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    assert "1 passed" in result.stdout


def _build_requirement(name: str) -> Requirement:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = [Requirement(text) for text in pyproject["build-system"]["requires"]
                      if Requirement(text).name == name]
    return requirement


def _devhost_lower_bound(name: str) -> Version:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = [Requirement(text) for text in pyproject["project"]["dependencies"]
                      if Requirement(text).name == name]
    (bound,) = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return bound


def test_the_build_compiles_with_the_locks_grpcio_tools() -> None:
    """The wheel's generated code is what `make install` generated and the tests ran."""
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    (locked,) = re.findall(r"^grpcio-tools==(\S+)", lock, re.MULTILINE)
    pinned = str(_build_requirement("grpcio-tools").specifier)
    assert pinned == f"=={locked}", (
        f"pyproject.toml [build-system] has grpcio-tools{pinned}, requirements.lock {locked}: "
        "pin the build to the lock's version")


def test_devhost_allows_no_runtime_older_than_the_generated_code() -> None:
    """The generated modules refuse an older grpcio (`GRPC_GENERATED_VERSION`) or protobuf
    (`ValidateProtobufRuntimeVersion`) at import: a user's install without the lock must not
    be able to pick one."""
    grpc_code = (RPC / "FunctionRpc_pb2_grpc.py").read_text(encoding="utf-8")
    (grpc_needed,) = re.findall(r"^GRPC_GENERATED_VERSION = '([\d.]+)'", grpc_code, re.MULTILINE)
    proto_code = (RPC / "FunctionRpc_pb2.py").read_text(encoding="utf-8")
    (protobuf_needed,) = re.findall(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*(\d+),\s*(\d+),"
        r"\s*(\d+),", proto_code)
    assert _devhost_lower_bound("grpcio") >= Version(grpc_needed)
    assert _devhost_lower_bound("protobuf") >= Version(".".join(protobuf_needed))

"""The deployment zip itself runs: unpacked into an empty folder, with nothing else of this
repository importable, the app indexes all six functions from what the zip holds, and
devhost runs the recipe on it to completion with telemetry in local Application Insights.

`make test` builds the zip first (`make package`); this is the closest to "it deploys" we
get without Azure. The package is laid out as Azure's build lays it out: the app's files and
`.python_packages/lib/site-packages`, which the Python worker puts on sys.path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

from deploy.funcignore import local_files
from deploy.package import DEFAULT_OUTPUT, SITE_PACKAGES, STRAY, unpacked_folder
from devhost.insights.query import run_kql

from .requirements import imported_modules

REPO = Path(__file__).resolve().parents[2]
ZIP = REPO / DEFAULT_OUTPUT
FOLDER = REPO / unpacked_folder(DEFAULT_OUTPUT)
HERE = Path(__file__).resolve().parent
APP_FILES = {"function_app.py", "workflow.py", "host.json", "requirements.txt",
             *(f"telemetry/{p.name}" for p in (REPO / "telemetry").glob("*.py"))}
FUNCTIONS = {"start_sub_orchestration", "parent_workflow_orchestrator",
             "customer_sync_sub_orchestrator", "inventory_sync_sub_orchestrator",
             "sync_customer_profile", "build_inventory_snapshot"}
HUB = "PackagedHub"


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert ZIP.is_file(), f"{ZIP} is missing: run make package (make test builds it)"
    folder = tmp_path_factory.mktemp("wwwroot")
    assert not any(folder.iterdir())
    with zipfile.ZipFile(ZIP) as archive:
        archive.extractall(folder)
    return folder


def _app_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not p.relative_to(folder).as_posix().startswith(".python_packages/")}


def test_zip_holds_exactly_the_app_and_is_current(unpacked: Path) -> None:
    assert set(local_files(REPO)) == APP_FILES
    assert _app_files(unpacked) == APP_FILES
    stale = [f for f in APP_FILES if (unpacked / f).read_bytes() != (REPO / f).read_bytes()]
    assert not stale, f"{ZIP} is older than {stale}: run make package"


def test_no_bytecode_ships() -> None:
    """`.pyc` compiled by the build machine's CPython are dead weight (the worker writes its
    own), and a stale one can outlive its source: none in the zip, no `__pycache__`."""
    with zipfile.ZipFile(ZIP) as archive:
        names = archive.namelist()
    assert len(names) > 1000
    compiled = [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__/" in n]
    assert not compiled, compiled[:10]


def _record_top_levels(site: Path) -> dict[str, str]:
    """Top-level entry of site-packages → the distribution whose RECORD installed it."""
    owners: dict[str, str] = {}
    for info in site.glob("*.dist-info"):
        owners[info.name] = info.name
        for line in (info / "RECORD").read_text().splitlines():
            top = line.split(",")[0].split("/")[0]
            if top and top != ".." and not top.endswith(".dist-info"):
                owners.setdefault(top, info.name)
    return owners


def test_site_packages_hold_only_the_requirements_own_top_level_names(unpacked: Path) -> None:
    """Each top-level entry was installed by a requirement's wheel (its RECORD), none is
    bytecode pip compiled (`__pycache__`), and the wheels' strays are gone: a dependency's
    own `tests` package (azure-functions-durable ships one) and `bin` scripts pointing at
    this machine's interpreter (deploy/package.py STRAY)."""
    site = unpacked / SITE_PACKAGES
    present = {p.name for p in site.iterdir()}
    owners = _record_top_levels(site)
    unowned = present - set(owners)
    assert not unowned, sorted(unowned)
    assert not present & (STRAY | {"__pycache__", "test"}), sorted(present & STRAY)
    # The strays really were in a wheel: otherwise STRAY guards nothing.
    assert owners.get("tests", "").startswith("azure_functions_durable-"), owners.get("tests")
    assert {"azure", "opentelemetry", "azure_functions_runtime"} <= present
    # And at the root, beside the app's own files, only the dependencies' folder.
    assert {p.name for p in unpacked.iterdir()} == {
        ".python_packages", "function_app.py", "workflow.py", "host.json", "requirements.txt",
        "telemetry"}


def test_unpacked_folder_is_what_the_zip_holds() -> None:
    """azd zips `dist/function-app/` itself (azure.yaml `dist`): the same files, sizes and
    app bytes as the zip `make package` wrote, and nothing azd's own zipper would drop
    (azure-dev project_utils.go createDeployableZip: `__pycache__`, a folder holding
    `pyvenv.cfg`, `.funcignore`, `local.settings.json`)."""
    assert FOLDER.is_dir(), f"{FOLDER} is missing: run make package"
    with zipfile.ZipFile(ZIP) as archive:
        in_zip = {i.filename: i.file_size for i in archive.infolist() if not i.is_dir()}
    on_disk = {p.relative_to(FOLDER).as_posix(): p.stat().st_size
               for p in FOLDER.rglob("*") if p.is_file()}
    assert on_disk == in_zip
    assert not [p for p in FOLDER.rglob("*")
                if p.name in ("__pycache__", "pyvenv.cfg", ".funcignore", "local.settings.json")]
    for relative in APP_FILES:
        assert (FOLDER / relative).read_bytes() == (REPO / relative).read_bytes(), relative


def _pins(requirements: str) -> dict[str, str]:
    pins = {}
    for line in requirements.splitlines():
        spec = line.split(";")[0].strip()
        if spec and not spec.startswith("#"):
            name, version = spec.split("==")
            pins[name.lower().replace("_", "-").replace(".", "-")] = version
    return pins


def test_site_packages_are_requirements_txt_for_linux_x86_64_cp313(unpacked: Path) -> None:
    site = unpacked / SITE_PACKAGES
    installed = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[name.lower().replace("_", "-").replace(".", "-")] = version
    assert installed == _pins((REPO / "requirements.txt").read_text())
    extensions = [p.name for p in site.rglob("*.so")]
    assert extensions, "no compiled extension at all: the platform flags did not apply"
    foreign = [n for n in extensions
               if not (n.endswith((".cpython-313-x86_64-linux-gnu.so", ".abi3.so"))
                       or "." not in n.removesuffix(".so"))]
    assert not foreign, foreign


def _package_env(unpacked: Path, *path: Path) -> dict[str, str]:
    """Only what the folder has: no site directory (-S), so this repository's editable
    install is not on the path; the package's site-packages first, as the worker puts it.
    While devhost imports the app in its own process, its path is the app's too; once the
    app runs in a separate worker that puts `.python_packages/lib/site-packages` on sys.path
    itself, the host's path needs only devhost and its dependencies."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TELEMETRY_", "APPLICATIONINSIGHTS_", "PYTHON"))
           and k not in ("TASKHUB_NAME", "HTTP_AUTH_LEVEL")}
    env.update(PYTHONPATH=os.pathsep.join(str(p) for p in (unpacked / SITE_PACKAGES, *path)),
               FUNCTIONS_WORKER_RUNTIME="python", TASKHUB_NAME=HUB,
               OTEL_SERVICE_NAME="packaged-app", TELEMETRY_CONSOLE_LOGS="false")
    return env


@pytest.mark.host
def test_app_indexes_six_functions_from_the_package_alone(unpacked: Path) -> None:
    """The worker's indexing step with nothing but the unpacked folder: the app and every
    dependency it imports come from the zip, or the import fails."""
    assert "azure.monitor.opentelemetry.exporter" in imported_modules()
    # Also every module the app's code imports anywhere (some only on one exporter path).
    lazy = ", ".join(sorted(imported_modules()))
    probe = (f"import json, sys; import function_app; import {lazy}; "
             "print(json.dumps({'functions': [f.get_function_name() for f in "
             "function_app.app.get_functions()], 'files': [getattr(m, '__file__', None) "
             "for m in list(sys.modules.values())]}))")
    env = _package_env(unpacked, unpacked)
    env["TELEMETRY_LOCAL_DIR"] = str(unpacked.parent / "local-telemetry")
    done = subprocess.run([sys.executable, "-S", "-c", probe], cwd=unpacked, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["functions"]) == FUNCTIONS and len(result["functions"]) == 6
    stdlib = sysconfig.get_paths()["stdlib"]
    outside = [f for f in result["files"]
               if f and not f.startswith((str(unpacked), stdlib))]
    assert not outside, outside


@pytest.fixture(scope="module")
def packaged_run(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """devhost (from a folder holding only devhost, plus its own dependencies after the
    package's) runs the unpacked app; the worker's current directory is the app root."""
    tmp = Path(tmp_path_factory.mktemp("packaged-run"))
    host = tmp / "host"
    host.mkdir()
    (host / "devhost").symlink_to(REPO / "devhost")
    venv_site = Path(sysconfig.get_paths()["purelib"])
    origins = tmp / "origins.json"
    worker_origins = tmp / "worker-origins.json"
    env = _package_env(unpacked, host, venv_site)
    # The worker process (the one that imports the app) records its own origins.
    env["languageWorkers__python__arguments"] = f"{HERE / 'packaged_runner.py'} {worker_origins}"
    done = subprocess.run(
        [sys.executable, "-S", str(HERE / "packaged_runner.py"), str(origins),
         "call", "POST", "/api/start-sub-orchestration", "--body", json.dumps({"skus": ["Z-1"]}),
         "--app-dir", str(unpacked), "--data-dir", str(tmp / "data")],
        cwd=unpacked, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    decoder = json.JSONDecoder()
    text = done.stdout.strip()
    started, end = decoder.raw_decode(text)
    final, _ = decoder.raw_decode(text[end:].strip())
    return {"started": started,
            "final": final, "db": tmp / "data" / "insights.duckdb",
            "origins": json.loads(worker_origins.read_text()),
            "host_origins": json.loads(origins.read_text())}


@pytest.mark.host
def test_recipe_run_completes_on_devhost_from_the_package(packaged_run: dict[str, Any]) -> None:
    final = packaged_run["final"]
    assert final["runtimeStatus"] == "Completed"
    assert final["output"]["inventory"]["skus"] == ["Z-1"]
    # host.json's %TASKHUB_NAME%, resolved from the app setting:
    assert f"taskHub={HUB}" in packaged_run["started"]["body"]["statusQueryGetUri"]


@pytest.mark.host
def test_app_code_and_dependencies_came_from_the_package(
        packaged_run: dict[str, Any], unpacked: Path) -> None:
    """Origins are recorded in the process that imports the app: devhost's worker process.
    devhost itself (the host) never imports the app."""
    assert "function_app" not in packaged_run["host_origins"]
    origins = packaged_run["origins"]
    for module in ("function_app", "workflow", "telemetry", "telemetry.config",
                   "azure.functions", "azure.durable_functions", "azure_functions_logging",
                   "opentelemetry.sdk.trace", "azure.monitor.opentelemetry.exporter"):
        assert str(origins[module]).startswith(str(unpacked)), (module, origins.get(module))
    # Nothing of the package was shadowed: every module whose top-level name the package
    # provides was loaded from it.
    provided = {p.name.removesuffix(".py") for p in (unpacked / SITE_PACKAGES).iterdir()}
    provided |= {p.name.removesuffix(".py") for p in unpacked.iterdir()}
    shadowed = {name: path for name, path in origins.items()
                if path and name.split(".")[0] in provided
                and not str(path).startswith(str(unpacked))}
    assert not shadowed, shadowed


@pytest.mark.host
def test_telemetry_of_every_function_reached_local_insights(
        packaged_run: dict[str, Any]) -> None:
    root = packaged_run["final"]["instanceId"]
    _, rows = run_kql(packaged_run["db"], f"""union requests, dependencies
| where operation_Id == toscalar(requests
    | where customDimensions["durabletask.task.instance_id"] == "{root}"
    | project operation_Id | take 1)
| project name, cloud_RoleName""")
    names = {name for name, _ in rows}
    assert "start_sub_orchestration" in names  # the host's request row: the function's name
    for orchestrator in FUNCTIONS - {"start_sub_orchestration", "sync_customer_profile",
                                     "build_inventory_snapshot"}:
        assert f"orchestration:{orchestrator}" in names, names
    for activity in ("sync_customer_profile", "build_inventory_snapshot"):
        assert f"activity:{activity}" in names and f"run_activity:{activity}" in names, names
    assert "start_orchestration:parent_workflow_orchestrator" in names
    _, logs = run_kql(packaged_run["db"], "traces | where cloud_RoleName == 'packaged-app' "
                      "| project message")
    assert {"Synced customer profile", "Built inventory snapshot"} <= {m for (m,) in logs}

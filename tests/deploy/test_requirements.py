"""requirements.txt is what Azure's build installs, and all it installs: it must be the
lock's pins of the app's own dependencies — exactly what function_app.py, workflow.py and
telemetry/ import, with their dependencies — and nothing of devhost or the test tools."""

from __future__ import annotations

import importlib.metadata as metadata

from .requirements import (
    APP_SOURCES,
    REPO,
    closure,
    direct_dependencies,
    distribution_of,
    imported_modules,
    normalize,
    pins,
)

REQUIREMENTS = pins(REPO / "requirements.txt")
LOCK = pins(REPO / "requirements.lock")
# Declared for Azure, never imported by the app: on Python 3.13 the worker loads the
# azure-functions-runtime version requirements.txt pins.
LOADED_BY_AZURE = {"azure-functions-runtime"}


def test_every_pin_is_the_locks() -> None:
    drift = {name: (version, LOCK.get(name)) for name, version in REQUIREMENTS.items()
             if LOCK.get(name) != version}
    assert not drift, f"requirements.txt differs from requirements.lock: {drift} (make lock)"


def test_requirements_are_the_apps_dependency_closure() -> None:
    """Nothing missing (Azure would not install it) and nothing extra (it would ship)."""
    expected = closure(direct_dependencies())
    assert set(REQUIREMENTS) == expected, {
        "missing": sorted(expected - set(REQUIREMENTS)),
        "extra": sorted(set(REQUIREMENTS) - expected)}


def test_no_devhost_or_test_tools() -> None:
    app = closure(direct_dependencies())
    tools = {normalize(r.name) for extra in ("devhost", "dev")
             for r in direct_dependencies(extra)} - app
    assert {"duckdb", "pytest", "uv"} <= tools  # the check below is about something real
    assert not tools & set(REQUIREMENTS), sorted(tools & set(REQUIREMENTS))


def test_the_app_imports_nothing_of_devhost() -> None:
    """function_app.py and workflow.py, wherever the import stands: import-linter's roots are
    packages only, so its contract ([tool.importlinter]) covers telemetry/ and not these."""
    assert not sorted(m for m in imported_modules() if m.split(".")[0] == "devhost")


def test_every_import_is_a_declared_pinned_dependency() -> None:
    declared = {normalize(r.name) for r in direct_dependencies()}
    needed = {distribution_of(module) for module in imported_modules()}
    assert {"azure-functions", "azure-functions-durable", "opentelemetry-sdk"} <= needed
    assert needed <= declared, f"imported but not in pyproject: {sorted(needed - declared)}"
    assert needed <= set(REQUIREMENTS), sorted(needed - set(REQUIREMENTS))


def test_every_declared_dependency_is_used() -> None:
    declared = {normalize(r.name) for r in direct_dependencies()}
    needed = {distribution_of(module) for module in imported_modules()}
    unused = declared - needed - LOADED_BY_AZURE
    assert not unused, f"declared, never imported by {[p.name for p in APP_SOURCES]}: {unused}"


def test_worker_runtime_pinned_to_the_version_devhost_runs() -> None:
    assert REQUIREMENTS["azure-functions-runtime"] == metadata.version("azure-functions-runtime")


def test_installed_versions_are_the_pins() -> None:
    """The closure above is read from installed metadata: true only if it is the lock's."""
    off = {n: (v, metadata.version(n)) for n, v in REQUIREMENTS.items()
           if metadata.version(n) != v}
    assert not off, f"the venv is not the lock's: {off} (make install)"


def test_no_private_module_of_a_0x_package() -> None:
    """A 0.x package promises nothing about its `_private` modules (the app once imported
    azure_functions_logging._redaction)."""
    private = {}
    for module in imported_modules():
        dist = distribution_of(module)
        if any(part.startswith("_") for part in module.split(".")) and \
                metadata.version(dist).startswith("0."):
            private[module] = dist
    assert not private, private

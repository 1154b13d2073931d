"""Recipe tests import function_app, which configures telemetry at import: point its local
exporter at a temporary folder and keep any real backend out of the test process; give the
settings local.settings.json would (subprocesses inherit them).

Tests that start a process (devhost, its workers, a CLI, a browser, a pytest session of a
user's project) are marked `host`: `make test-fast` runs the others. A test that uses one of
PROCESS_FIXTURES gets the marker here; a test that starts one itself carries it. An unmarked
test that starts a process fails, naming the marker it lacks.

Under xdist (`make test`: `--dist loadgroup`), the tests sharing a module-scoped fixture stay
in one worker, and so do those sharing a session-scoped one of a conftest: each worker would
otherwise start its own copy. Tests marked `slow` start first."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# What the tests, their hosts and the exporters in them leave in the temp folder (pytest's
# tmp_path too, and the Azure Monitor exporter's Microsoft-AzureMonitor-* retry storage) goes
# into one folder of this session's, removed when the session ends: the system's temp folder
# keeps nothing. Subprocesses (and xdist's workers, which nest theirs in it) inherit TMPDIR.
SESSION_TMP = tempfile.mkdtemp(prefix="devhost-tests-")
os.environ["TMPDIR"] = SESSION_TMP
tempfile.tempdir = None  # gettempdir() reads TMPDIR again

os.environ.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
os.environ.setdefault("TELEMETRY_LOCAL_DIR", tempfile.mkdtemp(prefix="telemetry-"))
os.environ.setdefault("TELEMETRY_CONSOLE_LOGS", "false")
# host.json's hubName is %TASKHUB_NAME%; local.settings.json (git-ignored) would set it.
os.environ.setdefault("TASKHUB_NAME", "SubOrchestrationHub")

# tests/testing runs pytest sessions of small user projects (the plugin's own tests).
pytest_plugins = ["pytester"]

HOST = "host"
# Fixtures that start a process, directly or through the fixtures they use (a test's
# fixturenames hold the whole closure): the plugin's hosts, pytester sessions of user
# projects that start them, and the semantics app's worker process.
PROCESS_FIXTURES = frozenset({"durable_app", "durable_app_module", "pytester",
                              "semantics_index"})
_SHARED_SCOPES = ("module", "class", "package", "session")


@pytest.hookimpl(tryfirst=True)  # before -m deselects, and before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.host)
    if config.pluginmanager.hasplugin("xdist"):
        _group_by_shared_fixture(items)
    if hasattr(config, "workerinput"):  # an xdist worker: every worker sorts alike
        # Tests marked `slow` are handed out first (after the groups of several tests,
        # which xdist hands out first, largest first): one started last would run on alone.
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _shared_fixtures(item: pytest.Item) -> Iterator[tuple[str, str]]:
    """(scope, where it is defined) of the project's fixtures wider than a test that the
    item uses (pytest's and plugins' own, such as tmp_path_factory, are not shared state)."""
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in (info.name2fixturedefs.items() if info else ()):
        for fixturedef in defs:
            module = getattr(fixturedef.func, "__module__", "") or ""
            if fixturedef.scope in _SHARED_SCOPES and module.startswith(("tests", "devhost")):
                yield str(fixturedef.scope), fixturedef.baseid or name


def _group_by_shared_fixture(items: list[pytest.Item]) -> None:
    """The tests that use a module-scoped fixture form one xdist group per file; those that
    use a session-scoped fixture of a conftest, one group for all their files (with the
    module-scoped users of those files). The other tests go wherever a worker is free."""
    uses: dict[str, tuple[str | None, bool]] = {}
    session_of_file: dict[str, str] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        fixtures = list(_shared_fixtures(item))
        session = next((f"session:{where}" for scope, where in fixtures
                        if scope in ("package", "session")), None)
        uses[item.nodeid] = (session, bool(fixtures))
        if session:
            session_of_file.setdefault(path, session)
    for item in items:
        path = item.nodeid.split("::")[0]
        session, shared = uses[item.nodeid]
        if shared:
            item.add_marker(pytest.mark.xdist_group(session or session_of_file.get(path, path)))


class ProcessStarted(RuntimeError):
    """A test not marked `host` started a process."""


@contextmanager
def _no_process(nodeid: str) -> Iterator[None]:
    def refuse(what: str) -> Callable[..., Any]:
        def refused(*_args: Any, **_kwargs: Any) -> Any:
            raise ProcessStarted(f"{nodeid} starts a process ({what}): mark it "
                                 f"@pytest.mark.{HOST} (make test-fast runs only tests "
                                 "that start none)")
        return refused

    patched: list[tuple[Any, str, Any]] = [
        (subprocess.Popen, "_execute_child", refuse("subprocess")),
        *((os, name, refuse(f"os.{name}")) for name in
          ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system") if hasattr(os, name))]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, replacement in patched:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    if item.get_closest_marker(HOST) is not None:
        return (yield)
    with _no_process(item.nodeid):
        return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_TMP, ignore_errors=True)

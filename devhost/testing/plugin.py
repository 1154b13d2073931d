"""The pytest plugin (entry point `pytest11`): the `durable_app` fixture and, when a test
fails, the tree of each run it started in the failure output.

Options (ini): `durable_app_module` (default `function_app`), `durable_app_dir` (default the
rootdir), `durable_app_scope` (`function`, default, or `module`), `durable_app_skip_timers`
(default true). The marker `@pytest.mark.durable_app(module=…, app_dir=…, settings={…},
skip_timers=…)` overrides them for a test (or, with module scope, for a module).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from devhost.testing.app import DurableApp
from devhost.testing.process import DevhostError

MARKER = "durable_app"
_KNOWN = {"module", "app_dir", "settings", "skip_timers"}
FIXTURES = ("durable_app", "durable_app_module")
_RUNS_BEFORE = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("durable_app_module", "module of the Functions app (default: function_app)",
                  default="function_app")
    parser.addini("durable_app_dir", "folder of the Functions app, relative to the rootdir "
                  "(default: the rootdir)", default=".")
    parser.addini("durable_app_scope", "one devhost per test (function) or per module",
                  default="function")
    flag: Literal["bool"] = "bool"
    parser.addini("durable_app_skip_timers", "durable timers fire at once (default: true)",
                  type=flag, default=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(module=None, app_dir=None, settings=None, skip_timers=None): "
        "how the durable_app fixture runs the Functions app")


def _scope(fixture_name: str, config: pytest.Config) -> Literal["function", "module"]:
    scope = str(config.getini("durable_app_scope")).strip() or "function"
    if scope == "function":
        return "function"
    if scope == "module":
        return "module"
    raise pytest.UsageError(f"durable_app_scope must be 'function' or 'module', got {scope!r}")


def _marker_options(node: pytest.Item | pytest.Collector) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):  # closest wins
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only "
                                    f"({', '.join(sorted(_KNOWN))})")
        unknown = set(marker.kwargs) - _KNOWN
        if unknown:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}: unknown argument "
                                    f"{sorted(unknown)[0]!r} (known: {', '.join(sorted(_KNOWN))})")
        options.update(marker.kwargs)
    return options


def build_app(config: pytest.Config, node: pytest.Item | pytest.Collector,
              data_dir: Path) -> DurableApp:
    options = _marker_options(node)
    root = Path(config.rootpath)
    app_dir = root / (options.get("app_dir") or str(config.getini("durable_app_dir")))
    module = options.get("module") or str(config.getini("durable_app_module"))
    if not (app_dir / f"{module}.py").is_file() and not (app_dir / module).is_dir():
        raise DevhostError(f"no Functions app: {app_dir / (module + '.py')} does not exist "
                           "(set durable_app_module / durable_app_dir in the pytest ini file, "
                           f"or @pytest.mark.{MARKER}(module=…, app_dir=…))")
    skip = options.get("skip_timers")
    settings = options.get("settings") or {}
    if not isinstance(settings, dict):
        raise pytest.UsageError(f"@pytest.mark.{MARKER}(settings=…) must be a dict")
    return DurableApp(app_dir=app_dir.resolve(), data_dir=data_dir, module=module,
                      skip_timers=bool(config.getini("durable_app_skip_timers"))
                      if skip is None else bool(skip),
                      settings={str(k): str(v) for k, v in settings.items()})


@pytest.fixture(scope=_scope)
def durable_app(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableApp]:
    """The app from the rootdir's function_app.py on its own devhost, with its own `.devhost`
    data dir and local Application Insights; started on first use, stopped after."""
    yield from _serve(request, tmp_path_factory)


@pytest.fixture(scope="module")
def durable_app_module(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableApp]:
    """Like `durable_app`, shared by the tests of one module (one host, one data dir)."""
    yield from _serve(request, tmp_path_factory)


def _serve(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableApp]:
    data_dir = tmp_path_factory.mktemp("devhost", numbered=True) / ".devhost"
    app = build_app(request.config, request.node, data_dir)
    try:
        yield app
    finally:
        app.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    app = _app_of(item)
    item.stash[_RUNS_BEFORE] = len(app.runs) if app is not None else 0
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        app = _app_of(item)
        if app is not None:
            for run in app.runs[item.stash.get(_RUNS_BEFORE, 0):]:
                if run.instance_id is None:
                    continue
                try:
                    text = run.tree()
                except Exception as exc:  # the report must never hide the real failure
                    text = f"(could not read the run: {type(exc).__name__}: {exc})"
                report.sections.append((f"devhost insights run {run.instance_id}", text))
            for run in app.runs[item.stash.get(_RUNS_BEFORE, 0):]:
                if run.empty_answers:
                    report.sections.append(("devhost: what the run did capture",
                                            "\n".join(run.empty_answers)))
    return report


def _app_of(item: pytest.Item) -> DurableApp | None:
    funcargs = getattr(item, "funcargs", {})
    for name in FIXTURES:
        app = funcargs.get(name)
        if isinstance(app, DurableApp):
            return app
    return None

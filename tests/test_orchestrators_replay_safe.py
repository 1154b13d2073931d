"""Orchestrators stay silent: replaying every episode emits no log record and no span, and
their source uses nothing non-deterministic or side-effecting."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.durable.protocol import episodes, replay_all
from devhost.server import BackgroundHost
from telemetry.logs import LOGGER_NAME

from .recipe import REPO, captured, recipe_host, start_and_wait


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    with recipe_host(Path(tmp_path_factory.mktemp("replay"))) as background:
        yield background


def test_replaying_every_episode_emits_nothing(host: BackgroundHost) -> None:
    started, final = start_and_wait(host)
    root = started["id"]
    engine = host.server.engine
    instances = [engine.store.get_instance(i) for i in
                 (root, f"{root}:customer-sync", f"{root}:inventory-sync")]
    capture = _Capture()
    loggers = [logging.getLogger(), logging.getLogger(LOGGER_NAME)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    try:
        with captured() as (spans, logs):
            replayed = 0
            for inst in instances:
                assert inst is not None
                history = engine.store.history(inst.instance_id)
                fn = engine.index.orchestrators[inst.name]
                states = replay_all(fn, inst.instance_id, inst.parent_instance_id, inst.input,
                                    history)
                replayed += len(states)
                assert states[-1][1] is None and states[-1][0]["isDone"]
                assert len(states) == len(list(episodes(history))) >= 2
            assert states is not None
            app_spans = spans.get_finished_spans()
            app_logs = logs.get_finished_logs()
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(capture)
            lg.setLevel(level)
    assert replayed >= 6
    assert [r.getMessage() for r in capture.records if r.name != "py.warnings"] == []
    assert list(app_spans) == [] and list(app_logs) == []
    assert final["output"]["instanceId"] == root


FORBIDDEN_CALLS = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today", "uuid.uuid4",
    "uuid.uuid1", "uuid4", "uuid1", "time.time", "time.sleep", "time.monotonic",
    "time.perf_counter", "os.getenv", "open", "print", "input",
}
FORBIDDEN_ROOTS = {"random", "logging", "log", "logger", "requests", "aiohttp", "socket",
                   "subprocess", "os", "time", "trace", "tracer", "opentelemetry", "urllib",
                   "httpx", "secrets"}
ALLOWED_TELEMETRY = {"telemetry.Run.of"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _is_orchestrator(fn: ast.FunctionDef) -> bool:
    return any(_dotted(d).endswith("orchestration_trigger") for d in fn.decorator_list)


def violations(source: str) -> list[str]:
    """Calls inside orchestrator functions that would break replay or emit telemetry."""
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef) or not _is_orchestrator(fn):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                root = name.split(".")[0]
                allowed = any(name == a or name.startswith(a + ".") for a in ALLOWED_TELEMETRY)
                if name.startswith("telemetry.") and not allowed:
                    found.append(f"{fn.name}: {name}")
                elif name in FORBIDDEN_CALLS or root in FORBIDDEN_ROOTS:
                    found.append(f"{fn.name}: {name}")
            elif isinstance(node, ast.With | ast.AsyncWith | ast.Global | ast.Nonlocal):
                found.append(f"{fn.name}: {type(node).__name__.lower()} statement")
    return found


def test_orchestrators_in_function_app_are_clean() -> None:
    source = (REPO / "function_app.py").read_text()
    tree = ast.parse(source)
    orchestrators = [f.name for f in ast.walk(tree)
                     if isinstance(f, ast.FunctionDef) and _is_orchestrator(f)]
    assert len(orchestrators) == 3
    assert violations(source) == []


def test_the_static_check_catches_violations() -> None:
    bad = '''
@app.orchestration_trigger(context_name="context")
def bad(context):
    log.info("replayed!")
    stamp = datetime.now()
    key = uuid.uuid4()
    jitter = random.random()
    with telemetry.start_orchestration("x"):
        pass
    telemetry.flush()
    yield context.call_activity("a", time.time())
'''
    found = violations(bad)
    assert not any("call_activity" in f for f in found)
    for expected in ("log.info", "datetime.now", "uuid.uuid4", "random.random",
                     "with statement", "telemetry.start_orchestration", "telemetry.flush",
                     "time.time"):
        assert any(expected in f for f in found), expected

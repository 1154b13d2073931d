"""Orchestrators stay silent: a run whose orchestrators replayed on every episode leaves
exactly the starter's and the activities' rows in App Insights, and orchestrator source uses
nothing non-deterministic or side-effecting."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from devhost.testing import DurableApp

REPO = Path(__file__).resolve().parents[1]
# DurableTask.Core event names, as the status API shows history (DurableClient
# .GetDurableOrchestrationStatusAsync).
COMPLETIONS = ("TaskCompleted", "SubOrchestrationInstanceCompleted")


def test_replaying_every_episode_emits_nothing(durable_app: DurableApp) -> None:
    run = durable_app.http("POST", "/api/start-sub-orchestration")
    final = run.wait()
    assert final.runtime_status == "Completed"
    root = run.instance_id
    assert root is not None
    instances = [root, f"{root}:customer-sync", f"{root}:inventory-sync"]
    assert sorted(run.instances()) == sorted(instances)
    for instance in instances:
        # A completion delivered after the first episode: each orchestrator was replayed.
        events = [e["EventType"] for e in run.history(instance)]
        assert any(e in COMPLETIONS for e in events), (instance, events)
    # Durable tracing V2: each child orchestration and activity is a CLIENT row from the
    # scheduler plus a SERVER row — once each, however often the orchestrators replayed.
    assert Counter(s.name for s in run.spans()) == Counter({
        "start_sub_orchestration": 1,
        "start_orchestration:parent_workflow_orchestrator": 1,
        "create_orchestration:parent_workflow_orchestrator": 1,
        "orchestration:parent_workflow_orchestrator": 1,
        "orchestration:customer_sync_sub_orchestrator": 2,
        "orchestration:inventory_sync_sub_orchestrator": 2,
        "activity:sync_customer_profile": 2, "run_activity:sync_customer_profile": 1,
        "activity:build_inventory_snapshot": 2, "run_activity:build_inventory_snapshot": 1})
    logs = run.logs()
    # The app's rows (its exporter's; the host's rows carry a Category).
    assert Counter(r.message for r in logs if "Category" not in r.attributes) == Counter({
        "Started parent workflow orchestration": 1, "Synced customer profile": 1,
        "Built inventory snapshot": 1})
    # The host's: an Executing/Executed pair per invocation, replays included (each episode
    # is one invocation of the orchestrator function), and nothing the worker forwarded as
    # the user's (Function.<name>.User): the app's logger does not propagate to the root.
    host = [r for r in logs if "Category" in r.attributes]
    assert not [r for r in host if r.attributes["Category"].endswith(".User")]
    invocations = Counter(r.attributes["Category"] for r in host
                          if r.message.startswith("Executing 'Functions."))
    assert invocations == Counter(r.attributes["Category"] for r in host
                                  if r.message.startswith("Executed 'Functions."))
    assert invocations["Function.start_sub_orchestration"] == 1
    assert invocations["Function.sync_customer_profile"] == 1
    assert invocations["Function.build_inventory_snapshot"] == 1
    for orchestrator in ("parent_workflow_orchestrator", "customer_sync_sub_orchestrator",
                         "inventory_sync_sub_orchestrator"):
        assert invocations[f"Function.{orchestrator}"] >= 2, invocations  # replayed
    assert run.exceptions() == []
    assert final.output["instanceId"] == root


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

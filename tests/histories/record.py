"""Record histories of real runs as replay fixtures:  python -m tests.histories.record

Runs the recipe on devhost (a happy run, and a run whose inventory activity fails, using
tests/dashboards/failing_app.py), plus devhost's retrying orchestration, and stores every
instance's history with what it decided. Re-record only on purpose: the fixtures are what
in-flight instances in production would replay.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _record(module: str, app_dir: Path, orchestrator: str, payload: str | None,
            instance_id: str) -> list[dict[str, Any]]:
    from devhost.durable.engine import Engine
    from devhost.durable.store import Store
    from devhost.runtime import load_app

    index = load_app(module, app_dir, worker_processes=False)
    store = Store(Path(tempfile.mkdtemp()) / "durable.sqlite")
    engine = Engine(index, store)

    async def main() -> None:
        await engine.start()
        try:
            engine.start_new(orchestrator, instance_id, payload)
            await engine.wait(instance_id, 60)
            await engine.idle()
        finally:
            await engine.stop()

    asyncio.run(main())
    fixtures = []
    for inst in store.query_instances(prefix=instance_id):
        fixtures.append({"app": module, "orchestrator": inst.name,
                         "instanceId": inst.instance_id,
                         "parentInstanceId": inst.parent_instance_id, "input": inst.input,
                         "runtimeStatus": inst.runtime_status,
                         "output": json.loads(inst.output) if inst.output else None,
                         "history": store.history(inst.instance_id)})
    return fixtures


def main() -> int:
    os.environ.setdefault("TELEMETRY_LOCAL_DIR", tempfile.mkdtemp())
    os.environ.setdefault("TELEMETRY_CONSOLE_LOGS", "false")
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", tempfile.mkdtemp())
    for path in (REPO, REPO / "tests" / "dashboards", REPO / "tests" / "devhost" / "apps"):
        sys.path.insert(0, str(path))
    scenarios = {
        "recipe_happy": ("function_app", REPO, "parent_workflow_orchestrator",
                         json.dumps({"customer_id": "cust-1001",
                                     "customer_segment": "enterprise",
                                     "skus": ["SKU-100", "SKU-200"]}), "fixture-happy"),
        "recipe_failing_activity": ("failing_app", REPO / "tests" / "dashboards",
                                    "parent_workflow_orchestrator", None, "fixture-failing"),
        "devhost_retries": ("semantics_app", REPO / "tests" / "devhost" / "apps", "retrying",
                            json.dumps("fixture-retry"), "fixture-retry"),
    }
    for name, (module, app_dir, orchestrator, payload, iid) in scenarios.items():
        fixtures = _record(module, app_dir, orchestrator, payload, iid)
        (HERE / f"{name}.json").write_text(json.dumps(fixtures, indent=1) + "\n")
        print(f"{name}: {len(fixtures)} instances")
    return 0


if __name__ == "__main__":
    sys.exit(main())

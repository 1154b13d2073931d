"""Record histories of real runs as replay fixtures:  python -m tests.histories.record [DIR]

Runs the recipe on devhost through the plugin's public API (`devhost.testing.DurableApp`, the
app in worker processes): a happy run, and a run whose inventory activity fails, using
tests/dashboards/failing_app.py, plus devhost's retrying orchestration, and stores every
instance's raw history (`run.history(raw=True)`, what `durable_app.replay` takes) with what
it decided. Re-record only on purpose: the fixtures are what in-flight instances in production
would replay. DIR (default: this folder) is where the JSON files go.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from devhost.testing import DurableApp

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXECUTION_STARTED = 0  # DurableTask.Core EventType


def _record(module: str, app_dir: Path, orchestrator: str, payload: Any,
            instance_id: str) -> list[dict[str, Any]]:
    scratch = Path(tempfile.mkdtemp())
    # What local.settings.json gives (git-ignored, so maybe absent): host.json's hubName.
    app = DurableApp(app_dir=app_dir, data_dir=scratch / ".devhost", module=module, settings={
        "TASKHUB_NAME": "SubOrchestrationHub", "TELEMETRY_CONSOLE_LOGS": "false",
        "SEMANTICS_ATTEMPTS_DIR": str(scratch / "attempts")})
    try:
        run = app.start(orchestrator, payload, instance_id=instance_id)
        run.wait(60)
        fixtures = []
        for iid in run.instances():
            status = run.status(iid)
            history = run.history(iid, raw=True)
            started = next(e for e in history if e["EventType"] == EXECUTION_STARTED)
            parent = (started.get("ParentInstance") or {}).get("OrchestrationInstance") or {}
            fixtures.append({"app": module, "orchestrator": status.name, "instanceId": iid,
                             "parentInstanceId": parent.get("InstanceId"),
                             "input": started.get("Input"),
                             "runtimeStatus": status.runtime_status, "output": status.output,
                             "history": history})
        return fixtures
    finally:
        app.close()


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE
    out.mkdir(parents=True, exist_ok=True)
    scenarios = {
        "recipe_happy": ("function_app", REPO, "parent_workflow_orchestrator",
                         {"customer_id": "cust-1001", "customer_segment": "enterprise",
                          "skus": ["SKU-100", "SKU-200"]}, "fixture-happy"),
        "recipe_failing_activity": ("failing_app", REPO / "tests" / "dashboards",
                                    "parent_workflow_orchestrator", None, "fixture-failing"),
        "devhost_retries": ("semantics_app", REPO / "tests" / "devhost" / "apps", "retrying",
                            "fixture-retry", "fixture-retry"),
    }
    for name, (module, app_dir, orchestrator, payload, iid) in scenarios.items():
        fixtures = _record(module, app_dir, orchestrator, payload, iid)
        (out / f"{name}.json").write_text(json.dumps(fixtures, indent=1) + "\n")
        print(f"{name}: {len(fixtures)} instances")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

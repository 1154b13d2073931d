"""Every span/log attribute key and span name the app emits: one place, one meaning.

Durable Task's own tracing keys are reused where the meaning is the same, so the app's rows
and the host's Distributed Tracing V2 rows (`orchestration:X`, `activity:X`) can be filtered
with one condition. Our additions live under `app.durable.`: a namespace the Azure Monitor
exporter does not treat as standard (it drops or remaps `http.`, `db.`, `net.`, `code.`,
`exception.` …), so every key lands in `customDimensions` as is.
"""

from typing import Final

# DurableTask.Core/Tracing/Schema.cs
TYPE: Final = "durabletask.type"
TASK_NAME: Final = "durabletask.task.name"
INSTANCE_ID: Final = "durabletask.task.instance_id"

# Ours.
ROLE: Final = "app.durable.role"
ROOT_INSTANCE_ID: Final = "app.durable.root_instance_id"
PARENT_INSTANCE_ID: Final = "app.durable.parent_instance_id"
ORCHESTRATION_NAME: Final = "app.durable.orchestration.name"

TYPE_ORCHESTRATION: Final = "orchestration"
TYPE_ACTIVITY: Final = "activity"
ROLE_STARTER: Final = "starter"
ROLE_ACTIVITY: Final = "activity"

ALL_KEYS: Final = (TYPE, TASK_NAME, INSTANCE_ID, ROLE, ROOT_INSTANCE_ID, PARENT_INSTANCE_ID,
                   ORCHESTRATION_NAME)


def starter_span_name(orchestrator: str) -> str:
    return f"start_orchestration:{orchestrator}"


def activity_span_name(activity: str) -> str:
    return f"run_activity:{activity}"

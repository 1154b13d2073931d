"""Durable Task's tracing schema: the attribute keys and span-name parts DurableTask.Core
puts on its spans (DurableTask.Core/Tracing/Schema.cs, TraceActivityConstants.cs), shared by
the orchestration, activity, timer, event and entity spans devhost emits."""

# Schema.cs, Schema.Task
TYPE = "durabletask.type"
TASK_NAME = "durabletask.task.name"
VERSION = "durabletask.task.version"
INSTANCE_ID = "durabletask.task.instance_id"
EXECUTION_ID = "durabletask.task.execution_id"
STATUS = "durabletask.task.status"
TASK_ID = "durabletask.task.task_id"
OPERATION = "durabletask.task.operation"
EVENT_TARGET_INSTANCE_ID = "durabletask.event.target_instance_id"
FIRE_AT = "durabletask.fire_at"
ENTITY_ERROR_MESSAGE = "durabletask.entity.error_message"

# TraceActivityConstants.cs
ORCHESTRATION = "orchestration"
ACTIVITY = "activity"
EVENT = "event"
TIMER = "timer"
ENTITY = "entity"
CREATE_ORCHESTRATION = "create_orchestration"
ORCHESTRATION_EVENT = "orchestration_event"

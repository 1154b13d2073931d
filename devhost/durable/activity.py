"""One activity attempt, as the extension runs it for an out-of-process worker: the
TaskActivityDispatcher's SERVER span around the invocation (`activity:<name>`, under the
scheduling orchestration's CLIENT span), the input bound to the activity trigger as a JSON
string, and the result or the failure as the TaskCompleted / TaskFailed event the engine
commits to the orchestration (TaskActivityDispatcher.OnProcessWorkItemAsync)."""

from __future__ import annotations

import time

from devhost.durable.failures import activity_failure
from devhost.durable.history import Event, EventType, event
from devhost.durable.spans import task_client_context
from devhost.durable.store import Instance, WorkItem
from devhost.durable.tracing import HostTracer
from devhost.host import console, triggerdata, typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation


async def call_activity(index: AppIndex, tracer: HostTracer, inst: Instance, item: WorkItem
                        ) -> Event:
    """The result event of one attempt. A worker lost mid-call raises WorkerLost: the
    caller runs the attempt again (at least once)."""
    fn = index.activities.get(item.name)
    if fn is None:
        return event(EventType.TASK_FAILED, TaskScheduledId=item.task_id,
                     Reason=f"The function '{item.name}' doesn't exist, is disabled, "
                            "or is not an activity function.",
                     Details="Activity functions in this app: "
                             + (", ".join(sorted(index.activities)) or "none"))
    started = time.perf_counter()
    with tracer.activity(name=item.name, instance_id=inst.instance_id, task_id=item.task_id,
                         client=task_client_context(inst, item.task_id)) as host:
        # The extension binds an activity's input to the trigger as a JSON string.
        invocation = Invocation(
            fn, [typed.binding(fn.trigger.name, typed.string(item.input or "null"))],
            host.traceparent, host.tracestate, attributes=host.attributes,
            trigger_metadata=triggerdata.activity(fn.trigger.name, inst.instance_id,
                                                  item.input or "null"))
        host.invocation_id = invocation.invocation_id
        outcome = await index.workers.invoke(invocation)
        if not outcome.ok:  # the host's span records the failure, as its logger does
            host.failure = outcome.as_exception()
    if not outcome.ok:
        console.remote_invocation_failed(fn.name, outcome.invocation_id,
                                         (time.perf_counter() - started) * 1000,
                                         outcome.error, outcome.stack_trace,
                                         instance_id=inst.instance_id)
        # What the extension serializes, not a Python traceback (failures.py).
        reason, details = activity_failure(
            item.name, outcome.error, console.user_stack(outcome.stack_trace, outcome.error))
        return event(EventType.TASK_FAILED, TaskScheduledId=item.task_id, Reason=reason,
                     Details=details)
    result = typed.text(outcome.return_value)
    return event(EventType.TASK_COMPLETED, TaskScheduledId=item.task_id,
                 Result=result if result is not None else "null")

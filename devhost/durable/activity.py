"""One activity attempt, as the extension runs it for an out-of-process worker: the
TaskActivityDispatcher's SERVER span around the invocation (`activity:<name>`, under the
scheduling orchestration's CLIENT span), the input bound to the activity trigger as a JSON
string, and the result or the failure as the TaskCompleted / TaskFailed event the engine
commits to the orchestration (TaskActivityDispatcher.OnProcessWorkItemAsync), with the
extension's tracking traces around it (TaskActivityShim: started, then completed or
failed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from devhost.durable.failures import activity_failure
from devhost.durable.history import Event, EventType, event
from devhost.durable.spans import task_client_context
from devhost.durable.store import Instance, WorkItem
from devhost.durable.tracing import HostTracer
from devhost.durable.tracking import ACTIVITY, Tracking
from devhost.host import console, triggerdata, typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation
from devhost.host.logs import function_result_failed
from devhost.host.requests import invoke_as_request


async def call_activity(index: AppIndex, tracer: HostTracer, inst: Instance, item: WorkItem,
                        tracking: Tracking) -> Event:
    """The result event of one attempt. A worker lost mid-call raises WorkerLost: the
    caller runs the attempt again (at least once)."""
    fn = index.activities.get(item.name)
    if fn is None:
        return event(EventType.TASK_FAILED, TaskScheduledId=item.task_id,
                     Reason=f"The function '{item.name}' doesn't exist, is disabled, "
                            "or is not an activity function.",
                     Details="Activity functions in this app: "
                             + (", ".join(sorted(index.activities)) or "none"))
    started, began = time.perf_counter(), datetime.now(UTC)
    client = task_client_context(inst, item.task_id)
    v2 = tracer.enabled and client is not None
    with tracer.activity(name=item.name, instance_id=inst.instance_id, task_id=item.task_id,
                         client=client) as host:
        # The shim runs inside the dispatcher's activity span (V2), else under no Activity.
        current = host.traceparent if v2 else ""
        tracking.function_starting(item.name, inst.instance_id, item.input, ACTIVITY,
                                   task_event_id=item.task_id, where=current)
        # The extension binds an activity's input to the trigger as a JSON string.
        invocation = Invocation(
            fn, [typed.binding(fn.trigger.name, typed.string(item.input or "null"))],
            host.traceparent, host.tracestate, attributes=host.attributes,
            trigger_metadata=triggerdata.activity(fn.trigger.name, inst.instance_id,
                                                  item.input or "null"))
        host.invocation_id = invocation.invocation_id
        if v2:
            outcome = await index.workers.invoke(invocation)
        else:  # no DurableTask Activity: the WebJobs logger tracks a request of its own
            outcome = await invoke_as_request(index.workers, invocation)
        if not outcome.ok:  # the host's span records the failure, as its logger does
            host.failure = outcome.as_exception()
            if v2:  # (without V2 the request row's invoker logged it)
                function_result_failed(fn.name, invocation.invocation_id, outcome.error,
                                       outcome.stack_trace, host.traceparent, began,
                                       datetime.now(UTC))
    if not outcome.ok:
        tracking.activity_failed(item.name, inst.instance_id, outcome.error,
                                 outcome.stack_trace, task_event_id=item.task_id,
                                 where=current)
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
    tracking.function_completed(item.name, inst.instance_id, result, ACTIVITY,
                                task_event_id=item.task_id, where=current)
    return event(EventType.TASK_COMPLETED, TaskScheduledId=item.task_id,
                 Result=result if result is not None else "null")

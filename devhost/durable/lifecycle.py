"""Suspend, resume and rewind: the instance-lifecycle operations beside start/terminate.

Suspend and resume follow DurableTask.Core: `TaskHubClient.SuspendInstanceAsync` /
`ResumeInstanceAsync` send an `ExecutionSuspendedEvent` / `ExecutionResumedEvent` (with the
reason) to the instance; `OrchestrationRuntimeState` turns them into the `Suspended` and back
into the `Running` status, and while suspended the orchestration does not advance
(`TaskOrchestrationContext.HandleEventWhileSuspended` holds what arrives). devhost holds
those messages in the instance's inbox until the resume, so they are delivered afterwards.
Terminate still works on a suspended instance.

Rewind follows DurableTask.AzureStorage (`AzureTableTrackingStore.RewindHistoryAsync` and
`AzureStorageOrchestrationService.RewindTaskOrchestrationAsync`), the backend Durable
Functions uses: in the failed execution, each `TaskFailed` and its `TaskScheduled`, and the
failure of the execution, become `GenericEvent`s whose Reason reads `Rewound: <type>`; a
failed sub-orchestration's `SubOrchestrationInstanceCreated` is kept (marked the same way) and
the child is rewound recursively; each rewound instance goes back to `Pending`, and the
deepest ones get a `GenericEvent` message carrying the reason, which makes them run again.
The replay then finds the failed activity unscheduled, and the engine schedules it again
under its original task id, so the orchestrator picks up where it failed.
"""

from __future__ import annotations

from devhost.durable.dispatcher import Dispatcher
from devhost.durable.history import (
    DTF_NAMES,
    ORCHESTRATION_STATUS,
    Event,
    EventType,
    RuntimeStatus,
    event,
    iso,
    utcnow,
)
from devhost.durable.store import InboxMessage, Instance, Store, WorkItem
from devhost.durable.tracing import random_span_id

CONTROL = (EventType.EXECUTION_SUSPENDED, EventType.EXECUTION_RESUMED)


def send_control(dispatcher: Dispatcher, instance_id: str, suspending: bool, reason: str | None
                 ) -> None:
    """Queue a suspend or resume for a (non-terminal) instance."""
    kind = EventType.EXECUTION_SUSPENDED if suspending else EventType.EXECUTION_RESUMED
    ev = event(kind, Reason=reason)
    with dispatcher.store.transaction():
        dispatcher.store.send(instance_id, ev)
    dispatcher.notify(instance_id)


def apply_control(dispatcher: Dispatcher, inst: Instance, messages: list[InboxMessage]
                  ) -> list[InboxMessage] | None:
    """Apply pending suspend/resume messages, in the order they were sent.

    Returns the messages the orchestrator may see now, or None when it stays suspended
    (everything else then waits in the inbox, except a terminate).
    """
    control = [m for m in messages if m.event["EventType"] in CONTROL]
    rest = [m for m in messages if m.event["EventType"] not in CONTROL]
    if control:
        appended: list[Event] = []
        for message in control:
            suspending = message.event["EventType"] == EventType.EXECUTION_SUSPENDED
            if suspending and inst.runtime_status != RuntimeStatus.SUSPENDED:
                inst.runtime_status = RuntimeStatus.SUSPENDED
                appended.append(message.event)
            elif not suspending and inst.runtime_status == RuntimeStatus.SUSPENDED:
                inst.runtime_status = RuntimeStatus.RUNNING
                appended.append(message.event)
        inst.last_updated_time = iso(utcnow())
        with dispatcher.store.transaction():
            history = dispatcher.store.history(inst.instance_id)
            dispatcher.store.append_history(inst.instance_id, len(history), appended)
            dispatcher.store.delete_messages([m.id for m in control])
            dispatcher.store.put_instance(inst)
        dispatcher.histories.forget(inst.instance_id)
    if inst.runtime_status == RuntimeStatus.SUSPENDED:
        terminating = any(m.event["EventType"] == EventType.EXECUTION_TERMINATED for m in rest)
        return rest if terminating else None
    return rest


def retried_failures(store: Store, inst: Instance) -> list[str]:
    """Names of failed tasks that had been retried (the same call scheduled again): devhost
    cannot rewind those attempt by attempt, so it refuses instead of replaying a broken
    chain. Children are checked too, since they are rewound with the parent."""
    history = store.history(inst.instance_id)
    scheduled: dict[int, tuple[str, str | None]] = {
        e["EventId"]: (e.get("Name", ""), e.get("Input")) for e in history
        if e["EventType"] in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED)}
    calls = list(scheduled.values())
    found = []
    for ev in history:
        if ev["EventType"] in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
            call = scheduled.get(ev.get("TaskScheduledId", -1))
            if call is not None and calls.count(call) > 1:
                found.append(call[0])
        if ev["EventType"] == EventType.SUB_ORCHESTRATION_FAILED:
            created = next((e for e in history if e["EventType"]
                            == EventType.SUB_ORCHESTRATION_CREATED
                            and e["EventId"] == ev.get("TaskScheduledId")), None)
            child = store.get_instance(created["InstanceId"]) if created else None
            if child is not None and child.runtime_status == RuntimeStatus.FAILED:
                found += retried_failures(store, child)
    return sorted(set(found))


def rewind(dispatcher: Dispatcher, inst: Instance, reason: str | None) -> list[str]:
    """Rewind a failed instance; returns the ids of the instances that run again first."""
    work: list[WorkItem] = []
    with dispatcher.store.transaction():
        restart = _rewind_history(dispatcher, inst, reason, work)
    for item in work:
        dispatcher.dispatch_activity(item)
    for iid in restart:
        dispatcher.notify(iid)
    return restart


def _rewind_history(dispatcher: Dispatcher, inst: Instance, reason: str | None,
                    work: list[WorkItem]) -> list[str]:
    store = dispatcher.store
    history = store.history(inst.instance_id)
    by_id = {(e["EventType"], e.get("EventId")): e for e in history}
    again: list[tuple[int, str, str | None]] = []
    restart: list[str] = []
    failed_child = False
    for ev in history:
        kind = ev["EventType"]
        if kind == EventType.TASK_FAILED:
            scheduled = by_id.get((EventType.TASK_SCHEDULED, ev.get("TaskScheduledId")))
            if scheduled is not None:
                again.append((scheduled["EventId"], scheduled["Name"], scheduled.get("Input")))
                _mark_generic(scheduled)
            _mark_generic(ev)
        elif kind == EventType.SUB_ORCHESTRATION_FAILED:
            created = by_id.get((EventType.SUB_ORCHESTRATION_CREATED, ev.get("TaskScheduledId")))
            _mark_generic(ev)
            if created is not None:
                created["Reason"] = "Rewound: SubOrchestrationInstanceCreated"
                child = store.get_instance(created["InstanceId"])
                if child is not None and child.runtime_status == RuntimeStatus.FAILED:
                    failed_child = True
                    restart += _rewind_history(dispatcher, child, reason, work)
        elif kind == EventType.EXECUTION_FAILED or (
                kind == EventType.EXECUTION_COMPLETED
                and ev.get("OrchestrationStatus") == ORCHESTRATION_STATUS[RuntimeStatus.FAILED]):
            # DurableTask.Core records a failed execution as ExecutionCompleted (Failed).
            _mark_generic(ev)
    store.clear_history(inst.instance_id)
    store.append_history(inst.instance_id, 0, history)
    dispatcher.histories.forget(inst.instance_id)
    store.append_history(inst.instance_id, len(history), [
        event(EventType.TASK_SCHEDULED, task_id, Name=name, Input=input_json)
        for task_id, name, input_json in again])
    work += [store.add_work_item(inst.instance_id, inst.execution_id, task_id, name, input_json)
             for task_id, name, input_json in again]
    inst.runtime_status = RuntimeStatus.PENDING
    inst.output = None
    inst.last_updated_time = iso(utcnow())
    # The failed run's orchestration span was exported when it failed; the rewound run
    # gets a span of its own (same trace, same parent) instead of reusing that id.
    if inst.span_id:
        inst.span_id = random_span_id()
    store.put_instance(inst)
    if not failed_child:
        store.send(inst.instance_id, event(EventType.GENERIC_EVENT, Data=reason))
        restart.append(inst.instance_id)
    return restart


def _mark_generic(ev: Event) -> None:
    ev["Reason"] = f"Rewound: {DTF_NAMES[ev['EventType']]}"
    ev["EventType"] = int(EventType.GENERIC_EVENT)



"""One orchestrator episode: replay, decide, commit (DurableTask.Core TaskOrchestrationDispatcher
.OnProcessWorkItemAsync, completed through CompleteTaskOrchestrationWorkItemAsync).

An episode replays the stored history through the app's real orchestrator function (the SDK's
own replay), reads the actions it returns, and commits — in ONE SQLite transaction — the new
history events, the activity work items, the child instances and the messages to other
instances. Then it hands the dispatcher what the commit made runnable.

Task ids: the SDK numbers every task it schedules (activities, sub-orchestrations, timers,
fire-and-forget actions) in the order it creates them, and retries add a timer and a
rescheduled task. The episode hands out the same numbers by walking new actions in order, and
the dispatcher delivers each retry-related event in an episode of its own (`next_batch`) so
the ids the SDK takes while processing it come before any new action's.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import entities
from devhost.durable.actions import ENTITY_ACTIONS, UNSUPPORTED, ActionType, sequenced_actions
from devhost.durable.dispatcher import Dispatcher
from devhost.durable.history import (
    FAILURES,
    ORCHESTRATION_STATUS,
    Event,
    EventType,
    RuntimeStatus,
    event,
    execution_completed,
    execution_started,
    iso,
    json_or_none,
    utcnow,
)
from devhost.durable.protocol import call_orchestrator, trigger_payload
from devhost.durable.schema import ORCHESTRATION
from devhost.durable.spans import emit_result_spans, task_client_context
from devhost.durable.store import InboxMessage, Instance, Store
from devhost.durable.tracing import current_activity_tags, orchestration_context
from devhost.durable.tracking import ACTIVITY, ORCHESTRATOR, Where, dotnet_roundtrip
from devhost.durable.versioning import FAIL, MISMATCH_MESSAGE, MISMATCH_TYPE, started_version
from devhost.host import console
from devhost.host.channel import Invocation
from devhost.host.hostlog import Scope

log = logging.getLogger("devhost.durable")


def starts(message: InboxMessage) -> bool:
    """An ExecutionStarted: a (re)start, which must precede whatever else is waiting."""
    return bool(message.event["EventType"] == EventType.EXECUTION_STARTED)


def retry_key(inst: Instance, ev: Event) -> str | None:
    """The retry this event drives forward (a failed attempt or its backoff timer)."""
    kind = ev["EventType"]
    for key, retry in inst.retries.items():
        if kind in FAILURES and ev.get("TaskScheduledId") == retry["current_id"]:
            return key
        if kind == EventType.TIMER_FIRED and ev.get("TimerId") == retry.get("timer_id"):
            return key
    return None


def next_batch(inst: Instance, messages: list[InboxMessage]) -> list[InboxMessage]:
    """What the next episode delivers: an event that drives a retry alone, else everything up
    to the next such event (see the task ids above)."""
    if retry_key(inst, messages[0].event):
        return messages[:1]
    batch = []
    for message in messages:
        if retry_key(inst, message.event):
            break
        batch.append(message)
    return batch


class Episode:
    """One replay of an instance's orchestrator plus the commit of what it decided."""

    def __init__(self, dispatcher: Dispatcher, inst: Instance, batch: list[InboxMessage]
                 ) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self.inst = inst
        self.batch = batch
        self.now = utcnow()
        self.appended: list[Event] = []
        self.work: list[tuple[int, str, str | None, int]] = []
        self.children: list[tuple[str, str, str | None, int, str]] = []
        self.version = ""  # this execution's (ExecutionStartedEvent.Version)
        self.messages: list[tuple[str, Event, float]] = []
        self.next_id = inst.next_event_id
        self.scope: Scope | None = None  # the orchestrator invocation's, once it began
        self.replaying = False
        if inst.trace_start is None:
            inst.trace_start = iso(self.now)  # the orchestration span starts at episode one

    async def run(self) -> None:
        inst = self.inst
        cached = self.dispatcher.histories.get(inst.instance_id)
        history = list(cached) if cached is not None else self.store.history(inst.instance_id)
        if any(starts(m) for m in self.batch):
            history = []  # a (re)start begins a fresh execution
        self.version = started_version(history + [m.event for m in self.batch])
        new_events = [event(EventType.ORCHESTRATOR_STARTED,
                            timestamp=self.dispatcher.clock.now())]
        new_events += [m.event for m in self.batch]
        self.replaying = bool(history)
        state, error = await self._replay(history, new_events)
        if state is not None and error is None:
            self._advance_retry(self.batch[0].event)
            self._apply_actions(state)
            if state.get("customStatus") is not None:
                inst.custom_status = json.dumps(state["customStatus"])
        self._commit(history, new_events, state, error)
        self._track_outcome(state, error)

    def _current(self) -> Where:
        """Where the extension logs while it runs the orchestrator: the function's scope
        (its InvocationId, operation_Name, and the Activity it runs under: the V2
        orchestration span, or the WebJobs request row with V2 off)."""
        return self.scope if self.scope is not None else ""

    def _track_outcome(self, state: dict[str, Any] | None, error: str | None) -> None:
        """TaskOrchestrationShim (completed / failed) or DurableTaskExtension (awaited)."""
        inst, tracking, current = self.inst, self.dispatcher.tracking, self._current()
        continue_as_new = _continue_as_new(state) if error is None else None
        if error is not None:
            tracking.function_failed(inst.name, inst.instance_id, error, ORCHESTRATOR,
                                     where=current)
        elif continue_as_new is not None:
            tracking.function_completed(inst.name, inst.instance_id, continue_as_new,
                                        ORCHESTRATOR, continued_as_new=True,
                                        where=current)
        elif state is not None and state.get("isDone"):
            tracking.function_completed(inst.name, inst.instance_id,
                                        json.dumps(state.get("output")), ORCHESTRATOR,
                                        where=current)
        else:
            tracking.function_awaited(inst.name, inst.instance_id, where=current)

    async def _replay(self, history: list[Event], new_events: list[Event]
                      ) -> tuple[dict[str, Any] | None, str | None]:
        inst = self.inst
        fn = self.dispatcher.index.orchestrators.get(inst.name)
        if fn is None:
            return None, f"orchestrator function {inst.name!r} does not exist"
        parent = orchestration_context(inst)
        return await call_orchestrator(self.dispatcher.index.workers, fn, trigger_payload(
            inst.instance_id, inst.parent_instance_id, inst.input, history, new_events),
            parent.header if parent else "", (parent.state or "") if parent else "",
            current_activity_tags(ORCHESTRATION, inst.name, inst.instance_id)
            if parent else None,
            as_request=not self.dispatcher.tracer.enabled, on_invoke=self._invoked)

    def _invoked(self, invocation: Invocation) -> None:
        """The function's scope began (TaskOrchestrationShim runs inside it): `started`, a
        replay when the episode replays history (so by default only the first episode's is
        written), and every tracking row of the episode in that scope."""
        self.scope = Scope.of(invocation.invocation_id, invocation.fn.name,
                              invocation.traceparent)
        self.dispatcher.tracking.function_starting(
            self.inst.name, self.inst.instance_id, self.inst.input, ORCHESTRATOR,
            is_replay=self.replaying, where=self.scope)

    def _alloc(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _advance_retry(self, delivered: Event) -> None:
        key = retry_key(self.inst, delivered)
        if key is None:
            return
        retry = self.inst.retries[key]
        if delivered["EventType"] in FAILURES:
            timer_id = self._alloc()
            # DurableTask.Core RetryInterceptor.Invoke: after the last attempt only the
            # "Dummy timer for back-compat", which fires at once; the failure is not delayed.
            last = retry["attempts"] >= retry["max_attempts"]
            fire_at = self.now + timedelta(milliseconds=0 if last else retry["first_interval_ms"])
            self.appended.append(event(EventType.TIMER_CREATED, timer_id, FireAt=iso(fire_at)))
            self.messages.append((self.inst.instance_id, event(
                EventType.TIMER_FIRED, TimerId=timer_id, FireAt=iso(fire_at)),
                self.dispatcher.clock.timer_due(fire_at)))
            retry["timer_id"] = timer_id
        elif retry["attempts"] < retry["max_attempts"]:
            retry["attempts"] += 1
            retry["current_id"] = self._alloc()
            retry["timer_id"] = None
            self._schedule(retry["kind"], retry["current_id"], retry["name"], retry["input"],
                           retry.get("instance_id"), retry["attempts"], retry.get("version"))
        else:
            del self.inst.retries[key]

    def _schedule(self, kind: str, task_id: int, name: str, input_json: str | None,
                  instance_id: str | None, attempt: int = 1, version: str | None = None) -> None:
        if kind == "activity":
            self.appended.append(event(EventType.TASK_SCHEDULED, task_id, Name=name,
                                       Input=input_json))
            self.work.append((task_id, name, input_json, attempt))
        else:
            # No id from the SDK: DurableTask.Core's CreateSubOrchestrationInstanceCore names
            # the child "<ExecutionId>:<task id>" (the extension passes null on), per attempt:
            # RetryInterceptor.Invoke asks again with a null id, so a retried child is a new
            # instance named after its own attempt's task id.
            child_id = instance_id or f"{self.inst.execution_id}:{task_id}"
            # SubOrchestrationInstanceCreatedEvent.Version: the action's `version` (SDK 1.7's
            # call_sub_orchestrator(version=)), else defaultVersion as configured now.
            child_version = self.dispatcher.options.versioning.version_for_new(version)
            self.appended.append(event(EventType.SUB_ORCHESTRATION_CREATED, task_id, Name=name,
                                       InstanceId=child_id, Input=input_json,
                                       Version=child_version))
            self.children.append((child_id, name, input_json, task_id, child_version))

    def _apply_actions(self, state: dict[str, Any]) -> None:
        actions = sequenced_actions(state.get("actions") or [])
        inst = self.inst
        for action in actions[inst.actions_seen:]:
            task_id = self._alloc()
            kind = action.type
            if kind in UNSUPPORTED:
                raise_unsupported = UNSUPPORTED[kind]
                self.messages.append((inst.instance_id, event(
                    EventType.TASK_FAILED, TaskScheduledId=task_id,
                    Reason=f"devhost does not support {raise_unsupported}",
                    Details="It runs on the Durable extension on Azure; see the README's "
                            "list of what devhost does differently."), 0.0))
            elif kind in ENTITY_ACTIONS:
                sent, message = entities.schedule_from_orchestration(
                    inst, action.raw, task_id, signal=kind is ActionType.SIGNAL_ENTITY,
                    known=self.dispatcher.index.entities)
                self.appended.append(sent)
                if message is not None:
                    self.messages.append(message)
            elif kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY,
                          ActionType.CALL_SUB_ORCHESTRATOR,
                          ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
                is_activity = kind in (ActionType.CALL_ACTIVITY,
                                       ActionType.CALL_ACTIVITY_WITH_RETRY)
                child_id = None if is_activity else action.raw.get("instanceId")
                version = None if is_activity else action.raw.get("version")
                # DurableOrchestrationContext.CallDurableTaskFunctionAsync: `scheduled`, the
                # orchestrator's name as the reason.
                self.dispatcher.tracking.function_scheduled(
                    action.function_name, inst.instance_id, inst.name,
                    ACTIVITY if is_activity else ORCHESTRATOR, target_instance_id=child_id,
                    where=self._current())
                self._schedule("activity" if is_activity else "orchestration", task_id,
                               action.function_name, action.input, child_id, version=version)
                if action.retry:
                    inst.retries[str(task_id)] = {
                        "kind": "activity" if is_activity else "orchestration",
                        "name": action.function_name, "input": action.input,
                        "instance_id": child_id, "version": version,
                        "current_id": task_id, "attempts": 1,
                        "timer_id": None,
                        "max_attempts": int(action.retry.get("maxNumberOfAttempts", 1)),
                        "first_interval_ms": int(
                            action.retry.get("firstRetryIntervalInMilliseconds", 0)),
                    }
            elif kind is ActionType.CREATE_TIMER:
                fire_at = datetime.fromisoformat(action.raw["fireAt"])
                self.dispatcher.tracking.function_listening(
                    inst.name, inst.instance_id, f"CreateTimer:{dotnet_roundtrip(fire_at)}",
                    where=self._current())
                self.appended.append(event(EventType.TIMER_CREATED, task_id,
                                           FireAt=iso(fire_at)))
                self.messages.append((inst.instance_id, event(
                    EventType.TIMER_FIRED, TimerId=task_id, FireAt=iso(fire_at)),
                    self.dispatcher.clock.timer_due(fire_at)))
        inst.actions_seen = len(actions)
        for key in [k for k, r in inst.retries.items() if self._completes(r["current_id"])]:
            del inst.retries[key]

    def _completes(self, task_id: int) -> bool:
        done = (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_COMPLETED)
        return any(m.event["EventType"] in done and m.event.get("TaskScheduledId") == task_id
                   for m in self.batch)

    def _commit(self, history: list[Event], new_events: list[Event],
                state: dict[str, Any] | None, error: str | None) -> None:
        inst = self.inst
        dispatcher = self.dispatcher
        continue_as_new = _continue_as_new(state) if error is None else None
        done = error is None and state is not None and bool(state.get("isDone"))
        self.appended.append(event(EventType.ORCHESTRATOR_COMPLETED))
        if error is not None:
            inst.runtime_status = RuntimeStatus.FAILED
            inst.output = json.dumps(f"Orchestrator function '{inst.name}' failed: {error}")
            self.appended.append(execution_completed(RuntimeStatus.FAILED, inst.output,
                                                     failure=json.loads(inst.output)))
        elif continue_as_new is not None:
            inst.runtime_status = RuntimeStatus.RUNNING
        elif done:
            inst.runtime_status = RuntimeStatus.COMPLETED
            output = (state or {}).get("output")
            inst.output = json.dumps(output)
            self.appended.append(execution_completed(RuntimeStatus.COMPLETED, inst.output))
        else:
            inst.runtime_status = RuntimeStatus.RUNNING
        inst.last_updated_time = iso(self.now)
        with self.store.transaction():
            current = self.store.get_instance(inst.instance_id)
            if current is None or current.execution_id != inst.execution_id:
                # Purged (or replaced) while the orchestrator ran: on Azure Storage the
                # checkpoint's etag no longer matches and the work item is dropped.
                self.store.delete_messages([m.id for m in self.batch])
                dispatcher.histories.forget(inst.instance_id)
                return
            if not history:
                self.store.clear_history(inst.instance_id)
            self.store.append_history(inst.instance_id, len(history),
                                      new_events + self.appended)
            self.store.delete_messages([m.id for m in self.batch])
            if continue_as_new is not None:
                self._restart_as_new(continue_as_new)
            else:
                inst.next_event_id = self.next_id
            self.store.put_instance(inst)
            items = [self.store.add_work_item(inst.instance_id, inst.execution_id, task_id,
                                              name, input_json, attempt)
                     for task_id, name, input_json, attempt in self.work]
            for child_id, name, input_json, task_id, version in self.children:
                self._start_child(child_id, name, input_json, task_id, version)
            for target, ev, visible_at in self.messages:
                self.store.send(target, ev, visible_at)
            if inst.runtime_status == RuntimeStatus.FAILED:
                reason, details = console.split_failure(error or "")
                tell_parent(self.store, inst, failed=True, reason=reason,
                            details=details or f"Instance '{inst.instance_id}' failed; "
                            "its history has the details.")
            elif inst.runtime_status == RuntimeStatus.COMPLETED:
                tell_parent(self.store, inst, failed=False, result=inst.output)
        if continue_as_new is None:
            # A finished instance's too: finished() reads its version there, then forgets it.
            dispatcher.histories.put(inst.instance_id, history + new_events + self.appended)
        else:
            dispatcher.histories.forget(inst.instance_id)
        for item in items:
            dispatcher.dispatch_activity(item)
        for child_id, *_ in self.children:
            dispatcher.notify(child_id)
        for target, _, visible_at in self.messages:
            dispatcher.notify(target, visible_at)
        if continue_as_new is not None:
            dispatcher.notify(inst.instance_id)
        # The results this batch delivered, against the history their tasks were scheduled in.
        emit_result_spans(dispatcher.tracer, inst, history, new_events[1:], self.now)
        if inst.is_terminal:
            dispatcher.finished(inst, error)

    def _restart_as_new(self, input_json: str | None) -> None:
        inst = self.inst
        inst.input = input_json
        inst.execution_id = uuid.uuid4().hex
        inst.actions_seen = 0
        inst.next_event_id = 0
        inst.retries = {}
        self.work.clear()
        self.children.clear()
        self.messages = [m for m in self.messages if m[0] != inst.instance_id]
        # Only raised events survive into the new execution; results of the old one don't.
        self.store.drop_stale_messages(inst.instance_id, keep=int(EventType.EVENT_RAISED))
        # ContinueAsNew keeps the version (NewVersion ?? runtimeState.Version): the SDK sets none.
        self.store.send(inst.instance_id, execution_started(
            inst.name, inst.instance_id, inst.execution_id, input_json, version=self.version))

    def _start_child(self, child_id: str, name: str, input_json: str | None,
                     task_id: int, version: str) -> None:
        existing = self.store.get_instance(child_id)
        if name not in self.dispatcher.index.orchestrators:
            reason = f"orchestrator function {name!r} does not exist"
            details = "Orchestrator functions in this app: " + (
                ", ".join(sorted(self.dispatcher.index.orchestrators)) or "none")
        elif existing is not None and not existing.is_terminal:
            reason = f"an instance with id {child_id!r} is already {existing.runtime_status}"
            details = "Give the sub-orchestration another instance id, or wait until it ends."
        else:
            self.dispatcher.create_instance(child_id, name, input_json,
                                           task_client_context(self.inst, task_id),
                                           parent=self.inst, parent_task_id=task_id,
                                           replaces=existing is not None, version=version)
            return
        self.messages.append((self.inst.instance_id, event(
            EventType.SUB_ORCHESTRATION_FAILED, TaskScheduledId=task_id, Reason=reason,
            Details=details), 0.0))


def _continue_as_new(state: dict[str, Any] | None) -> str | None:
    if not state:
        return None
    for action in sequenced_actions(state.get("actions") or []):
        if action.type is ActionType.CONTINUE_AS_NEW:
            return str(action.raw.get("input")) if action.raw.get("input") is not None else None
    return None


def commit_termination(dispatcher: Dispatcher, inst: Instance, messages: list[InboxMessage],
                       terminate: InboxMessage) -> None:
    """An ExecutionTerminated among the messages: the instance ends Terminated without its
    orchestrator running (DurableTask.Core applies the event to the runtime state and
    completes the work item), and a parent learns it as a failed sub-orchestration."""
    store = dispatcher.store
    reason = terminate.event.get("Input")
    with store.transaction():
        history = store.history(inst.instance_id)
        store.append_history(inst.instance_id, len(history), [
            event(EventType.EXECUTION_TERMINATED, Input=reason)])
        store.delete_messages([m.id for m in messages])
        inst.runtime_status = RuntimeStatus.TERMINATED
        inst.output = reason
        inst.last_updated_time = iso(utcnow())
        store.put_instance(inst)
        tell_parent(store, inst, failed=True,
                    reason=f"Orchestration {inst.instance_id!r} was terminated",
                    details=f"Terminated with reason: {json_or_none(reason)}"
                    if reason is not None else "Terminated without a reason.")
    dispatcher.finished(inst, error=f"terminated: {json_or_none(reason)}")


def admits_version(dispatcher: Dispatcher, inst: Instance, messages: list[InboxMessage]
                   ) -> bool:
    """TaskOrchestrationDispatcher's versioning check before an episode (versioning.py):
    `Fail` ends the instance Failed; `Reject` leaves it and its messages as they are, as an
    abandoned work item is (tried again when a message arrives or devhost restarts)."""
    versioning = dispatcher.options.versioning
    starting = [m.event for m in messages if starts(m)]
    version = started_version(starting or dispatcher.histories.get(inst.instance_id)
                              or dispatcher.store.history(inst.instance_id))
    if versioning.complies(version):
        return True
    if versioning.failure_strategy == FAIL:
        _commit_version_mismatch(dispatcher, inst, messages)
    else:
        log.warning("orchestration %s (%s) has version %r, which versionMatchStrategy %s does "
                    "not accept with defaultVersion %r: rejected, it waits", inst.name,
                    inst.instance_id, version, versioning.match_strategy,
                    versioning.default_version)
    return False


def _commit_version_mismatch(dispatcher: Dispatcher, inst: Instance,
                             messages: list[InboxMessage]) -> None:
    """The `Fail` strategy: the messages join the history and the execution ends Failed with
    FailureDetails("VersionMismatch", ...), no orchestrator run; the Instances row's Output is
    FailureDetails.ToString() (AzureTableTrackingStore.UpdateStateAsync)."""
    store = dispatcher.store
    failure = f"{MISMATCH_TYPE}: {MISMATCH_MESSAGE}"
    with store.transaction():
        history = [] if any(starts(m) for m in messages) else store.history(inst.instance_id)
        if not history:
            store.clear_history(inst.instance_id)
        completed = event(EventType.EXECUTION_COMPLETED, Result=None,
                          OrchestrationStatus=ORCHESTRATION_STATUS[RuntimeStatus.FAILED],
                          FailureDetails={"ErrorType": MISMATCH_TYPE,
                                          "ErrorMessage": MISMATCH_MESSAGE,
                                          "IsNonRetriable": True})
        store.append_history(inst.instance_id, len(history), [
            event(EventType.ORCHESTRATOR_STARTED), *(m.event for m in messages),
            completed, event(EventType.ORCHESTRATOR_COMPLETED)])
        store.delete_messages([m.id for m in messages])
        inst.runtime_status = RuntimeStatus.FAILED
        inst.output = json.dumps(failure)
        inst.last_updated_time = iso(utcnow())
        store.put_instance(inst)
        tell_parent(store, inst, failed=True, reason=failure, details=None)
    dispatcher.histories.forget(inst.instance_id)
    dispatcher.finished(inst, error=failure)


def tell_parent(store: Store, inst: Instance, *, failed: bool, result: str | None = None,
                reason: str | None = None, details: str | None = None) -> None:
    """Within the ending commit: a sub-orchestration's end, as a message to its parent."""
    if not inst.parent_instance_id:
        return
    if failed:
        ev = event(EventType.SUB_ORCHESTRATION_FAILED, TaskScheduledId=inst.parent_task_id,
                   Reason=reason, Details=details)
    else:
        ev = event(EventType.SUB_ORCHESTRATION_COMPLETED,
                   TaskScheduledId=inst.parent_task_id, Result=result)
    store.send(inst.parent_instance_id, ev)

"""The durable engine: what the Durable extension and DurableTask.Core do for an app.

Each orchestrator *episode* replays the stored history through the app's real orchestrator
function (the SDK's own replay), reads the actions it returns, and commits — in ONE SQLite
transaction — the new history events, the activity work items, the child instances and the
messages to other instances. Activities run at least once on a bounded pool; episodes of one
instance never overlap; many instances run concurrently.

Task ids: the SDK numbers every task it schedules (activities, sub-orchestrations, timers,
fire-and-forget actions) in the order it creates them, and retries add a timer and a
rescheduled task. The engine hands out the same numbers by walking new actions in order, and
by delivering each retry-related event in an episode of its own so the ids the SDK takes
while processing it come before any new action's.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devhost.durable import entities, lifecycle
from devhost.durable.actions import ENTITY_ACTIONS, UNSUPPORTED, ActionType, sequenced_actions
from devhost.durable.history import (
    Event,
    EventType,
    RuntimeStatus,
    event,
    execution_completed,
    execution_started,
    iso,
    public_history,
    utcnow,
)
from devhost.durable.protocol import call_orchestrator, trigger_payload
from devhost.durable.store import TERMINAL, InboxMessage, Instance, Store, WorkItem
from devhost.durable.timeskip import DurableClock
from devhost.durable.tracing import (
    HostTracer,
    TraceParent,
    client_span_id,
    orchestration_context,
    random_span_id,
    random_trace_id,
)
from devhost.host import console, typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation, WorkerLost
from devhost.host.telemetry import host_connection_string

log = logging.getLogger("devhost.durable")

_MIN_LINGER = 0.002  # seconds: below this, batching is not worth the added latency
_MAX_LINGER = 0.25
_WORKER_RETRY = 0.2  # seconds before work a dead worker held is delivered again
_FAILED_TO_PARENT = (EventType.SUB_ORCHESTRATION_FAILED, EventType.TASK_FAILED)
# Statuses a new start with the same id is refused in (the dedupe statuses of the default
# OverridableExistingInstanceStates: see httpapi/management.py's _already_exists).
_DEDUPE = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED)


class DurableError(Exception):
    status = 400


class NotFound(DurableError):
    status = 404


class Conflict(DurableError):
    status = 409


class Gone(DurableError):
    status = 410


@dataclass(frozen=True)
class EngineOptions:
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    # AzureStorageDurabilityProviderFactory: 5000 outside the Consumption plan.
    max_entity_operation_batch_size: int = 5000
    task_hub: str = "DevHostHub"
    # Tests only (devhost.testing): durable timers fire at once, orchestration time jumps.
    skip_timers: bool = False
    # host.json extensions.durableTask.tracing: distributedTracingEnabled + version "V2".
    tracing_v2: bool = False


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Engine:
    def __init__(self, index: AppIndex, store: Store, options: EngineOptions | None = None,
                 tracer: HostTracer | None = None) -> None:
        self.index = index
        self.store = store
        self.options = options or EngineOptions()
        self.tracer = tracer or HostTracer(enabled=v2_tracing_active(self.options))
        self.clock = DurableClock(self.options.skip_timers)
        entities.ensure_schema(store)
        self._running: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: list[tuple[float, str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._orch_slots: asyncio.Semaphore | None = None
        self._activity_slots: asyncio.Semaphore | None = None
        self._timer_wake: asyncio.Event | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self._replay_cost: dict[str, float] = {}
        # History of running instances as last committed: saves reading and decoding it on
        # every episode. Filled from the store, so a restart simply starts empty.
        self._history: dict[str, list[Event]] = {}
        self.episodes = 0
        # Set by drain(): nothing new starts; what runs finishes and commits.
        self._stopping = False
        self._inflight: dict[int, WorkItem] = {}

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Resume everything the store holds: pending messages, timers and activities."""
        self._orch_slots = asyncio.Semaphore(self.options.max_concurrent_orchestrations)
        self._activity_slots = asyncio.Semaphore(self.options.max_concurrent_activities)
        self._timer_wake = asyncio.Event()
        self._timer_task = asyncio.create_task(self._timer_loop())
        for instance_id, visible_at in self.store.pending_deliveries():
            self._notify(instance_id, visible_at)
        for item in self.store.work_items():
            self._spawn(self._run_activity(item))

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        """Stop taking new work and let running activities finish and commit, for at most
        `timeout` seconds. True when nothing was cut off. See devhost/durable/shutdown.py."""
        from devhost.durable.shutdown import drain

        return await drain(self, timeout, report)

    @property
    def running_activities(self) -> list[WorkItem]:
        return list(self._inflight.values())

    async def stop(self) -> None:
        self._stopping = True
        if self._timer_task:
            self._timer_task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until nothing is running or due (timers in the future excluded)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- client operations (the management API calls these) ------------------------------
    def start_new(self, name: str, instance_id: str | None = None, input_json: str | None = None,
                  traceparent: str | None = None, tracestate: str | None = None) -> str:
        if name not in self.index.orchestrators:
            known = ", ".join(sorted(self.index.orchestrators)) or "none"
            raise NotFound(f"orchestrator function {name!r} does not exist; orchestrator "
                           f"functions in this app: {known}")
        instance_id = instance_id or uuid.uuid4().hex
        if input_json is not None:
            json.loads(input_json)  # reject malformed input before anything is written
        started = utcnow()
        caller = TraceParent.parse(traceparent, tracestate)
        # A root Activity recorded with AllData (DurableTelemetryModule) keeps the flags of
        # its parent (Activity.Create), none without one: the tree carries the caller's flag.
        producer = TraceParent(caller.trace_id if caller else random_trace_id(),
                               random_span_id(), caller.sampled if caller else False,
                               caller.state if caller else None)
        with self.store.transaction():
            existing = self.store.get_instance(instance_id)
            if existing and existing.runtime_status in _DEDUPE:
                raise Conflict(f"an instance with id {instance_id!r} is already "
                               f"{existing.runtime_status.lower()}")
            execution_id = self._create_instance(instance_id, name, input_json, producer,
                                                 replaces=existing is not None)
        self.tracer.create_orchestration(name=name, instance_id=instance_id,
                                         execution_id=execution_id, caller=caller,
                                         producer=producer, start=started, end=utcnow())
        self._notify(instance_id)
        return instance_id

    def _create_instance(self, instance_id: str, name: str, input_json: str | None,
                         trace_parent: TraceParent, parent: Instance | None = None,
                         parent_task_id: int | None = None, replaces: bool = True) -> str:
        """Write a new instance whose orchestration span will hang under `trace_parent`
        (the PRODUCER span of a client start, or the parent's CLIENT span)."""
        trace_id, span_id = trace_parent.trace_id, random_span_id()
        parent_span_id, state, sampled = (trace_parent.span_id, trace_parent.state,
                                          trace_parent.sampled)
        now = iso(utcnow())
        execution_id = uuid.uuid4().hex
        if replaces:
            self.store.delete_instance(instance_id)
            self._history.pop(instance_id, None)
        self.store.put_instance(Instance(
            instance_id=instance_id, name=name, execution_id=execution_id,
            runtime_status=RuntimeStatus.PENDING, input=input_json, output=None, custom_status=None,
            created_time=now, last_updated_time=now,
            parent_instance_id=parent.instance_id if parent else None,
            parent_task_id=parent_task_id, trace_id=trace_id, span_id=span_id,
            parent_span_id=parent_span_id, trace_state=state, sampled=sampled))
        parent_ref = ({"Name": parent.name, "OrchestrationInstance": {
            "InstanceId": parent.instance_id, "ExecutionId": parent.execution_id},
            "TaskScheduleId": parent_task_id} if parent else None)
        self.store.send(instance_id, execution_started(name, instance_id, execution_id,
                                                       input_json, parent_ref))
        return execution_id

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> None:
        self.live(instance_id)
        with self.store.transaction():
            self.store.send(instance_id, event(EventType.EVENT_RAISED, Name=name,
                                               Input=data_json))
        self._notify(instance_id)

    def terminate(self, instance_id: str, reason: str | None) -> None:
        self.live(instance_id)
        with self.store.transaction():
            self.store.send(instance_id, event(EventType.EXECUTION_TERMINATED,
                                               Input=json.dumps(reason)))
        self._notify(instance_id)

    def suspend(self, instance_id: str, reason: str | None, *, resume: bool = False) -> None:
        """Suspend (or resume) an instance; see lifecycle.py."""
        self.live(instance_id)
        lifecycle.send_control(self, instance_id, not resume, reason)

    def rewind(self, instance_id: str, reason: str | None) -> None:
        inst = self._existing(instance_id)
        if inst.runtime_status != RuntimeStatus.FAILED:
            raise Gone(f"instance {instance_id!r} is {inst.runtime_status.lower()}: the rewind "
                       "operation is only supported on failed orchestration instances")
        retried = lifecycle.retried_failures(self.store, inst)
        if retried:
            raise DurableError(f"devhost cannot rewind {', '.join(retried)}: it failed after "
                               "retries, and devhost does not rewind a retry policy attempt by "
                               "attempt; start a new instance instead")
        lifecycle.rewind(self, inst, reason)

    def purge(self, instance_id: str) -> int:
        """Whatever its status, as 2.13.7 purges by id (DurableClient → AzureTableTrackingStore
        .PurgeInstanceHistoryAsync checks no status). What it had in flight finds it gone: an
        episode's commit and an activity's result are dropped, late messages deleted."""
        self._existing(instance_id)
        with self.store.transaction():
            self.store.delete_instance(instance_id)
        self._history.pop(instance_id, None)
        self._replay_cost.pop(instance_id, None)
        for future in self._waiters.pop(instance_id, []):  # they learn it is gone
            if not future.done():
                future.set_result(None)
        return 1

    def purge_many(self, statuses: list[str] | None, created_from: str | None,
                   created_to: str | None) -> int:
        terminal = [s for s in (statuses or TERMINAL) if s in TERMINAL]
        victims = self.store.query_instances(terminal, created_from, created_to)
        with self.store.transaction():
            for inst in victims:
                self.store.delete_instance(inst.instance_id)
        return len(victims)

    def live(self, instance_id: str) -> Instance:
        """The instance, if it can still take an event, a termination or a suspension."""
        inst = self._existing(instance_id)
        if inst.is_terminal:
            raise Gone(f"instance {instance_id!r} is {inst.runtime_status.lower()}")
        return inst

    def _existing(self, instance_id: str) -> Instance:
        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise NotFound(f"no instance with id {instance_id!r}")
        return inst

    def status(self, instance_id: str, *, show_history: bool = False,
               show_history_output: bool = False, show_input: bool = True
               ) -> dict[str, Any] | None:
        inst = self.store.get_instance(instance_id)
        return None if inst is None else self.status_of(
            inst, show_history=show_history, show_history_output=show_history_output,
            show_input=show_input)

    def status_of(self, inst: Instance, *, show_history: bool = False,
                  show_history_output: bool = False, show_input: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": inst.name, "instanceId": inst.instance_id,
            "runtimeStatus": inst.runtime_status,
            "input": _json_or_none(inst.input) if show_input else None,
            "customStatus": _json_or_none(inst.custom_status),
            "output": _json_or_none(inst.output),
            "createdTime": inst.created_time[:19] + "Z",
            "lastUpdatedTime": inst.last_updated_time[:19] + "Z",
        }
        if show_history and inst.runtime_status != RuntimeStatus.PENDING:
            body["historyEvents"] = public_history(self.store.history(inst.instance_id),
                                                   show_history_output, show_input)
        return body

    async def wait(self, instance_id: str, timeout: float | None = None) -> Instance:
        """Wait until the instance reaches a terminal state (or the timeout passes)."""
        inst = self._existing(instance_id)
        if inst.is_terminal:
            return inst
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(instance_id, []).append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(instance_id, [])
            if future in waiters:
                waiters.remove(future)
        return self._existing(instance_id)

    # -- scheduling ----------------------------------------------------------------------
    def _notify(self, instance_id: str, visible_at: float = 0.0) -> None:
        if self._stopping:  # the message is in the store: the next start delivers it
            return
        if visible_at > time.time():
            heapq.heappush(self._timers, (visible_at, instance_id))
            if self._timer_wake:
                self._timer_wake.set()
            return
        if instance_id in self._running:
            self._dirty.add(instance_id)
            return
        self._running.add(instance_id)
        self._spawn(self._drive(instance_id))

    async def _timer_loop(self) -> None:
        assert self._timer_wake is not None
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, instance_id = heapq.heappop(self._timers)
                self._notify(instance_id)
            timeout = self._timers[0][0] - now if self._timers else None
            self._timer_wake.clear()
            try:
                await asyncio.wait_for(self._timer_wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _drive(self, instance_id: str) -> None:
        assert self._orch_slots is not None
        try:
            async with self._orch_slots:
                while True:
                    # Linger as long as the last replay took: completions that arrive
                    # meanwhile join one episode instead of each paying a full replay, so
                    # a fan-out of N costs O(N) replays' worth of time, not O(N^2).
                    linger = min(self._replay_cost.get(instance_id, 0.0), _MAX_LINGER)
                    if linger > _MIN_LINGER:
                        await asyncio.sleep(linger)
                    self._dirty.discard(instance_id)
                    started = time.perf_counter()
                    try:
                        more = await self._episode(instance_id)
                    except WorkerLost as exc:
                        # Nothing was committed: the messages are delivered again, to a
                        # worker that is up (the extension's at-least-once delivery).
                        log.warning("episode of %s lost its worker (%s): retrying",
                                    instance_id, exc)
                        await asyncio.sleep(_WORKER_RETRY)
                        more = True
                    self._replay_cost[instance_id] = time.perf_counter() - started
                    if self._stopping or (not more and instance_id not in self._dirty):
                        break
                    await asyncio.sleep(0)
        finally:
            self._running.discard(instance_id)

    # -- one orchestrator episode --------------------------------------------------------
    async def _episode(self, instance_id: str) -> bool:
        """Run one episode; True when more messages are already deliverable."""
        if entities.is_entity(instance_id):
            return await entities.run_batch(self, instance_id)
        inst = self.store.get_instance(instance_id)
        # A (re)start must precede whatever else is waiting (events raised early).
        messages = sorted(self.store.inbox(instance_id, time.time()),
                          key=lambda m: not _starts(m))
        if not messages:
            return False
        if inst is None or (inst.is_terminal and not _starts(messages[0])):
            with self.store.transaction():  # late messages for gone/finished instances
                self.store.delete_messages([m.id for m in messages])
            return False
        deliverable = lifecycle.apply_control(self, inst, messages)
        if not deliverable:  # suspended, or only suspend/resume messages
            return False
        messages = deliverable
        terminate = next((m for m in messages if m.event["EventType"]
                          == EventType.EXECUTION_TERMINATED), None)
        if terminate is not None:
            self._finish_terminated(inst, messages, terminate)
            return False
        batch = self._batch(inst, messages)
        await Episode(self, inst, batch).run()
        self.episodes += 1
        return len(batch) < len(messages)

    def _batch(self, inst: Instance, messages: list[InboxMessage]) -> list[InboxMessage]:
        if _retry_key(inst, messages[0].event):
            return messages[:1]
        batch = []
        for message in messages:
            if _retry_key(inst, message.event):
                break
            batch.append(message)
        return batch

    def _finish_terminated(self, inst: Instance, messages: list[InboxMessage],
                           terminate: InboxMessage) -> None:
        reason = terminate.event.get("Input")
        with self.store.transaction():
            history = self.store.history(inst.instance_id)
            self.store.append_history(inst.instance_id, len(history), [
                event(EventType.EXECUTION_TERMINATED, Input=reason)])
            self.store.delete_messages([m.id for m in messages])
            inst.runtime_status = RuntimeStatus.TERMINATED
            inst.output = reason
            inst.last_updated_time = iso(utcnow())
            self.store.put_instance(inst)
            self._tell_parent(inst, failed=True,
                              reason=f"Orchestration {inst.instance_id!r} was terminated",
                              details=f"Terminated with reason: {_json_or_none(reason)}"
                              if reason is not None else "Terminated without a reason.")
        self._after_terminal(inst, error=f"terminated: {_json_or_none(reason)}")

    def _tell_parent(self, inst: Instance, *, failed: bool, result: str | None = None,
                     reason: str | None = None, details: str | None = None) -> None:
        if not inst.parent_instance_id:
            return
        if failed:
            ev = event(EventType.SUB_ORCHESTRATION_FAILED, TaskScheduledId=inst.parent_task_id,
                       Reason=reason, Details=details)
        else:
            ev = event(EventType.SUB_ORCHESTRATION_COMPLETED,
                       TaskScheduledId=inst.parent_task_id, Result=result)
        self.store.send(inst.parent_instance_id, ev)

    def _after_terminal(self, inst: Instance, error: str | None = None) -> None:
        """Post-commit: emit the orchestration span once, wake the parent and waiters."""
        if inst.runtime_status == RuntimeStatus.FAILED:
            reason, details = console.split_failure(error or "")
            console.orchestration_failed(inst.name, inst.instance_id, reason, details)
        self._replay_cost.pop(inst.instance_id, None)
        self._history.pop(inst.instance_id, None)
        emit_orchestration_span(self.tracer, inst)
        if inst.parent_instance_id:
            self._notify(inst.parent_instance_id)
        for future in self._waiters.pop(inst.instance_id, []):
            if not future.done():
                future.set_result(None)

    # -- activities ----------------------------------------------------------------------
    async def _run_activity(self, item: WorkItem) -> None:
        assert self._activity_slots is not None
        async with self._activity_slots:
            if self._stopping:  # still stored: the next start runs it
                return
            inst = self.store.get_instance(item.instance_id)
            if inst is None or inst.is_terminal or inst.execution_id != item.execution_id:
                with self.store.transaction():
                    self.store.delete_work_item(item.id)
                return
            self._inflight[item.id] = item
            try:
                while True:
                    try:
                        result = await self._call_activity(inst, item)
                        break
                    except WorkerLost as exc:  # at least once: again, on a live worker
                        log.warning("activity %s of %s lost its worker (%s): running it "
                                    "again", item.name, item.instance_id, exc)
                        await asyncio.sleep(_WORKER_RETRY)
            finally:
                self._inflight.pop(item.id, None)
            with self.store.transaction():
                current = self.store.get_instance(item.instance_id)
                if self.store.delete_work_item(item.id) and current is not None \
                        and current.execution_id == item.execution_id:
                    self.store.send(item.instance_id, result)
            self._notify(item.instance_id)

    async def _call_activity(self, inst: Instance, item: WorkItem) -> Event:
        fn = self.index.activities.get(item.name)
        if fn is None:
            return event(EventType.TASK_FAILED, TaskScheduledId=item.task_id,
                         Reason=f"The function '{item.name}' doesn't exist, is disabled, "
                                "or is not an activity function.",
                         Details="Activity functions in this app: "
                                 + (", ".join(sorted(self.index.activities)) or "none"))
        started = time.perf_counter()
        with self.tracer.activity(name=item.name, instance_id=inst.instance_id,
                                  task_id=item.task_id,
                                  client=task_client_context(inst, item.task_id)) as host:
            # The extension binds an activity's input to the trigger as a JSON string.
            invocation = Invocation(
                fn, [typed.binding(fn.trigger.name, typed.string(item.input or "null"))],
                host.traceparent, host.tracestate)
            host.invocation_id = invocation.invocation_id
            outcome = await self.index.invoker.invoke(invocation)
            if not outcome.ok:  # the host's span records the failure, as its logger does
                host.failure = outcome.as_exception()
        if not outcome.ok:
            console.remote_invocation_failed(fn.name, outcome.invocation_id,
                                             (time.perf_counter() - started) * 1000,
                                             outcome.error, outcome.stack_trace,
                                             instance_id=inst.instance_id)
            return event(EventType.TASK_FAILED, TaskScheduledId=item.task_id,
                         Reason=f"Activity function '{item.name}' failed: {outcome.error}",
                         Details=console.user_stack(outcome.stack_trace, outcome.error))
        result = typed.text(outcome.return_value)
        return event(EventType.TASK_COMPLETED, TaskScheduledId=item.task_id,
                     Result=result if result is not None else "null")


def _starts(message: InboxMessage) -> bool:
    return bool(message.event["EventType"] == EventType.EXECUTION_STARTED)


def _retry_key(inst: Instance, ev: Event) -> str | None:
    """The retry this event drives forward (a failed attempt or its backoff timer)."""
    kind = ev["EventType"]
    for key, retry in inst.retries.items():
        if kind in _FAILED_TO_PARENT and ev.get("TaskScheduledId") == retry["current_id"]:
            return key
        if kind == EventType.TIMER_FIRED and ev.get("TimerId") == retry.get("timer_id"):
            return key
    return None


class Episode:
    """One replay of an instance's orchestrator plus the commit of what it decided."""

    def __init__(self, engine: Engine, inst: Instance, batch: list[InboxMessage]) -> None:
        self.engine = engine
        self.store = engine.store
        self.inst = inst
        self.batch = batch
        self.now = utcnow()
        self.appended: list[Event] = []
        self.work: list[tuple[int, str, str | None, int]] = []
        self.children: list[tuple[str, str, str | None, int]] = []
        self.messages: list[tuple[str, Event, float]] = []
        self.next_id = inst.next_event_id
        if inst.trace_start is None:
            inst.trace_start = iso(self.now)  # the orchestration span starts at episode one

    async def run(self) -> None:
        inst = self.inst
        cached = self.engine._history.get(inst.instance_id)
        history = list(cached) if cached is not None else self.store.history(inst.instance_id)
        if any(_starts(m) for m in self.batch):
            history = []  # a (re)start begins a fresh execution
        new_events = [event(EventType.ORCHESTRATOR_STARTED,
                            timestamp=self.engine.clock.now())]
        new_events += [m.event for m in self.batch]
        state, error = await self._replay(history, new_events)
        if state is not None and error is None:
            self._advance_retry(self.batch[0].event)
            self._apply_actions(state)
            if state.get("customStatus") is not None:
                inst.custom_status = json.dumps(state["customStatus"])
        self._commit(history, new_events, state, error)

    async def _replay(self, history: list[Event], new_events: list[Event]
                      ) -> tuple[dict[str, Any] | None, str | None]:
        inst = self.inst
        fn = self.engine.index.orchestrators.get(inst.name)
        if fn is None:
            return None, f"orchestrator function {inst.name!r} does not exist"
        parent = orchestration_context(inst)
        return await call_orchestrator(self.engine.index.invoker, fn, trigger_payload(
            inst.instance_id, inst.parent_instance_id, inst.input, history, new_events),
            parent.header if parent else "", (parent.state or "") if parent else "")

    def _alloc(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _advance_retry(self, delivered: Event) -> None:
        key = _retry_key(self.inst, delivered)
        if key is None:
            return
        retry = self.inst.retries[key]
        if delivered["EventType"] in _FAILED_TO_PARENT:
            timer_id = self._alloc()
            # DurableTask.Core RetryInterceptor.Invoke: after the last attempt only the
            # "Dummy timer for back-compat", which fires at once; the failure is not delayed.
            last = retry["attempts"] >= retry["max_attempts"]
            fire_at = self.now + timedelta(milliseconds=0 if last else retry["first_interval_ms"])
            self.appended.append(event(EventType.TIMER_CREATED, timer_id, FireAt=iso(fire_at)))
            self.messages.append((self.inst.instance_id, event(
                EventType.TIMER_FIRED, TimerId=timer_id, FireAt=iso(fire_at)),
                self.engine.clock.timer_due(fire_at)))
            retry["timer_id"] = timer_id
        elif retry["attempts"] < retry["max_attempts"]:
            retry["attempts"] += 1
            retry["current_id"] = self._alloc()
            retry["timer_id"] = None
            self._schedule(retry["kind"], retry["current_id"], retry["name"], retry["input"],
                           retry.get("instance_id"), retry["attempts"])
        else:
            del self.inst.retries[key]

    def _schedule(self, kind: str, task_id: int, name: str, input_json: str | None,
                  instance_id: str | None, attempt: int = 1) -> None:
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
            self.appended.append(event(EventType.SUB_ORCHESTRATION_CREATED, task_id, Name=name,
                                       InstanceId=child_id, Input=input_json))
            self.children.append((child_id, name, input_json, task_id))

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
                entities.schedule_from_orchestration(
                    self, action.raw, task_id, signal=kind is ActionType.SIGNAL_ENTITY)
            elif kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY,
                          ActionType.CALL_SUB_ORCHESTRATOR,
                          ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
                is_activity = kind in (ActionType.CALL_ACTIVITY,
                                       ActionType.CALL_ACTIVITY_WITH_RETRY)
                child_id = None if is_activity else action.raw.get("instanceId")
                self._schedule("activity" if is_activity else "orchestration", task_id,
                               action.function_name, action.input, child_id)
                if action.retry:
                    inst.retries[str(task_id)] = {
                        "kind": "activity" if is_activity else "orchestration",
                        "name": action.function_name, "input": action.input,
                        "instance_id": child_id, "current_id": task_id, "attempts": 1,
                        "timer_id": None,
                        "max_attempts": int(action.retry.get("maxNumberOfAttempts", 1)),
                        "first_interval_ms": int(
                            action.retry.get("firstRetryIntervalInMilliseconds", 0)),
                    }
            elif kind is ActionType.CREATE_TIMER:
                fire_at = datetime.fromisoformat(action.raw["fireAt"])
                self.appended.append(event(EventType.TIMER_CREATED, task_id,
                                           FireAt=iso(fire_at)))
                self.messages.append((inst.instance_id, event(
                    EventType.TIMER_FIRED, TimerId=task_id, FireAt=iso(fire_at)),
                    self.engine.clock.timer_due(fire_at)))
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
        engine = self.engine
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
                engine._history.pop(inst.instance_id, None)
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
            for child_id, name, input_json, task_id in self.children:
                self._start_child(child_id, name, input_json, task_id)
            for target, ev, visible_at in self.messages:
                self.store.send(target, ev, visible_at)
            if inst.runtime_status == RuntimeStatus.FAILED:
                reason, details = console.split_failure(error or "")
                engine._tell_parent(inst, failed=True, reason=reason,
                                    details=details or f"Instance '{inst.instance_id}' failed; "
                                    "its history has the details.")
            elif inst.runtime_status == RuntimeStatus.COMPLETED:
                engine._tell_parent(inst, failed=False, result=inst.output)
        if continue_as_new is None and not inst.is_terminal:
            engine._history[inst.instance_id] = history + new_events + self.appended
        else:
            engine._history.pop(inst.instance_id, None)
        for item in items:
            engine._spawn(engine._run_activity(item))
        for child_id, *_ in self.children:
            engine._notify(child_id)
        for target, _, visible_at in self.messages:
            engine._notify(target, visible_at)
        if continue_as_new is not None:
            engine._notify(inst.instance_id)
        # The results this batch delivered, against the history their tasks were scheduled in.
        emit_result_spans(engine.tracer, inst, history, new_events[1:], self.now)
        if inst.is_terminal:
            engine._after_terminal(inst, error)

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
        self.store.send(inst.instance_id, execution_started(
            inst.name, inst.instance_id, inst.execution_id, input_json))

    def _start_child(self, child_id: str, name: str, input_json: str | None,
                     task_id: int) -> None:
        existing = self.store.get_instance(child_id)
        if name not in self.engine.index.orchestrators:
            reason = f"orchestrator function {name!r} does not exist"
            details = "Orchestrator functions in this app: " + (
                ", ".join(sorted(self.engine.index.orchestrators)) or "none")
        elif existing is not None and not existing.is_terminal:
            reason = f"an instance with id {child_id!r} is already {existing.runtime_status}"
            details = "Give the sub-orchestration another instance id, or wait until it ends."
        else:
            self.engine._create_instance(child_id, name, input_json,
                                         task_client_context(self.inst, task_id),
                                         parent=self.inst, parent_task_id=task_id,
                                         replaces=existing is not None)
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



# -- Durable tracing V2 hooks (DurableTask.Core TaskOrchestrationDispatcher) --------------
def v2_tracing_active(options: EngineOptions) -> bool:
    """TelemetryActivator.Initialize: V2 rows need host.json's V2 switch, and they only
    reach Application Insights when a connection string (or key) is configured."""
    return options.tracing_v2 and bool(host_connection_string())


def task_client_context(inst: Instance, task_id: int) -> TraceParent:
    """The CLIENT span an activity or sub-orchestration scheduled as `task_id` runs under."""
    trace_id = inst.trace_id or random_trace_id()
    return TraceParent(trace_id, client_span_id(trace_id, inst.instance_id, inst.execution_id,
                                                task_id), inst.sampled, inst.trace_state)


def emit_result_spans(tracer: HostTracer, inst: Instance, history: list[Event],
                      delivered: list[Event], now: datetime) -> None:
    """ReconcileMessagesWithState: one CLIENT span per processed task/sub-orchestration
    result and one INTERNAL span per fired timer, back-dated to when it was scheduled."""
    orchestration = orchestration_context(inst)
    if orchestration is None or not tracer.enabled:
        return
    try:
        # What each result answers, looked up by (type, EventId): built once per episode,
        # not searched for per result (a fan-in delivers hundreds).
        scheduled_by_id = {(e["EventType"], e.get("EventId")): e for e in history
                           if e["EventType"] in (EventType.TASK_SCHEDULED,
                                                 EventType.SUB_ORCHESTRATION_CREATED)}
        for ev in delivered:
            kind = ev["EventType"]
            failure = (ev.get("Reason") or "") if kind in _FAILED_TO_PARENT else None
            if kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
                scheduled = scheduled_by_id.get((EventType.TASK_SCHEDULED,
                                                 ev["TaskScheduledId"]))
                if scheduled is not None:
                    tracer.task_client(
                        name=scheduled["Name"], instance_id=inst.instance_id,
                        task_id=scheduled["EventId"], orchestration=orchestration,
                        client_span=task_client_context(inst, scheduled["EventId"]).span_id,
                        scheduled=datetime.fromisoformat(scheduled["Timestamp"]), end=now,
                        failure=failure)
            elif kind in (EventType.SUB_ORCHESTRATION_COMPLETED,
                          EventType.SUB_ORCHESTRATION_FAILED):
                created = scheduled_by_id.get((EventType.SUB_ORCHESTRATION_CREATED,
                                               ev["TaskScheduledId"]))
                if created is not None:
                    tracer.sub_orchestration_client(
                        name=created["Name"], parent_instance_id=inst.instance_id,
                        orchestration=orchestration,
                        client_span=task_client_context(inst, created["EventId"]).span_id,
                        created=datetime.fromisoformat(created["Timestamp"]), end=now,
                        failure=failure)
            elif kind == EventType.TIMER_FIRED:
                tracer.timer(orchestration_name=inst.name, instance_id=inst.instance_id,
                             timer_id=ev["TimerId"], fire_at=ev["FireAt"],
                             orchestration=orchestration,
                             created=datetime.fromisoformat(ev["Timestamp"]), end=now)
    except Exception:  # telemetry must never break the engine
        log.exception("could not emit task spans")


def emit_orchestration_span(tracer: HostTracer, inst: Instance) -> None:
    span = orchestration_context(inst)
    if span is None or not tracer.enabled:
        return
    failure = None
    if inst.runtime_status == RuntimeStatus.FAILED:
        output = _json_or_none(inst.output)
        failure = output if isinstance(output, str) else inst.output
    parent = span.child(inst.parent_span_id) if inst.parent_span_id else None
    try:
        tracer.orchestration(
            name=inst.name, instance_id=inst.instance_id, status=inst.runtime_status,
            span=span, parent=parent,
            start=datetime.fromisoformat(inst.trace_start or inst.created_time),
            end=utcnow(), failure=failure)
    except Exception:  # telemetry must never break the engine
        log.exception("could not emit orchestration span")

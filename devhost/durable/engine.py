"""The durable engine: what the Durable extension and DurableTask.Core do for an app.

The engine is the orchestration and activity dispatcher (DurableTask.Core
`TaskOrchestrationDispatcher`, `TaskActivityDispatcher`) over one SQLite store (store.py),
plus the client operations the management API calls. It decides what runs when: each
instance with deliverable messages gets an *episode* (episode.py: replay, decide, commit in
ONE transaction), an entity gets a batch (entities.py), a committed work item an activity
run. Activities run at least once on a bounded pool; episodes of one instance never overlap;
many instances run concurrently. The parts it runs commit through the `Dispatcher` protocol
(dispatcher.py), which the engine satisfies: they never import this module.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from devhost.durable import entities, lifecycle, shutdown
from devhost.durable.activity import call_activity
from devhost.durable.dispatcher import EngineOptions, HistoryCache
from devhost.durable.episode import (
    Episode,
    admits_version,
    commit_termination,
    next_batch,
    starts,
)
from devhost.durable.errors import Conflict, DurableError, Gone, NotFound, PreconditionFailed
from devhost.durable.history import (
    EventType,
    RuntimeStatus,
    event,
    execution_started,
    iso,
    json_or_none,
    public_history,
    utcnow,
)
from devhost.durable.linger import Lingering
from devhost.durable.spans import emit_orchestration_span, v2_tracing_active
from devhost.durable.store import TERMINAL, Instance, Store, WorkItem
from devhost.durable.timeskip import DurableClock
from devhost.durable.tracing import HostTracer, TraceParent, random_span_id, random_trace_id
from devhost.durable.tracking import Tracking
from devhost.durable.versioning import started_version
from devhost.host import console
from devhost.host.app import AppIndex
from devhost.host.channel import WorkerLost

# What callers import from the engine, wherever it is defined.
__all__ = ["Conflict", "DurableError", "Engine", "EngineOptions", "Gone", "NotFound",
           "PreconditionFailed", "v2_tracing_active"]

log = logging.getLogger("devhost.durable")

_WORKER_RETRY = 0.2  # seconds before work a dead worker held is delivered again
# Statuses a new start with the same id is refused in (the dedupe statuses of the default
# OverridableExistingInstanceStates, NonRunningStates: see httpapi/management.py's
# _already_exists); with "AnyState" there are none (versioning.py).
_DEDUPE = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.SUSPENDED)


class Engine:
    """The dispatcher (dispatcher.py's `Dispatcher` and `Draining`, structurally) and the
    client operations. Runs on one event loop; its state changes only in this class."""

    def __init__(self, index: AppIndex, store: Store, options: EngineOptions | None = None,
                 tracer: HostTracer | None = None) -> None:
        self.index = index
        self.store = store
        self.options = options or EngineOptions()
        self.tracer = tracer or HostTracer(enabled=v2_tracing_active(self.options))
        self.tracking = Tracking(self.options.task_hub, self.options.trace_replay_events,
                                 self.options.trace_inputs_and_outputs)
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
        self.histories = HistoryCache()
        self.lingering = Lingering(store, self.histories)
        self.episodes = 0
        # Set by stop_taking_work(): nothing new starts; what runs finishes and commits.
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
            self.notify(instance_id, visible_at)
        for item in self.store.work_items():
            self.dispatch_activity(item)

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        """Stop taking new work and let running activities finish and commit, for at most
        `timeout` seconds. True when nothing was cut off. See devhost/durable/shutdown.py."""
        return await shutdown.drain(self, timeout, report)

    @property
    def running_activities(self) -> list[WorkItem]:
        return list(self._inflight.values())

    @property
    def busy(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def stop_taking_work(self) -> None:
        """What is queued stays in the store: the next start delivers it."""
        self._stopping = True
        if self._timer_task:
            self._timer_task.cancel()

    async def settle(self, timeout: float) -> None:
        busy = [task for task in self._tasks if not task.done()]
        if busy:
            await asyncio.wait(busy, timeout=timeout)

    async def stop(self) -> None:
        self.stop_taking_work()
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

    def dispatch_activity(self, item: WorkItem) -> None:
        """Run a committed work item on the activity pool (TaskActivityDispatcher)."""
        self._spawn(self._run_activity(item))

    # -- client operations (the management API calls these) ------------------------------
    def start_new(self, name: str, instance_id: str | None = None, input_json: str | None = None,
                  traceparent: str | None = None, tracestate: str | None = None,
                  version: str | None = None) -> str:
        """A new instance, its version the caller's or host.json's `defaultVersion`."""
        if name not in self.index.orchestrators:
            known = ", ".join(sorted(self.index.orchestrators)) or "none"
            raise NotFound(f"orchestrator function {name!r} does not exist; orchestrator "
                           f"functions in this app: {known}")
        instance_id = instance_id or uuid.uuid4().hex
        version = self.options.versioning.version_for_new(version)
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
            if existing and existing.runtime_status in _DEDUPE \
                    and not self.options.override_any_state:
                raise Conflict(f"an instance with id {instance_id!r} is already "
                               f"{existing.runtime_status.lower()}")
            execution_id = self.create_instance(
                instance_id, name, input_json, producer, replaces=existing is not None,
                version=version)
        self.tracer.create_orchestration(name=name, instance_id=instance_id,
                                         execution_id=execution_id, caller=caller,
                                         producer=producer, start=started, end=utcnow(),
                                         version=version)
        self.notify(instance_id)
        return instance_id

    def create_instance(self, instance_id: str, name: str, input_json: str | None,
                        trace_parent: TraceParent, parent: Instance | None = None,
                        parent_task_id: int | None = None, replaces: bool = True,
                        version: str = "") -> str:
        """Write a new instance whose orchestration span will hang under `trace_parent`
        (the PRODUCER span of a client start, or the parent's CLIENT span)."""
        trace_id, span_id = trace_parent.trace_id, random_span_id()
        parent_span_id, state, sampled = (trace_parent.span_id, trace_parent.state,
                                          trace_parent.sampled)
        now = iso(utcnow())
        execution_id = uuid.uuid4().hex
        if replaces:
            self.store.delete_instance(instance_id)
            self.histories.forget(instance_id)
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
                                                       input_json, parent_ref, version))
        return execution_id

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> None:
        self.live(instance_id)
        with self.store.transaction():
            self.store.send(instance_id, event(EventType.EVENT_RAISED, Name=name,
                                               Input=data_json))
        self.notify(instance_id)

    def terminate(self, instance_id: str, reason: str | None) -> None:
        inst = self.live(instance_id)
        self.tracking.function_terminated(inst.name, instance_id, reason)  # DurableClient
        with self.store.transaction():
            self.store.send(instance_id, event(EventType.EXECUTION_TERMINATED,
                                               Input=json.dumps(reason)))
        self.notify(instance_id)

    def suspend(self, instance_id: str, reason: str | None, *, resume: bool = False) -> None:
        """Suspend (or resume) an instance; see lifecycle.py."""
        self.live(instance_id)
        lifecycle.send_control(self, instance_id, not resume, reason)

    def rewind(self, instance_id: str, reason: str | None) -> None:
        """Extension 3.x (HandleRewindInstanceRequestAsync since PR #3227): an unknown id is
        404 and an instance that is not Failed 412, each with a message."""
        inst = self.store.get_instance(instance_id)
        if inst is None:
            raise NotFound(f"No instance with ID '{instance_id}' found.")
        if inst.runtime_status != RuntimeStatus.FAILED:
            raise PreconditionFailed(
                f"The rewind operation is only supported on failed orchestration instances; "
                f"instance '{instance_id}' is {inst.runtime_status}.")
        retried = lifecycle.retried_failures(self.store, inst)
        if retried:
            raise DurableError(f"devhost cannot rewind {', '.join(retried)}: it failed after "
                               "retries, and devhost does not rewind a retry policy attempt by "
                               "attempt; start a new instance instead")
        lifecycle.rewind(self, inst, reason)

    def purge(self, instance_id: str) -> int:
        """A terminal instance only: extension 3.9.1 (PR #3311, "Add a runtime status check to
        purge requests") refuses a purge by id of a Pending, Running or Suspended instance
        with 412 and leaves it intact. What a purged instance's children send back later
        finds it gone and is dropped."""
        inst = self._existing(instance_id)
        if not inst.is_terminal:
            raise PreconditionFailed(
                f"Instance '{instance_id}' is {inst.runtime_status}: only an instance in a "
                "terminal state (Completed, Failed, Terminated) can be purged.")
        with self.store.transaction():
            self.store.delete_instance(instance_id)
        self.histories.forget(instance_id)
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
            "input": json_or_none(inst.input) if show_input else None,
            "customStatus": json_or_none(inst.custom_status),
            "output": json_or_none(inst.output),
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
    def notify(self, instance_id: str, visible_at: float = 0.0) -> None:
        """A committed message for `instance_id`: drive it now, or when it becomes visible
        (a timer); an instance already being driven runs again after its episode."""
        if self._stopping:  # the message is in the store: the next start delivers it
            return
        if visible_at > time.time():
            heapq.heappush(self._timers, (visible_at, instance_id))
            if self._timer_wake:
                self._timer_wake.set()
            return
        if instance_id in self._running:
            self._dirty.add(instance_id)
            self.lingering.arrived(instance_id)
            return
        self._running.add(instance_id)
        self._spawn(self._drive(instance_id))

    async def _timer_loop(self) -> None:
        assert self._timer_wake is not None
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, instance_id = heapq.heappop(self._timers)
                self.notify(instance_id)
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
                    # Completions that arrive meanwhile join one episode (linger.py).
                    await self.lingering.wait(instance_id,
                                              self._replay_cost.get(instance_id, 0.0))
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
                          key=lambda m: not starts(m))
        if not messages:
            return False
        if inst is None or (inst.is_terminal and not starts(messages[0])):
            with self.store.transaction():  # late messages for gone/finished instances
                self.store.delete_messages([m.id for m in messages])
            return False
        if not admits_version(self, inst, messages):  # host.json worker versioning
            return False
        deliverable = lifecycle.apply_control(self, inst, messages)
        if not deliverable:  # suspended, or only suspend/resume messages
            return False
        messages = deliverable
        terminate = next((m for m in messages if m.event["EventType"]
                          == EventType.EXECUTION_TERMINATED), None)
        if terminate is not None:
            commit_termination(self, inst, messages, terminate)
            return False
        batch = next_batch(inst, messages)
        await Episode(self, inst, batch).run()
        self.episodes += 1
        return len(batch) < len(messages)

    def finished(self, inst: Instance, error: str | None = None) -> None:
        """Post-commit: emit the orchestration span once, wake the parent and waiters."""
        if inst.runtime_status == RuntimeStatus.FAILED:
            reason, details = console.split_failure(error or "")
            console.orchestration_failed(inst.name, inst.instance_id, reason, details)
        self._replay_cost.pop(inst.instance_id, None)
        history = self.histories.get(inst.instance_id)
        self.histories.forget(inst.instance_id)
        if self.tracer.enabled:
            version = started_version(history if history is not None
                                      else self.store.history(inst.instance_id))
            emit_orchestration_span(self.tracer, inst, version)
        else:
            emit_orchestration_span(self.tracer, inst, "")
        if inst.parent_instance_id:
            self.notify(inst.parent_instance_id)
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
                        result = await call_activity(self.index, self.tracer, inst, item,
                                                     self.tracking)
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
            self.notify(item.instance_id)

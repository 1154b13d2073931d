"""Durable entities (function-based), as the Durable extension runs them for out-of-process
SDKs.

An entity is addressed by its scheduler id `@<name lowercased>@<key>`
(`EntityId.GetSchedulerIdFromEntityId`; the SDK's `EntityId.get_scheduler_id`). Operations
reach it as messages in its inbox (the same inbox table orchestrations use): a
`RequestMessage` (`EntityScheduler/RequestMessage.cs`: `id`, `op`, `signal`, `input`,
`parent`, `parentExecution`) carried by an `EventRaised` named "op". The engine runs what
is queued as ONE batch through the app's entity function, with the context JSON the
extension builds (`EntityTriggerAttributeBindingProvider.EntityContextToString`:
`self{name,key}`, `exists`, `state`, `batch[{name,input,isSignal}]`), reads back the SDK's
`{entityExists, entityState, results[{isError,result,...}], signals}` and commits, in one
transaction: the new state, one `ResponseMessage` (`result`, `exceptionType` on failure) per
call as an `EventRaised` named by the request id to the calling orchestration, and the
signals the batch sent (`TaskEntityShim.ExecuteOutOfProcBatch`).

From orchestrations, `call_entity` / `signal_entity` actions become an `EventSent` history
event whose EventId is the task id and whose Input is the request message: that is how the
SDK's replay finds the request id it then waits for (`TaskOrchestrationExecutor`:
EVENT_SENT re-keys the CallEntityAction task by `Input["id"]`).

Critical sections (entity locks) have no API in the Python SDK, so there is nothing to run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devhost.durable.dispatcher import Dispatcher
from devhost.durable.history import Event, EventType, event, iso, utcnow
from devhost.durable.store import InboxMessage, Instance, Store
from devhost.durable.tracing import TraceParent, orchestration_context
from devhost.host import console, typed
from devhost.host.channel import Invocation, Workers
from devhost.host.metadata import FunctionInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    entity_exists INTEGER NOT NULL DEFAULT 0,
    state TEXT,
    last_operation_time TEXT NOT NULL
);
"""
OPERATION_EVENT = "op"  # EntityMessageEventNames.RequestMessageEventName
_REQUEST_IDS = uuid.UUID("9e952958-5e33-4daf-827f-2fa12937b875")  # namespace for uuid5
_INVALID_KEY_CHARS = set("/\\#?")


class EntityError(ValueError):
    """A bad entity id or operation (the extension answers 400 with an ArgumentException)."""


@dataclass(frozen=True)
class EntityRef:
    """An entity id as the extension's `EntityId` forms it: the constructor lowercases the
    name (`EntityName = entityName.ToLowerInvariant()`), so every id devhost returns (the
    entity list, the entity's own `self`, span names) says `counter`, whatever case the
    function, the URL or the caller used."""

    name: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.name.lower())

    @property
    def scheduler_id(self) -> str:
        return f"@{self.name}@{self.key}"

    @staticmethod
    def parse(scheduler_id: str) -> EntityRef:
        name, _, key = scheduler_id[1:].partition("@")
        return EntityRef(name, key)


def is_entity(instance_id: str) -> bool:
    return instance_id.startswith("@")


def ensure_schema(store: Store) -> None:
    store.db.executescript(SCHEMA)


def entity_functions(dispatcher: Dispatcher) -> dict[str, FunctionInfo]:
    return dispatcher.index.entities


def validate(dispatcher: Dispatcher, ref: EntityRef) -> None:
    """As `DurableClient.SignalEntityAsyncInternal`: key characters, then the function."""
    if not ref.key or any(c in _INVALID_KEY_CHARS or ord(c) < 32 for c in ref.key):
        raise EntityError("Entity keys must not be empty or contain /, \\, #, ?, or control "
                          "characters.")
    if ref.name not in entity_functions(dispatcher):
        known = ", ".join(sorted(entity_functions(dispatcher))) or "none"
        raise EntityError(f"The function '{ref.name}' doesn't exist, is disabled, or is not an "
                          f"entity function. Entity functions in this app: {known}.")


# -- messages --------------------------------------------------------------------------------
# The caller's context travels in the request, as DurableTask.Core's RequestMessage carries
# its parent trace context, so the entity's spans join the caller's trace.
TRACE_KEY = "devhostTrace"


def _carried(context: TraceParent | None) -> dict[str, Any] | None:
    return None if context is None else {"traceparent": context.header,
                                         "tracestate": context.state}


def request(op: str, input_json: str | None, *, request_id: str, signal: bool,
            parent: str | None = None, parent_execution: str | None = None,
            trace_context: TraceParent | None = None) -> dict[str, Any]:
    """A RequestMessage. `input` is the JSON serialization of the operation's input value, so
    a JSON text input is itself serialized as a string (RequestMessage.SetInput)."""
    body: dict[str, Any] = {"op": op, "id": request_id, "timestamp": iso(utcnow())}
    if trace_context is not None:
        body[TRACE_KEY] = _carried(trace_context)
    if signal:
        body["signal"] = True
    if input_json is not None:
        body["input"] = json.dumps(input_json)
    if parent:
        body["parent"] = parent
        body["parentExecution"] = parent_execution
    return body


def operation_message(req: dict[str, Any]) -> Event:
    return event(EventType.EVENT_RAISED, Name=OPERATION_EVENT, Input=json.dumps(req))


def signal_from_client(dispatcher: Dispatcher, ref: EntityRef, op: str, input_json: str | None,
                       traceparent: str | None = None, tracestate: str | None = None) -> None:
    validate(dispatcher, ref)
    req = request(op, input_json, request_id=str(uuid.uuid4()), signal=True,
                  trace_context=TraceParent.parse(traceparent, tracestate))
    with dispatcher.store.transaction():
        dispatcher.store.send(ref.scheduler_id, operation_message(req))
    dispatcher.notify(ref.scheduler_id)


def schedule_from_orchestration(inst: Instance, raw: dict[str, Any], task_id: int, *,
                                signal: bool, known: Mapping[str, FunctionInfo]
                                ) -> tuple[Event, tuple[str, Event, float] | None]:
    """A call_entity / signal_entity action of an orchestrator episode: the EventSent to
    record (EventId = task id, Input = the request) and the message the episode commits with
    it: the request to the entity, or — when `known` (the app's entity functions) has no such
    entity — a call's failed response to the orchestration itself (None for a signal)."""
    target = str(raw.get("instanceId") or "")
    request_id = str(uuid.uuid5(_REQUEST_IDS, f"{inst.instance_id}:{inst.execution_id}:{task_id}"))
    req = request(str(raw.get("operation") or ""), raw.get("input"), request_id=request_id,
                  signal=signal, parent=None if signal else inst.instance_id,
                  parent_execution=None if signal else inst.execution_id,
                  trace_context=orchestration_context(inst))
    sent = event(EventType.EVENT_SENT, task_id, Name=OPERATION_EVENT, InstanceId=target,
                 Input=json.dumps(req))
    if not is_entity(target) or EntityRef.parse(target).name not in known:
        if signal:
            return sent, None
        name = EntityRef.parse(target).name if is_entity(target) else target
        return sent, (inst.instance_id, _response(
            request_id, json.dumps(f"The function '{name}' doesn't exist, is disabled, or "
                                   "is not an entity function."), failed=True), 0.0)
    return sent, (target, operation_message(req), 0.0)


def _response(request_id: str, result: str | None, *, failed: bool) -> Event:
    body: dict[str, Any] = {"result": result}
    if failed:
        body["exceptionType"] = "Error"
    return event(EventType.EVENT_RAISED, Name=request_id, Input=json.dumps(body))


# -- the batch -------------------------------------------------------------------------------
@dataclass
class EntityRow:
    exists: bool
    state: str | None


def read(store: Store, scheduler_id: str) -> EntityRow:
    row = store.db.execute("SELECT entity_exists, state FROM entities WHERE instance_id = ?",
                           (scheduler_id,)).fetchone()
    return EntityRow(bool(row[0]), row[1]) if row else EntityRow(False, None)


def list_entities(store: Store, name: str | None, with_state: bool
                  ) -> list[dict[str, Any]]:
    """DurableEntityStatus per entity: its id read back from the scheduler id
    (`EntityId.GetEntityIdFromSchedulerId`), filtered by the scheduler id prefix of the name
    (`EntityId.GetSchedulerIdPrefixFromEntityName`)."""
    sql = "SELECT instance_id, state, last_operation_time FROM entities WHERE entity_exists = 1"
    args: list[Any] = []
    if name:
        prefix = f"@{name.lower()}@"
        sql += " AND substr(instance_id, 1, length(?)) = ?"
        args += [prefix, prefix]
    rows = store.db.execute(sql + " ORDER BY instance_id", args).fetchall()
    out = []
    for scheduler_id, state, last in rows:
        ref = EntityRef.parse(scheduler_id)
        item: dict[str, Any] = {"entityId": {"name": ref.name, "key": ref.key},
                                "lastOperationTime": last}
        if with_state:
            item["state"] = None if state is None else json.loads(state)
        out.append(item)
    return out


async def run_batch(dispatcher: Dispatcher, scheduler_id: str) -> bool:
    """Run everything queued for one entity as one batch. True when more is deliverable."""
    store = dispatcher.store
    queued = store.inbox(scheduler_id, time.time())
    if not queued:
        return False
    # DurableTaskExtension: a batch holds at most MaxEntityOperationBatchSize operations.
    messages = queued[:max(dispatcher.options.max_entity_operation_batch_size, 1)]
    ref = EntityRef.parse(scheduler_id)
    fn = entity_functions(dispatcher).get(ref.name)
    requests = [_parse_request(m) for m in messages]
    row = read(store, scheduler_id)
    started = utcnow()
    if fn is None:
        results = [{"isError": True, "result": json.dumps(
            f"The function '{ref.name}' doesn't exist, is disabled, or is not an entity "
            "function.")} for _ in requests]
        outcome: dict[str, Any] = {"entityExists": row.exists, "entityState": row.state,
                                   "results": results, "signals": []}
    else:
        outcome = await _invoke(dispatcher.index.workers, fn, ref, row, requests)
    _commit(dispatcher, ref, fn, messages, requests, outcome)
    _trace(dispatcher, ref, requests, outcome, started)
    return len(messages) < len(queued)


def _trace(dispatcher: Dispatcher, ref: EntityRef, requests: list[dict[str, Any]],
           outcome: dict[str, Any], started: datetime) -> None:
    if not dispatcher.tracer.enabled:
        return
    ended = utcnow()
    for req, result in zip(requests, outcome["results"], strict=True):
        requested = req.get("timestamp")
        carried = req.get(TRACE_KEY) or {}
        dispatcher.tracer.entity_operation(
            # TaskEntityDispatcher: EntityId.FromString(instanceId).Name, the lowercased name
            entity_name=ref.name, scheduler_id=ref.scheduler_id,
            op=str(req.get("op")), signal=bool(req.get("signal")),
            caller=TraceParent.parse(carried.get("traceparent"), carried.get("tracestate")),
            requested_at=datetime.fromisoformat(requested) if requested else None,
            started=started, ended=ended,
            error=_text(result.get("result")) if result.get("isError") else None)


def _parse_request(message: InboxMessage) -> dict[str, Any]:
    try:
        value = json.loads(message.event.get("Input") or "{}")
        return value if isinstance(value, dict) else {}
    except json.JSONDecodeError:
        return {}


async def _invoke(workers: Workers, fn: FunctionInfo, ref: EntityRef, row: EntityRow,
                  requests: list[dict[str, Any]]) -> dict[str, Any]:
    """One batch through the worker: the extension binds the batch to the entity trigger as
    a JSON string and reads the SDK's result from the `$return` value."""
    payload = {"self": {"name": ref.name, "key": ref.key}, "exists": row.exists,
               "state": row.state,
               "batch": [{"name": r.get("op"), "input": r.get("input"),
                          "isSignal": bool(r.get("signal"))} for r in requests]}
    result = await workers.invoke(Invocation(
        fn, [typed.binding(fn.trigger.name, typed.string(json.dumps(payload)))]))
    if not result.ok:  # the worker's `<Type>: <message>`
        return _failed_batch(row, requests, result.error)
    try:
        text = typed.text(result.return_value)
        outcome = json.loads(text) if text else {}
        if len(outcome.get("results") or []) != len(requests):
            raise ValueError("the entity function returned "
                             f"{len(outcome.get('results') or [])} results for "
                             f"{len(requests)} operations")
        return dict(outcome)
    except ValueError as exc:  # JSON or result count: the SDK's answer is not usable
        return _failed_batch(row, requests, f"{type(exc).__name__}: {exc}")


def _failed_batch(row: Any, requests: list[dict[str, Any]], message: str) -> dict[str, Any]:
    """The whole batch failed: every operation reports the same error, the state is kept."""
    return {"entityExists": row.exists, "entityState": row.state, "signals": [],
            "results": [{"isError": True, "result": json.dumps(message)} for _ in requests]}


def _commit(dispatcher: Dispatcher, ref: EntityRef, fn: FunctionInfo | None,
            messages: list[InboxMessage], requests: list[dict[str, Any]],
            outcome: dict[str, Any]) -> None:
    store = dispatcher.store
    wake: list[str] = []
    with store.transaction():
        store.db.execute(
            "INSERT OR REPLACE INTO entities (instance_id, name, key, entity_exists, state, "
            "last_operation_time) VALUES (?, ?, ?, ?, ?, ?)",
            (ref.scheduler_id, ref.name, ref.key,
             int(bool(outcome.get("entityExists"))),
             outcome.get("entityState") if outcome.get("entityExists") else None,
             iso(utcnow())))
        for req, result in zip(requests, outcome["results"], strict=True):
            parent = req.get("parent")
            if req.get("signal") or not parent:
                continue
            store.send(parent, _response(str(req.get("id")), result.get("result"),
                                         failed=bool(result.get("isError"))))
            wake.append(parent)
        for signal in outcome.get("signals") or []:
            target = _signal_target(signal)
            if target is None:
                continue
            req = request(str(signal.get("name") or ""), signal.get("input"),
                          request_id=str(uuid.uuid4()), signal=True)
            store.send(target, operation_message(req))
            wake.append(target)
        store.delete_messages([m.id for m in messages])
    for req, result in zip(requests, outcome["results"], strict=True):
        if result.get("isError"):
            console.entity_operation_failed(
                fn.durable_name if fn else ref.name, ref.scheduler_id, str(req.get("op")),
                str(req.get("id")), float(result.get("duration") or 0),
                _text(result.get("result")))
    for target in wake:
        dispatcher.notify(target)


def _text(result: str | None) -> str:
    try:
        value = json.loads(result) if result is not None else None
    except json.JSONDecodeError:
        return str(result)
    return value if isinstance(value, str) else json.dumps(value)


def _signal_target(signal: dict[str, Any]) -> str | None:
    target = signal.get("target")
    if isinstance(target, dict) and target.get("name") and target.get("key"):
        return EntityRef(str(target["name"]), str(target["key"])).scheduler_id
    if isinstance(target, str) and is_entity(target):
        return target
    return None

"""The public API of the `durable_app` fixture: start runs, wait, and read what Application
Insights would have stored for them (spans, logs, exceptions, KQL)."""

from __future__ import annotations

import fnmatch
import json as jsonlib
import secrets
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.host.tracecontext import parse_traceparent
from devhost.testing.process import (
    CAPTURED_LOCALLY,
    DevhostError,
    HostProcess,
    HostSpec,
    Response,
    console,
    request,
)

TESTING = "/_devhost/testing"
MANAGEMENT = "/runtime/webhooks/durabletask"
DEFAULT_TIMEOUT_S = 30.0

_SPANS = """union requests, dependencies
| project id, name, operation_ParentId, operation_Id, itemType, customDimensions, duration,
          success, timestamp
| order by timestamp asc"""
_LOGS = """traces
| project message, customDimensions, severityLevel, operation_ParentId, operation_Id, timestamp
| order by timestamp asc"""
_EXCEPTIONS = """exceptions
| project type, outerMessage, customDimensions, severityLevel, operation_ParentId, operation_Id,
          details, timestamp
| order by timestamp asc"""


def _dims(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = jsonlib.loads(raw) if raw else {}
    return dict(raw or {})


@dataclass(frozen=True)
class Status:
    """The orchestration status, as the Durable management API reports it."""

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: str
    last_updated_time: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> Status:
        return cls(body["instanceId"], body["name"], body["runtimeStatus"], body.get("input"),
                   body.get("output"), body.get("customStatus"), body.get("createdTime", ""),
                   body.get("lastUpdatedTime", ""))


@dataclass(frozen=True)
class Span:
    """A `requests` or `dependencies` row. `attributes` is its customDimensions: the span
    attributes App Insights keeps as properties (values as strings, as App Insights has them)."""

    name: str
    attributes: dict[str, Any]
    parent_id: str
    id: str
    operation_id: str
    item_type: str
    duration_ms: float
    success: bool
    timestamp: str


@dataclass(frozen=True)
class LogRecord:
    """A `traces` row: `attributes` is its customDimensions."""

    message: str
    attributes: dict[str, Any]
    severity_level: int | None
    parent_id: str
    operation_id: str
    timestamp: str


@dataclass(frozen=True)
class ExceptionRecord:
    """An `exceptions` row."""

    type: str
    message: str
    attributes: dict[str, Any]
    severity_level: int | None
    parent_id: str
    operation_id: str
    details: Any
    timestamp: str


@dataclass(frozen=True)
class Replay:
    """A recorded history replayed through the app's current orchestrator code, as the
    Durable extension replays every in-flight instance after a deploy. `problems` is empty
    when the code still asks for what history recorded, call by call (`decisions` ==
    `recorded`: function or entity operation, input, child instance or entity id) and, for
    an ended history, reaches the recorded outcome;
    otherwise it says what differs: another function is what fails in-flight instances on
    Azure (nondeterminism), another input or child id is what silently reuses old results."""

    decisions: list[list[Any]]
    recorded: list[list[Any]]
    output: Any
    error: str | None
    problems: list[str]


def caller_trace_id(traceparent: str) -> str | None:
    """The trace a caller's `traceparent` names, or None when it names none (not the W3C
    format, version ff, or an all-zero trace or span id): the host's own parsing."""
    parsed = parse_traceparent(traceparent)
    return parsed.trace_id if parsed is not None else None


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


class RunHandle:
    """A handle on one run: the started orchestration and every instance whose root it is.
    For a run started over HTTP, also the request itself (and all it started, when it
    started one). Named as Temporal's `WorkflowHandle` is: it holds no state of the run,
    only its ids, and asks the app's host each time (through `DurableApp`'s public calls)."""

    def __init__(self, app: DurableApp, instance_id: str | None,
                 response: Response | None = None, trace_id: str | None = None) -> None:
        self.app = app
        self.instance_id = instance_id
        self.response = response
        self._trace_id = trace_id
        # What spans()/logs() asked for and did not find, with what the run did capture:
        # the plugin adds it to a failing test's report.
        self.empty_answers: list[str] = []

    def __repr__(self) -> str:
        return f"RunHandle(instance_id={self.instance_id!r})"

    def _root(self) -> str:
        if self.instance_id is None:
            status = self.response.status if self.response else None
            raise DevhostError(f"this request started no orchestration (HTTP {status}: "
                               f"{self.response.text[:200] if self.response else ''})")
        return self.instance_id

    # -- the orchestration ---------------------------------------------------------------
    def status(self, instance_id: str | None = None) -> Status:
        iid = instance_id or self._root()
        return Status.of(self.app.management("GET", f"/instances/{_q(iid)}"))

    def wait(self, timeout: float = DEFAULT_TIMEOUT_S) -> Status:
        """Wait until the started orchestration ends (or `timeout` seconds pass: then the
        status says Running or Pending)."""
        body = self.app.testing_call("POST", f"/wait/{_q(self._root())}?timeout={timeout}",
                                     timeout=timeout + 30)
        return Status.of(body)

    def instances(self) -> list[str]:
        """The started instance and every instance below it."""
        if self.instance_id is None:
            return []
        return list(self.app.testing_call("GET", f"/run/{_q(self.instance_id)}")["instances"])

    def history(self, instance_id: str | None = None, *,
                raw: bool = False) -> list[dict[str, Any]]:
        """The history events (with inputs and results) of the started instance, or of one
        of its children, as the status API shows them. `raw=True`: as the orchestrator
        receives them (DurableTask's HistoryEvent JSON), the form `replay` takes: save it
        as a fixture to replay later versions of the orchestrator against."""
        iid = instance_id or self._root()
        if raw:
            return list(self.app.testing_call("GET", f"/history/{_q(iid)}"))
        body = self.app.management(
            "GET", f"/instances/{_q(iid)}?showHistory=true&showHistoryOutput=true")
        return list(body.get("historyEvents") or [])

    def raise_event(self, name: str, data: Any = None, instance_id: str | None = None) -> None:
        iid = instance_id or self._root()
        self.app.management("POST", f"/instances/{_q(iid)}/raiseEvent/{_q(name)}", data)

    def terminate(self, reason: str = "", instance_id: str | None = None) -> None:
        iid = instance_id or self._root()
        self.app.management("POST", f"/instances/{_q(iid)}/terminate?reason={_q(reason)}")

    # -- what App Insights stored --------------------------------------------------------
    def _operations(self) -> list[str]:
        operations = set()
        if self.instance_id is not None:
            operations.update(self.app.testing_call(
                "GET", f"/run/{_q(self.instance_id)}")["operations"])
        if self._trace_id:
            operations.add(self._trace_id)
        return sorted(operations)

    def kql(self, query: str) -> list[list[Any]]:
        """Rows of a KQL query over this run's rows only (same tables and columns as App
        Insights; values as its query API returns them in JSON)."""
        return self.app.kql(query, operations=self._operations())

    def spans(self, name: str = "*") -> list[Span]:
        """Spans whose name matches the glob, oldest first."""
        spans = _spans(self.kql(_SPANS))
        found = [s for s in spans if fnmatch.fnmatchcase(s.name, name)]
        if not found:
            self._nothing_found(f"spans(name={name!r})", spans, _logs(self.kql(_LOGS)))
        return found

    def logs(self, message: str = "") -> list[LogRecord]:
        """Log records whose message contains `message`, oldest first."""
        logs = _logs(self.kql(_LOGS))
        found = [r for r in logs if message in r.message]
        if not found:
            self._nothing_found(f"logs(message={message!r})", _spans(self.kql(_SPANS)), logs)
        return found

    def _nothing_found(self, call: str, spans: list[Span], logs: list[LogRecord]) -> None:
        """What the run captured instead, and the usual reason when none of it is the app's:
        the app exports its own spans and logs, so a missing provider, or the SDK's default
        ParentBased sampler under the host's unsampled traceparent (flag 00, which the host
        hands activities unless the caller sampled), leaves only the host's rows."""
        names = Counter(s.name for s in spans)
        listed = ", ".join(f"{n} ×{c}" for n, c in sorted(names.items()))
        note = (f"run.{call} found nothing. The run captured {len(spans)} spans"
                f"{f' ({listed})' if listed else ''} and {len(logs)} log records.")
        if (spans or logs) and all(map(_host_span, spans)) and all(map(_host_log, logs)):
            note += (" None of them is the app's own, only the host's (its requests, the "
                     "Durable extension's spans, Executing/Executed lines). The app exports "
                     "its spans and logs itself: does it configure an OpenTelemetry provider "
                     "with an exporter (APPLICATIONINSIGHTS_CONNECTION_STRING is set for it), "
                     "with a sampler that keeps spans under the host's unsampled traceparent "
                     "(flag 00)? The SDK's default ParentBased sampler drops them, on Azure "
                     "as here (docs/testing.md, 'When a span is missing').")
        self.empty_answers.append(note)

    def exceptions(self) -> list[ExceptionRecord]:
        return _exceptions(self.kql(_EXCEPTIONS))

    def tree(self) -> str:
        """The run as `devhost insights run` draws it."""
        if self.instance_id is None:
            return "(no orchestration started)"
        self.app.flush()
        reply = request("GET", f"{self.app.base_url}{TESTING}/tree/{_q(self.instance_id)}")
        return reply.text


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# The host's own rows: Durable tracing V2's span names (DurableTask.Core TraceHelper), the
# request row of an HTTP or timer invocation (FullName, faas.trigger), its log categories.
_HOST_SPANS = ("create_orchestration:", "orchestration:", "orchestration_event:", "activity:",
               "entity:")


def _host_span(span: Span) -> bool:
    return span.name.startswith(_HOST_SPANS) or "FullName" in span.attributes or \
        "faas.trigger" in span.attributes


def _host_log(record: LogRecord) -> bool:
    category = str(record.attributes.get("Category", ""))
    return category.startswith(("Function.", "Host.")) and not category.endswith(".User")


def _spans(rows: list[list[Any]]) -> list[Span]:
    return [Span(name=str(r[1]), attributes=_dims(r[5]), parent_id=str(r[2] or ""),
                 id=str(r[0] or ""), operation_id=str(r[3] or ""), item_type=str(r[4]),
                 duration_ms=float(r[6] or 0.0), success=bool(r[7]), timestamp=str(r[8]))
            for r in rows]


def _logs(rows: list[list[Any]]) -> list[LogRecord]:
    return [LogRecord(message=str(r[0]), attributes=_dims(r[1]),
                      severity_level=None if r[2] is None else int(r[2]),
                      parent_id=str(r[3] or ""), operation_id=str(r[4] or ""),
                      timestamp=str(r[5])) for r in rows]


def _exceptions(rows: list[list[Any]]) -> list[ExceptionRecord]:
    return [ExceptionRecord(type=str(r[0] or ""), message=str(r[1] or ""), attributes=_dims(r[2]),
                            severity_level=None if r[3] is None else int(r[3]),
                            parent_id=str(r[4] or ""), operation_id=str(r[5] or ""),
                            details=r[6], timestamp=str(r[7])) for r in rows]


@dataclass
class DurableApp:
    """The user's app on its own devhost. The host starts on first use, so `settings` and
    `skip_timers` can still be changed at the top of a test."""

    app_dir: Path
    data_dir: Path
    module: str = "function_app"
    skip_timers: bool = True
    settings: dict[str, str] = field(default_factory=dict)
    runs: list[RunHandle] = field(default_factory=list)
    _process: HostProcess | None = None

    def _host(self) -> HostProcess:
        if self._process is None:
            process = HostProcess(HostSpec(self.app_dir, self.module, self.skip_timers,
                                           {k: str(v) for k, v in self.settings.items()}),
                                  self.data_dir)
            process.start()
            self._process = process
        return self._process

    @property
    def base_url(self) -> str:
        """Where the app is served (starts the host)."""
        return self._host().base_url

    def close(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    # -- what a RunHandle asks of the app's host -----------------------------------------
    def management(self, method: str, path: str, payload: Any = None) -> Any:
        """Call the Durable management API of this app's host (`path` under
        `/runtime/webhooks/durabletask`, payload as JSON); an error answer raises
        DevhostError. For what the run handles do not wrap (suspend, rewind, purge …)."""
        body = None if payload is None else jsonlib.dumps(payload).encode()
        reply = request(method, self._host().base_url + MANAGEMENT + path, body,
                        {"Content-Type": "application/json"})
        if reply.status >= 400:
            raise DevhostError(f"{method} {MANAGEMENT}{path}: {reply.status}: {reply.text}")
        return reply.json()

    def testing_call(self, method: str, path: str, payload: Any = None,
                     timeout: float = 120) -> Any:
        """A route of the host's testing API (`path` under `/_devhost/testing`,
        devhost/testing/_host.py): JSON in, JSON out, an error answer raises DevhostError."""
        return self._host().call(method, TESTING + path, payload, timeout)

    def flush(self) -> None:
        """Have the host and its workers export what they hold, so queries see every row."""
        self.testing_call("POST", "/flush")

    def kql(self, query: str, *, operations: list[str] | None = None) -> list[list[Any]]:
        """KQL over everything this app's host captured, or over the rows of `operations`
        (operation ids) only."""
        overridden = [k for k in CAPTURED_LOCALLY if self.settings.get(k, "").strip()]
        if overridden:
            raise DevhostError(f"telemetry is not captured locally: this test sends it to "
                               f"{overridden[0]}={self.settings[overridden[0]]!r}")
        self.flush()
        try:
            body = self.testing_call("POST", "/kql", {"query": query, "operations": operations})
        except DevhostError as exc:
            raise DevhostError(f"{exc}\nquery: {query}") from None
        return [list(r) for r in body["rows"]]

    def start(self, orchestrator: str, input: Any = None, *,  # noqa: A002 - the contract's name
              instance_id: str | None = None) -> RunHandle:
        """Start an orchestration directly (the way a client's `start_new` does)."""
        path = f"/orchestrators/{_q(orchestrator)}"
        if instance_id is not None:
            path += f"/{_q(instance_id)}"
        body = self.management("POST", path, input)
        run = RunHandle(self, str(body["id"]))
        self.runs.append(run)
        return run

    def http(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> RunHandle:
        """Call an HTTP-triggered function. `run.response` is the answer; when it is a
        check-status response, `run.instance_id` is the orchestration it started."""
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        body = jsonlib.dumps(json).encode() if json is not None else data
        trace_id, traceparent = _traceparent()
        given = {k.lower(): v for k, v in (headers or {}).items()}
        if "traceparent" in given:  # the caller's: its trace is the run's, if it is one
            trace_id = caller_trace_id(given["traceparent"]) or ""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if "traceparent" not in given:
            sent["traceparent"] = traceparent
        url = self._host().base_url + (path if path.startswith("/") else "/" + path)
        reply = request(method.upper(), url, body, sent)
        try:
            parsed = reply.json()
        except ValueError:
            parsed = None
        instance_id = parsed.get("id") if isinstance(parsed, dict) and \
            "statusQueryGetUri" in parsed else None
        run = RunHandle(self, instance_id, reply, trace_id or None)
        self.runs.append(run)
        return run

    def run(self, instance_id: str) -> RunHandle:
        """A handle on an instance started some other way (by a timer trigger, say)."""
        run = RunHandle(self, instance_id)
        self.runs.append(run)
        return run

    def instances(self) -> list[Status]:
        """Every orchestration instance this app's host holds (the management API's list)."""
        return [Status.of(b) for b in self.management("GET", "/instances?showInput=true")]

    def replay(self, orchestrator: str, history: list[dict[str, Any]]) -> Replay:
        """Replay a recorded history (`run.history(raw=True)`) through the app's current
        code of `orchestrator`, in its worker, episode by episode; nothing is stored."""
        body = self.testing_call("POST", "/replay",
                                 {"orchestrator": orchestrator, "history": history})
        return Replay(decisions=body["decisions"], recorded=body["recorded"],
                      output=body["output"], error=body["error"], problems=body["problems"])

    def console(self) -> str:
        """What the devhost process and its workers printed (warnings such as `telemetry
        export failed …`, the app's console logs); still readable after `close()`, which
        is when the host has exported everything it held."""
        return console(self.data_dir)

"""The host's ILogger rows as Application Insights receives them in the classic mode.

Every host log (the invocation's `Executing`/`Executed` lines, the worker's User logs, the
Durable extension's tracking traces) goes through one `HostLogger`, which shapes it the way
the .NET side does (azure-webjobs-sdk f79ea0b, appinsights-v3.0.42,
src/Microsoft.Azure.WebJobs.Logging.ApplicationInsights/ApplicationInsightsLogger.cs
`LogTrace` / `LogException` / `ApplyKnownProperties`, Initializers/WebJobsTelemetryInitializer.cs,
Initializers/WebJobsRoleEnvironmentTelmetryInitializer.cs, IRoleInstanceProvider.cs;
azure-functions-host 89dc438, src/WebJobs.Script/Config/ScriptTelemetryInitializer.cs):

- the message template's values as `prop__<name>`, the template as `prop__{OriginalFormat}`;
- `Category`, `LogLevel`, `EventId` (when not 0), `EventName` (when set);
- inside a function's scope (LoggerExtensions.BeginFunctionScope): `InvocationId` and the
  row's `operation_Name` = the function's name;
- `ProcessId` (WebJobsTelemetryInitializer) and `HostInstanceId` (ScriptTelemetryInitializer)
  on every row;
- a log with an exception is an `exceptions` row (with `FormattedMessage`) and, when it has a
  message, a `traces` row too;
- `cloud_RoleName` = WEBSITE_CLOUD_ROLENAME, else the site name (lower case, `-<slot>` off
  production), else none; `cloud_RoleInstance` = WEBSITE_INSTANCE_ID, COMPUTERNAME or
  CONTAINER_NAME, else the machine name (TelemetryClient.Initialize, ApplicationInsights-dotnet
  2.22.0);
- host.json `logging.logLevel` per category (Microsoft.Extensions.Logging's rule selection:
  the longest matching category prefix, else `default`; Information when unset).

The Python exporter's own additions (`logger_name`, a zero operation id for a row outside
any operation) are taken off again.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from opentelemetry import _logs
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost.host.sampling import AdaptiveEstimator, SamplingSettings, keeps

PREFIX = "prop__"  # LogConstants.CustomPropertyPrefix
ORIGINAL_FORMAT = "{OriginalFormat}"
CATEGORY = "Category"
LOG_LEVEL = "LogLevel"
EVENT_ID = "EventId"
EVENT_NAME = "EventName"
INVOCATION_ID = "InvocationId"
PROCESS_ID = "ProcessId"
HOST_INSTANCE_ID = "HostInstanceId"
FORMATTED_MESSAGE = "FormattedMessage"
# Read back by the envelope shaping, never filed.
_OPERATION_NAME = "ai.operation.name"
_EXCEPTIONS = "_devhost.exceptions"
_SAMPLE_RATE = "_devhost.sample_rate"
_PRIVATE = (_OPERATION_NAME, _EXCEPTIONS, _SAMPLE_RATE)

_PROPAGATOR = TraceContextTextMapPropagator()
# The host's instance id: one per host start (ScriptJobHostOptions.InstanceId).
HOST_INSTANCE = str(uuid.uuid4())


class Level(IntEnum):
    """Microsoft.Extensions.Logging.LogLevel."""

    TRACE = 0
    DEBUG = 1
    INFORMATION = 2
    WARNING = 3
    ERROR = 4
    CRITICAL = 5
    NONE = 6


_SEVERITY = {Level.TRACE: SeverityNumber.TRACE, Level.DEBUG: SeverityNumber.DEBUG,
             Level.INFORMATION: SeverityNumber.INFO, Level.WARNING: SeverityNumber.WARN,
             Level.ERROR: SeverityNumber.ERROR, Level.CRITICAL: SeverityNumber.FATAL}
_NAMES = {level.name.lower(): level for level in Level}


def level_name(level: Level) -> str:
    """LogLevel.ToStringOptimized(): `Information`, `Warning`, …"""
    return level.name.capitalize()


@dataclass(frozen=True)
class LogLevels:
    """host.json `logging.logLevel`: category prefix → minimum level."""

    rules: tuple[tuple[str, Level], ...] = ()
    default: Level = Level.INFORMATION

    @classmethod
    def from_host_json(cls, document: dict[str, Any]) -> LogLevels:
        logging_node = next((v for k, v in document.items() if k.lower() == "logging"), None)
        raw = next((v for k, v in (logging_node or {}).items() if k.lower() == "loglevel"),
                   None) if isinstance(logging_node, dict) else None
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("host.json logging.logLevel must be an object")
        rules: list[tuple[str, Level]] = []
        default = Level.INFORMATION
        for category, value in raw.items():
            level = _NAMES.get(str(value).strip().lower())
            if level is None:
                raise ValueError(f"host.json logging.logLevel.{category}: {value!r} is not a "
                                 "log level (Trace, Debug, Information, Warning, Error, "
                                 "Critical, None)")
            if category.lower() == "default":
                default = level
            else:
                rules.append((category.lower().rstrip("*").rstrip("."), level))
        return cls(tuple(sorted(rules, key=lambda r: -len(r[0]))), default)

    @classmethod
    def from_app_dir(cls, app_dir: Path) -> LogLevels:
        path = app_dir / "host.json"
        return cls.from_host_json(json.loads(path.read_text())) if path.is_file() else cls()

    def minimum(self, category: str) -> Level:
        """LoggerRuleSelector: the rule with the longest category that starts the log's
        category (ignoring case, at a `.` boundary or whole), else `default`."""
        name = category.lower()
        for prefix, level in self.rules:
            if name == prefix or name.startswith(prefix + "."):
                return level
        return self.default

    def enabled(self, category: str, level: Level) -> bool:
        return level != Level.NONE and level >= self.minimum(category)


def role_tags() -> dict[str, str]:
    """WebJobsRoleEnvironmentTelemetryInitializer and WebJobsRoleInstanceProvider (with the
    SDK's machine-name fallback): `func start` on Linux sets none of these, so locally the
    role name is empty unless WEBSITE_CLOUD_ROLENAME (or a site name) is set."""
    tags: dict[str, str] = {}
    role = os.environ.get("WEBSITE_CLOUD_ROLENAME", "")
    if not role:
        site = os.environ.get("WEBSITE_SITE_NAME", "")
        slot = os.environ.get("WEBSITE_SLOT_NAME", "")
        if site and slot and slot.lower() != "production":
            site += f"-{slot}"
        role = site.lower()
    if role:
        tags["ai.cloud.role"] = role
    tags["ai.cloud.roleInstance"] = machine_role_instance()
    return tags


def machine_role_instance() -> str:
    for name in ("WEBSITE_INSTANCE_ID", "COMPUTERNAME", "CONTAINER_NAME"):
        if os.environ.get(name):
            return os.environ[name]
    return socket.gethostname()


_HOLE = re.compile(r"\{([^{}]+)\}")


def dotnet_text(value: Any) -> str:
    """How .NET's LogValuesFormatter prints a value: True/False, (null)."""
    if value is None:
        return "(null)"
    if isinstance(value, bool):
        return str(value)
    return str(value)


def format_message(template: str, values: Sequence[tuple[str, Any]]) -> str:
    """The message of a template whose holes are filled in order, as LoggerMessage does."""
    texts = iter([dotnet_text(v) for _, v in values])
    return _HOLE.sub(lambda m: next(texts, m.group(0)), template)


@dataclass(frozen=True)
class Scope:
    """A function invocation's logger scope (BeginFunctionScope): its id, its function's
    name and the Activity it runs under."""

    invocation_id: str
    function_name: str
    context: Context | None = None

    @classmethod
    def of(cls, invocation_id: str, function_name: str, traceparent: str) -> Scope:
        """The scope of an invocation handed `traceparent` (its Activity)."""
        return cls(invocation_id, function_name,
                   _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None)


@dataclass(frozen=True)
class DotnetException:
    """One exception of a .NET chain, outermost first."""

    type_name: str
    message: str
    stack: str = ""


@dataclass
class HostLogger:
    """Files host logs as ApplicationInsightsLogger does (see the module's docstring)."""

    levels: LogLevels = field(default_factory=LogLevels)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    estimator: AdaptiveEstimator | None = None
    logger: Any = None
    # Which categories the pipeline exports at all (the OpenTelemetry mode's filters), and
    # whether its exporter is the App Insights one that reads the private attributes.
    exports: Callable[[str], bool] = field(default=lambda _category: True)
    app_insights: bool = True

    def __post_init__(self) -> None:
        if self.estimator is None:
            self.estimator = AdaptiveEstimator(self.sampling)

    def enabled(self, category: str, level: Level) -> bool:
        return self.levels.enabled(category, level)

    def log(self, category: str, level: Level, template: str,
            values: Sequence[tuple[str, Any]] = (), *, event_id: int = 0, event_name: str = "",
            scope: Scope | None = None, exception: Sequence[DotnetException] = (),
            message: str | None = None, traceparent: str = "") -> bool:
        """File one log; False when host.json's level or sampling dropped it. Outside a
        function's scope, `traceparent` is the Activity current where it is logged."""
        if self.logger is None or not self.enabled(category, level) \
                or not self.exports(category):
            return False
        text = message if message is not None else format_message(template, values)
        attributes: dict[str, Any] = {}
        if scope is not None:
            attributes[INVOCATION_ID] = scope.invocation_id
            attributes[_OPERATION_NAME] = scope.function_name
        for key, value in values:
            if value is not None:
                attributes[PREFIX + key] = dotnet_text(value)
        if template:
            attributes[PREFIX + ORIGINAL_FORMAT] = template
        attributes[CATEGORY] = category
        attributes[LOG_LEVEL] = level_name(level)
        if event_id:
            attributes[EVENT_ID] = str(event_id)
        if event_name:
            attributes[EVENT_NAME] = event_name
        attributes[PROCESS_ID] = str(os.getpid())
        attributes[HOST_INSTANCE_ID] = HOST_INSTANCE
        context = scope.context if scope is not None else (
            _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None)
        kept = False
        if exception:
            # LogException: the exceptions row, and a traces row when there is a message.
            extra = {FORMATTED_MESSAGE: text} if text else {}
            kept |= self._emit("Exception", level, text, context, {
                **attributes, **extra, "exception.type": exception[0].type_name,
                "exception.message": exception[0].message,
                _EXCEPTIONS: json.dumps([e.__dict__ for e in exception])})
        if text:
            kept |= self._emit("Trace", level, text, context, attributes)
        return kept

    def _emit(self, item_type: str, level: Level, text: str, context: Context | None,
              attributes: dict[str, Any]) -> bool:
        """Adaptive sampling of the host's TelemetryConfiguration (host.json
        samplingSettings), then the exporter."""
        if self.sampling.applies_to(item_type):
            assert self.estimator is not None
            percentage = self.estimator.observe()
            span = get_current_span(context).get_span_context() if context else None
            trace_id = f"{span.trace_id:032x}" if span is not None and span.is_valid else ""
            if not keeps(trace_id, percentage):
                return False
            if percentage < 100.0:
                attributes = {**attributes, _SAMPLE_RATE: percentage}
        if not self.app_insights:  # OTLP: the row's own attributes, nothing for the shaping
            attributes = {k: v for k, v in attributes.items()
                          if k not in _PRIVATE and not k.startswith("exception.")}
        self.logger.emit(_logs.LogRecord(
            context=context, severity_text=level_name(level),
            severity_number=_SEVERITY.get(level, SeverityNumber.INFO), body=text,
            attributes=attributes))
        return True


def shape_log_envelope(envelope: Any, attributes: Any) -> Any:
    """The Python exporter's envelope of a host log, as the host's .NET SDK sends it."""
    attributes = dict(attributes or {})
    tags = dict(envelope.tags or {})
    tags.pop("ai.operation.name", None)
    if attributes.get(_OPERATION_NAME):
        tags["ai.operation.name"] = str(attributes[_OPERATION_NAME])
    if tags.get("ai.operation.id", "").strip("0") == "":
        tags.pop("ai.operation.id", None)  # outside any operation: none, not zeros
        tags.pop("ai.operation.parentId", None)
    elif tags.get("ai.operation.parentId", "").strip("0") == "":
        tags.pop("ai.operation.parentId", None)
    tags.pop("ai.cloud.role", None)
    tags.update(role_tags())
    envelope.tags = tags
    data = envelope.data.base_data
    properties = {k: v for k, v in (data.properties or {}).items()
                  if k not in _PRIVATE and k != "logger_name"}
    data.properties = properties
    if _SAMPLE_RATE in attributes:
        envelope.sample_rate = float(attributes[_SAMPLE_RATE])
    if _EXCEPTIONS in attributes and envelope.data.base_type == "ExceptionData":
        from azure.monitor.opentelemetry.exporter._generated.exporter.models import (
            TelemetryExceptionDetails,
        )

        chain = json.loads(str(attributes[_EXCEPTIONS]))
        details = []
        for index, item in enumerate(chain):
            details.append(TelemetryExceptionDetails(
                id=index + 1, outer_id=index if index else None,
                type_name=item["type_name"], message=item["message"][:32768],
                has_full_stack=bool(item["stack"]), stack=item["stack"][:32768] or None))
        data.exceptions = details
    return envelope

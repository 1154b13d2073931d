"""Envelopes (what the Azure Monitor exporter posts) → rows of the classic App Insights tables.

Column names and meanings follow the Application Insights data model as exposed by the
classic (`requests`, `dependencies`, …) tables; docs/insights-mapping.md has the table.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.dotnet.timespan import parse_timespan

COMMON = ["timestamp", "itemType", "itemId", "operation_Id", "operation_ParentId",
          "operation_Name", "cloud_RoleName", "cloud_RoleInstance", "sdkVersion", "appId",
          "iKey", "itemCount", "customDimensions", "customMeasurements"]

TABLES: dict[str, list[tuple[str, str]]] = {
    "requests": [("id", "VARCHAR"), ("name", "VARCHAR"), ("url", "VARCHAR"),
                 ("source", "VARCHAR"), ("duration", "DOUBLE"), ("success", "BOOLEAN"),
                 ("resultCode", "VARCHAR")],
    "dependencies": [("id", "VARCHAR"), ("name", "VARCHAR"), ("target", "VARCHAR"),
                     ("type", "VARCHAR"), ("data", "VARCHAR"), ("duration", "DOUBLE"),
                     ("success", "BOOLEAN"), ("resultCode", "VARCHAR")],
    "traces": [("message", "VARCHAR"), ("severityLevel", "INTEGER")],
    "exceptions": [("problemId", "VARCHAR"), ("type", "VARCHAR"), ("outerType", "VARCHAR"),
                   ("outerMessage", "VARCHAR"), ("innermostMessage", "VARCHAR"),
                   ("message", "VARCHAR"), ("method", "VARCHAR"), ("severityLevel", "INTEGER"),
                   ("details", "JSON")],
    "customEvents": [("name", "VARCHAR")],
}
_COMMON_TYPES = {"timestamp": "TIMESTAMP", "customDimensions": "JSON",
                 "customMeasurements": "JSON", "itemCount": "INTEGER"}
# Columns added after the first release: files written before get them on open.
_ADDED = ("iKey", "itemCount")
_BASE_TYPES = {"RequestData": ("requests", "request"),
               "RemoteDependencyData": ("dependencies", "dependency"),
               "MessageData": ("traces", "trace"),
               "ExceptionData": ("exceptions", "exception"),
               "EventData": ("customEvents", "customEvent")}
_SEVERITY = {"verbose": 0, "information": 1, "warning": 2, "error": 3, "critical": 4}


class EnvelopeError(ValueError):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"envelope {index}: {field}: {message}")
        self.index = index
        self.field = field


def columns(table: str) -> list[tuple[str, str]]:
    """A table's columns and their DuckDB types, in the order of its CREATE TABLE."""
    return [(c, _COMMON_TYPES.get(c, "VARCHAR")) for c in COMMON] + TABLES[table]


def ddl() -> list[str]:
    statements = []
    for table in TABLES:
        cols = [f'"{c}" {t}' for c, t in columns(table)]
        statements.append(f'CREATE TABLE IF NOT EXISTS "{table}" ({", ".join(cols)})')
        statements += [f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{c}" '
                       f'{_COMMON_TYPES.get(c, "VARCHAR")}' for c in _ADDED]
    return statements


def item_count(sample_rate: Any) -> int:
    """What one stored row stands for: 100 / the sampling percentage the sender applied
    (the envelope's `sampleRate`, 100 when absent), as App Insights fills `itemCount`."""
    try:
        rate = float(sample_rate) if sample_rate is not None else 100.0
    except (TypeError, ValueError):
        return 1
    return max(1, round(100.0 / rate)) if rate > 0 else 1


def app_id(ikey: str | None) -> str | None:
    """`appId` is the Application Insights resource's own id, not its instrumentation key.
    Locally, one stable GUID per key stands for that resource."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"devhost-insights:{ikey}")) if ikey else None


def duration_ms(value: Any) -> float | None:
    """App Insights durations are TimeSpan strings: `d.hh:mm:ss.fffffff`."""
    if value is None:
        return None
    interval = parse_timespan(str(value))
    if interval is None:
        raise ValueError(f"not a duration: {value!r}")
    return interval / timedelta(milliseconds=1)


def _time(value: Any) -> datetime:
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Row:
    table: str
    values: dict[str, Any]


def to_row(index: int, envelope: Any) -> Row | None:
    """One envelope → one row; None for item kinds devhost does not file (metrics)."""
    if not isinstance(envelope, dict):
        raise EnvelopeError(index, "envelope", "must be an object")
    for key in ("name", "time", "data"):
        if key not in envelope:
            raise EnvelopeError(index, key, "is required")
    data = envelope["data"]
    if not isinstance(data, dict) or not isinstance(data.get("baseType"), str) \
            or not isinstance(data.get("baseData"), dict):
        raise EnvelopeError(index, "data", "needs baseType (string) and baseData (object)")
    tags = envelope.get("tags") or {}
    if not isinstance(tags, dict):
        raise EnvelopeError(index, "tags", "must be an object")
    kind = _BASE_TYPES.get(data["baseType"])
    if kind is None:
        return None
    table, item_type = kind
    base = data["baseData"]
    try:
        timestamp = _time(envelope["time"])
    except ValueError as exc:
        raise EnvelopeError(index, "time", str(exc)) from exc
    values: dict[str, Any] = {
        "timestamp": timestamp, "itemType": item_type,
        # A GUID per stored item, as ingestion assigns it (never the span id).
        "itemId": str(uuid.uuid4()),
        "operation_Id": tags.get("ai.operation.id"),
        "operation_ParentId": tags.get("ai.operation.parentId"),
        "operation_Name": tags.get("ai.operation.name"),
        "cloud_RoleName": tags.get("ai.cloud.role"),
        "cloud_RoleInstance": tags.get("ai.cloud.roleInstance"),
        "sdkVersion": tags.get("ai.internal.sdkVersion"),
        "appId": app_id(envelope.get("iKey")),
        "iKey": envelope.get("iKey"),
        "itemCount": item_count(envelope.get("sampleRate")),
        "customDimensions": json.dumps(base.get("properties") or {}),
        "customMeasurements": json.dumps(base.get("measurements") or {}),
    }
    try:
        values.update(_specific(table, base))
    except (ValueError, TypeError) as exc:
        raise EnvelopeError(index, "data.baseData", str(exc)) from exc
    return Row(table, values)


def _specific(table: str, base: dict[str, Any]) -> dict[str, Any]:
    if table == "requests":
        return {"id": base.get("id"), "name": base.get("name"), "url": base.get("url"),
                "source": base.get("source"), "duration": duration_ms(base.get("duration")),
                "success": bool(base.get("success", True)),
                "resultCode": str(base.get("responseCode", ""))}
    if table == "dependencies":
        return {"id": base.get("id"), "name": base.get("name"), "target": base.get("target"),
                "type": base.get("type"), "data": base.get("data"),
                "duration": duration_ms(base.get("duration")),
                "success": bool(base.get("success", True)),
                "resultCode": str(base.get("resultCode", ""))}
    if table == "traces":
        return {"message": base.get("message"),
                "severityLevel": _severity(base.get("severityLevel"))}
    if table == "exceptions":
        details = base.get("exceptions") or []
        outer = details[0] if details else {}
        inner = details[-1] if details else {}
        return {"problemId": base.get("problemId") or outer.get("typeName"),
                "type": outer.get("typeName"), "outerType": outer.get("typeName"),
                "outerMessage": outer.get("message"), "innermostMessage": inner.get("message"),
                "message": outer.get("message"), "method": outer.get("method"),
                "severityLevel": _severity(base.get("severityLevel")),
                "details": json.dumps(details)}
    return {"name": base.get("name")}


def _severity(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return _SEVERITY.get(str(value).lower())

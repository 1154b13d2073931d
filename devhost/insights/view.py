"""A run at a glance: parent → child orchestrations → activities, from the captured tables.

The rows are fetched with KQL (the same shape a workbook query would use) and arranged by
their span links (`operation_ParentId` → `id`) inside the run's one `operation_Id`.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from devhost.insights.query import run_kql

# A Python traceback's frame line (traceback.format_exception), and the frames that are not
# the user's: the interpreter's library, installed packages, the Functions worker.
# Also inside JSON text (`File \"…\"`): a failed orchestration's status carries the activity's
# exception as the Durable extension serializes it (its RemoteStackTrace, JSON-escaped).
_FRAME = re.compile(r'File \\?"([^"\\]+)\\?", line (\d+), in ([\w<>.]+)')
_NOT_USER = ("site-packages", "dist-packages", f"{os.sep}lib{os.sep}python")
_WRAPPED = re.compile(r"(?:^|\n)Exception: ([A-Za-z_][\w.]*): ([^\n]*)")
# The Executing/Executed lines the host writes around every invocation, and its own categories:
# folded by default in the page, as in the portal (devhost/insights/web/kit.js, isHostLog).
_HOST_LOG = re.compile(r"^Execut(ing|ed) 'Functions\.")
_INSTANCE = ('coalesce(tostring(customDimensions["durabletask.task.instance_id"]), '
             'tostring(customDimensions["app.durable.root_instance_id"]))')


@dataclass
class Failure:
    """An exceptions row under a span: what `insights run` prints beneath the failed span."""

    type: str
    message: str
    stack: str

    @classmethod
    def of(cls, kind: Any, outer: Any, innermost: Any, message: Any, stack: str) -> Failure:
        """The user's exception from an exceptions row. A row the host writes for a failed
        invocation may wrap it, as the Functions host does: the worker's RpcException says
        `Result: Failure\nException: <type>: <message>\nStack: <traceback>` in its message
        (azure-functions-host v4.1037.0, src/WebJobs.Script/Workers/Rpc/RpcException.cs):
        the type and message are then taken from there, and the traceback joins the stack."""
        for text in (innermost, message, outer):
            wrapped = _WRAPPED.search(str(text or ""))
            if wrapped:
                return cls(wrapped.group(1), wrapped.group(2).strip(), f"{stack}\n{text}")
        return cls(str(kind or "Exception"), str(outer or message or innermost or ""), stack)

    def user_frame(self, fallback: str = "") -> str:
        """Where the user's code raised: the innermost frame outside the interpreter's
        library and installed packages, from the exception's stack or, when the row carries
        only the message (the host's row of a failed invocation), the span's status."""
        for text in (self.stack, fallback):
            frames = [m for m in _FRAME.finditer(text)
                      if not any(part in m.group(1) for part in _NOT_USER)]
            if frames:
                path, line, function = frames[-1].groups()
                return f"{_shown(path)}:{line} in {function}"
        return ""


def _shown(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _stack(details: Any) -> str:
    """The stacks of an exceptions row's `details` (one entry per exception in the chain)."""
    try:
        parsed = json.loads(details) if isinstance(details, str) else details
    except ValueError:
        return ""
    if not isinstance(parsed, list):
        return ""
    return "\n".join(str(d.get("stack") or "") for d in parsed if isinstance(d, dict))


@dataclass
class Node:
    id: str
    parent_id: str
    name: str
    kind: str
    start: datetime
    duration_ms: float
    success: bool
    instance_id: str
    status_description: str = ""
    logs: list[str] = field(default_factory=list)
    host_logs: set[int] = field(default_factory=set)  # indexes into logs: the host's lines
    exceptions: list[Failure] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)


def operation_of(db: Path, instance_id: str) -> str | None:
    quoted = json.dumps(instance_id)
    _, rows = run_kql(db, f"""union requests, dependencies
| where tostring(customDimensions["durabletask.task.instance_id"]) == {quoted}
    or tostring(customDimensions["app.durable.root_instance_id"]) == {quoted}
| summarize n = count() by operation_Id
| order by n desc""")
    return str(rows[0][0]) if rows else None


def load_run(db: Path, instance_id: str) -> list[Node]:
    """The run's span tree (roots first), with each span's log messages attached."""
    operation = operation_of(db, instance_id)
    return [] if operation is None else load_operation(db, operation)


def load_operation(db: Path, operation: str) -> list[Node]:
    """One operation's span tree (roots first), with each span's log messages attached."""
    op = json.dumps(operation)
    _, spans = run_kql(db, f"""union requests, dependencies
| where operation_Id == {op}
| extend instance = {_INSTANCE},
    status = tostring(customDimensions["otel.status_description"])
| project id, operation_ParentId, name, itemType, timestamp, duration, success, instance, status
| order by timestamp asc""")
    nodes = {str(r[0]): Node(str(r[0]), str(r[1] or ""), str(r[2]), str(r[3]), r[4],
                             float(r[5] or 0.0), bool(r[6]), str(r[7] or ""), str(r[8] or ""))
             for r in spans}
    _, logs = run_kql(db, f"""traces
| where operation_Id == {op}
| project operation_ParentId, message, timestamp,
    category = tostring(customDimensions["Category"])
| order by timestamp asc""")
    for parent_id, message, _, category in logs:
        node = nodes.get(str(parent_id))
        if node is not None:
            if _HOST_LOG.match(str(message)) or str(category or "").startswith("Host."):
                node.host_logs.add(len(node.logs))
            node.logs.append(str(message))
    _, exceptions = run_kql(db, f"""exceptions
| where operation_Id == {op}
| order by timestamp asc
| project operation_ParentId, type, outerMessage, innermostMessage, message, details""")
    for parent_id, kind, outer, innermost, message, details in exceptions:
        if str(parent_id) in nodes:
            nodes[str(parent_id)].exceptions.append(
                Failure.of(kind, outer, innermost, message, _stack(details)))
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


def render_text(roots: list[Node]) -> str:
    lines: list[str] = []

    def walk(node: Node, prefix: str, last: bool, top: bool, reasons: str = "") -> None:
        # A failed orchestration's status carries the worker's traceback of the activity
        # that failed it: the frame of an exception row without a stack of its own.
        reasons = f"{node.status_description}\n{reasons}"
        mark = "" if top else ("└─ " if last else "├─ ")
        status = "✓" if node.success else "✗"
        instance = f"  [{node.instance_id}]" if node.instance_id else ""
        lines.append(f"{prefix}{mark}{status} {node.name}  {node.duration_ms:.1f} ms{instance}")
        inner = prefix + ("" if top else ("   " if last else "│  "))
        bar = "│  " if node.children else "   "
        for failure in node.exceptions:
            where = failure.user_frame(reasons)
            lines.append(f"{inner}{bar}! {failure.type}: {failure.message}"
                         + (f"  (at {where})" if where else ""))
        if not node.success and not node.exceptions and node.status_description:
            lines.append(f"{inner}{bar}! {node.status_description.splitlines()[0].strip()}")
        for message in node.logs:
            lines.append(f"{inner}{bar}· log: {message}")
        for i, child in enumerate(node.children):
            walk(child, inner, i == len(node.children) - 1, False, reasons)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)


def _failures(node: Node, reasons: str) -> list[str]:
    """What the text tree prints under a failed span: each exception with where the user's
    code raised it, or the span's status when it has no exceptions row."""
    lines = []
    for failure in node.exceptions:
        where = failure.user_frame(reasons)
        lines.append(f"{failure.type}: {failure.message}" + (f"  (at {where})" if where else ""))
    if not node.success and not node.exceptions and node.status_description:
        lines.append(node.status_description.splitlines()[0].strip())
    return lines


def render_html(roots: list[Node], title: str) -> str:
    """A self-contained waterfall page: inline CSS, no scripts. Under a failed span its
    exceptions, as `render_text` prints them; the host's Executing/Executed lines folded
    behind a checkbox (CSS only), as the portal does; durations in their own column."""
    flat: list[tuple[int, Node, str]] = []

    def walk(node: Node, depth: int, reasons: str) -> None:
        reasons = f"{node.status_description}\n{reasons}"
        flat.append((depth, node, reasons))
        for child in node.children:
            walk(child, depth + 1, reasons)

    for root in roots:
        walk(root, 0, "")
    if not flat:
        return f"<!doctype html><title>{html.escape(title)}</title><p>No spans found.</p>"
    start = min(n.start for _, n, _ in flat)
    end = max(n.start.timestamp() * 1000 + n.duration_ms for _, n, _ in flat)
    total = max(end - start.timestamp() * 1000, 1.0)
    rows = []
    for depth, node, reasons in flat:
        left = (node.start.timestamp() * 1000 - start.timestamp() * 1000) / total * 100
        width = max(node.duration_ms / total * 100, 0.3)
        css = "ok" if node.success else "failed"
        label = html.escape(node.name)
        instance = html.escape(node.instance_id)
        errors = "".join(f"<div class='err'>! {html.escape(line)}</div>"
                         for line in _failures(node, reasons))
        logs = "".join(
            f"<div class='log{' host' if i in node.host_logs else ''}'>· {html.escape(m)}</div>"
            for i, m in enumerate(node.logs))
        rows.append(
            f"<div class='row {css}' data-name='{label}' data-instance='{instance}'>"
            f"<div class='label' style='padding-left:{depth * 16}px'><span class='name'>{label}"
            f"</span><span class='inst'>{instance}</span>{errors}{logs}</div>"
            f"<div class='ms'>{node.duration_ms:.1f} ms</div>"
            f"<div class='lane'><div class='bar {css}' style='left:{left:.2f}%;"
            f"width:{width:.2f}%' title='{node.duration_ms:.1f} ms'></div></div></div>")
    hosts = sum(len(n.host_logs) for _, n, _ in flat)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 24px; color: #1b1b1b; }}
h1 {{ font-size: 16px; }}
.row {{ display: flex; border-bottom: 1px solid #eee; min-height: 26px; align-items: flex-start; }}
.label {{ width: 50%; overflow: hidden; padding: 3px 0; }}
.row.failed .name {{ color: #a4262c; font-weight: 600; }}
.inst {{ color: #777; margin-left: 8px; font-size: 11px; }}
.err {{ color: #a4262c; font-size: 12px; margin-left: 12px; overflow-wrap: anywhere; }}
.log {{ color: #555; font-size: 11px; margin-left: 12px; }}
.log.host {{ display: none; }}
#show-host:checked ~ .waterfall .log.host {{ display: block; }}
.ms {{ width: 80px; text-align: right; padding: 4px 8px 0 0; font-size: 11px; color: #555;
  font-variant-numeric: tabular-nums; }}
.lane {{ position: relative; flex: 1; height: 22px; }}
.bar {{ position: absolute; top: 3px; height: 12px; border-radius: 2px; min-width: 2px; }}
.bar.ok {{ background: #2f7ed8; }} .bar.failed {{ background: #d9534f; }}
</style></head><body><h1>{html.escape(title)}</h1>
<input type="checkbox" id="show-host"><label for="show-host"> show the host's
Executing/Executed lines ({hosts})</label>
<div class="waterfall">{''.join(rows)}</div></body></html>"""


def describe(roots: list[Node]) -> dict[str, Any]:
    """A compact summary (for JSON output): names and instance ids in tree order."""
    def walk(node: Node) -> dict[str, Any]:
        return {"name": node.name, "instance": node.instance_id, "success": node.success,
                "durationMs": round(node.duration_ms, 3), "logs": node.logs,
                "children": [walk(c) for c in node.children]}

    return {"spans": [walk(r) for r in roots]}

"""SQLite store for instances, their history, their inboxes and pending activity work.

Everything an orchestration needs to resume lives here, and every state change of an
episode is one transaction, so a `kill -9` at any moment leaves either the old or the new
state: never half of one. WAL with synchronous=NORMAL survives process crashes (not power
loss), which is what a local host needs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.durable.history import ANSWER_TYPES, Event, RuntimeStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    runtime_status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_task_id INTEGER,
    trace_id TEXT,
    span_id TEXT,
    parent_span_id TEXT,
    trace_state TEXT,
    sampled INTEGER NOT NULL DEFAULT 1,
    actions_seen INTEGER NOT NULL DEFAULT 0,
    next_event_id INTEGER NOT NULL DEFAULT 0,
    retries TEXT NOT NULL DEFAULT '{}',
    trace_start TEXT
);
CREATE INDEX IF NOT EXISTS instances_status ON instances(runtime_status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    event TEXT NOT NULL,
    visible_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE TABLE IF NOT EXISTS work_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    attempt INTEGER NOT NULL DEFAULT 1
);
"""

TERMINAL = (RuntimeStatus.COMPLETED, RuntimeStatus.FAILED, RuntimeStatus.TERMINATED)


@dataclass
class Instance:
    instance_id: str
    name: str
    execution_id: str
    runtime_status: RuntimeStatus
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: str
    last_updated_time: str
    parent_instance_id: str | None
    parent_task_id: int | None
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    trace_state: str | None
    sampled: bool = True
    actions_seen: int = 0
    next_event_id: int = 0
    retries: dict[str, Any] = field(default_factory=dict)
    # When the orchestration span started: its first episode (DistributedTraceContext
    # .ActivityStartTime), kept so the one span emitted at completion starts there.
    trace_start: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL


@dataclass(frozen=True)
class InboxMessage:
    id: int
    instance_id: str
    event: Event
    visible_at: float


@dataclass(frozen=True)
class WorkItem:
    id: int
    instance_id: str
    execution_id: str
    task_id: int
    name: str
    input: str | None
    attempt: int


_INSTANCE_COLUMNS = [f for f in Instance.__dataclass_fields__]


class Store:
    """One connection, used from the engine's event-loop thread only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Stores written by an older devhost lack newer nullable columns: add them."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(instances)")}
        for column, kind in (("trace_start", "TEXT"),):
            if column not in present:
                self.db.execute(f"ALTER TABLE instances ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- instances -------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> Instance | None:
        row = self.db.execute(
            f"SELECT {', '.join(_INSTANCE_COLUMNS)} FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return self._instance(row) if row else None

    def _instance(self, row: tuple[Any, ...]) -> Instance:
        values = dict(zip(_INSTANCE_COLUMNS, row, strict=True))
        values["retries"] = json.loads(values["retries"] or "{}")
        values["sampled"] = bool(values["sampled"])
        values["runtime_status"] = RuntimeStatus(values["runtime_status"])
        return Instance(**values)

    def put_instance(self, inst: Instance) -> None:
        values = [getattr(inst, c) for c in _INSTANCE_COLUMNS]
        values[_INSTANCE_COLUMNS.index("retries")] = json.dumps(inst.retries)
        self.db.execute(
            f"INSERT OR REPLACE INTO instances ({', '.join(_INSTANCE_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _INSTANCE_COLUMNS)})",
            values,
        )

    def query_instances(self, statuses: list[str] | None = None, created_from: str | None = None,
                        created_to: str | None = None, prefix: str | None = None,
                        limit: int | None = None, offset: int = 0) -> list[Instance]:
        sql = f"SELECT {', '.join(_INSTANCE_COLUMNS)} FROM instances WHERE 1=1"
        args: list[Any] = []
        if statuses:
            sql += f" AND runtime_status IN ({', '.join('?' for _ in statuses)})"
            args += statuses
        if created_from:
            sql += " AND created_time >= ?"
            args.append(created_from)
        if created_to:
            sql += " AND created_time <= ?"
            args.append(created_to)
        if prefix:
            sql += " AND instance_id LIKE ? ESCAPE '\\'"
            args.append(prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        sql += " ORDER BY created_time, instance_id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        return [self._instance(r) for r in self.db.execute(sql, args)]

    def delete_instance(self, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "work_items"):
            self.db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))

    # -- history ---------------------------------------------------------------------
    def history(self, instance_id: str) -> list[Event]:
        rows = self.db.execute(
            "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def append_history(self, instance_id: str, start_seq: int, events: list[Event]) -> None:
        self.db.executemany(
            "INSERT INTO history (instance_id, seq, event) VALUES (?, ?, ?)",
            [(instance_id, start_seq + i, json.dumps(e)) for i, e in enumerate(events)],
        )

    def clear_history(self, instance_id: str) -> None:
        self.db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))

    # -- inbox -----------------------------------------------------------------------
    def send(self, instance_id: str, ev: Event, visible_at: float = 0.0) -> int:
        cur = self.db.execute(
            "INSERT INTO inbox (instance_id, event, visible_at) VALUES (?, ?, ?)",
            (instance_id, json.dumps(ev), visible_at),
        )
        return int(cur.lastrowid or 0)

    def inbox(self, instance_id: str, now: float) -> list[InboxMessage]:
        rows = self.db.execute(
            "SELECT id, instance_id, event, visible_at FROM inbox "
            "WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
            (instance_id, now),
        )
        return [InboxMessage(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def answers_waiting(self, instance_id: str, now: float) -> int:
        """How many deliverable messages for `instance_id` answer an activity or a
        sub-orchestration (history.ANSWER_TYPES), counted by SQLite without decoding them."""
        marks = ", ".join("?" for _ in ANSWER_TYPES)
        (count,) = self.db.execute(
            "SELECT count(*) FROM inbox WHERE instance_id = ? AND visible_at <= ? "
            f"AND json_extract(event, '$.EventType') IN ({marks})",
            (instance_id, now, *(int(t) for t in ANSWER_TYPES))).fetchone()
        return int(count)

    def delete_messages(self, ids: list[int]) -> None:
        self.db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def drop_stale_messages(self, instance_id: str, keep: int) -> None:
        self.db.execute(
            "DELETE FROM inbox WHERE instance_id = ? "
            "AND json_extract(event, '$.EventType') != ?", (instance_id, keep))

    def pending_deliveries(self) -> list[tuple[str, float]]:
        """(instance_id, earliest visible_at) for every instance with inbox messages."""
        rows = self.db.execute(
            "SELECT instance_id, MIN(visible_at) FROM inbox GROUP BY instance_id"
        )
        return [(r[0], r[1]) for r in rows]

    # -- activity work ---------------------------------------------------------------
    def add_work_item(self, instance_id: str, execution_id: str, task_id: int, name: str,
                      input_json: str | None, attempt: int = 1) -> WorkItem:
        cur = self.db.execute(
            "INSERT INTO work_items (instance_id, execution_id, task_id, name, input, attempt) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (instance_id, execution_id, task_id, name, input_json, attempt),
        )
        return WorkItem(int(cur.lastrowid or 0), instance_id, execution_id, task_id, name,
                        input_json, attempt)

    def work_items(self) -> list[WorkItem]:
        rows = self.db.execute(
            "SELECT id, instance_id, execution_id, task_id, name, input, attempt "
            "FROM work_items ORDER BY id"
        )
        return [WorkItem(*r) for r in rows]

    def delete_work_item(self, item_id: int) -> bool:
        cur = self.db.execute("DELETE FROM work_items WHERE id = ?", (item_id,))
        return cur.rowcount > 0

"""The DuckDB file behind local Application Insights.

DuckDB lets one process write a file, or many read it. Opening and closing the file costs
about 15 ms, more than filing a post, so the ingestion endpoint keeps its connection open
while posts keep coming and closes it once they pause, and at least once a second under load,
staying closed briefly so `devhost insights query` from another shell can read (both sides
retry briefly when they collide). Readers in the writing process share its connection.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from .envelopes import COMMON, TABLES, Row, ddl

T = TypeVar("T")

IDLE_CLOSE_S = 0.2  # close the file once no post came for this long
MAX_HOLD_S = 1.0  # ...and at least this often under sustained load,
READER_GAP_S = 0.15  # ...then stay closed this long so other processes' readers get in

# Stores of this process that hold their file open for writing, by path.
_writers: weakref.WeakValueDictionary[str, InsightsStore] = weakref.WeakValueDictionary()


def _retry(action: Callable[[], T], attempts: int = 50) -> T:
    for attempt in range(attempts):
        try:
            return action()
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


class InsightsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key = str(path.resolve())
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = self._used = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            con = self._writer()
            for statement in ddl():
                con.execute(statement)

    def _writer(self) -> duckdb.DuckDBPyConnection:
        """The open write connection (under the lock); a closer thread releases it."""
        if self._con is None:
            self._con = _retry(lambda: duckdb.connect(str(self.path)))
            self._opened = time.monotonic()
            _writers[self._key] = self
            threading.Thread(target=self._close_when_quiet, daemon=True,
                             name="insights-closer").start()
        return self._con

    def _close_when_quiet(self) -> None:
        while True:
            time.sleep(IDLE_CLOSE_S / 2)
            with self._lock:
                if self._con is None:
                    return
                now = time.monotonic()
                held_long = now - self._opened >= MAX_HOLD_S
                if now - self._used >= IDLE_CLOSE_S or held_long:
                    self.close()
                    if held_long:
                        time.sleep(READER_GAP_S)  # holding the lock: no reopen meanwhile
                    return

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
                _writers.pop(self._key, None)

    def insert(self, rows: list[Row]) -> None:
        """All rows of one post in one transaction: a post is filed whole or not at all."""
        with self._lock:
            con = self._writer()
            con.execute("BEGIN TRANSACTION")
            try:
                for table, columns in TABLES.items():
                    names = COMMON + [c for c, _ in columns]
                    batch = [[r.values.get(n) for n in names] for r in rows if r.table == table]
                    if batch:
                        quoted = ", ".join(f'"{n}"' for n in names)
                        marks = ", ".join("?" for _ in names)
                        con.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})',
                                        batch)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                self._used = time.monotonic()

    def counts(self) -> dict[str, int]:
        with self.reader() as con:
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # type: ignore[index]
                    for t in TABLES}

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = (self._con.cursor() if self._con is not None
                   else _retry(lambda: duckdb.connect(str(self.path), read_only=True)))
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()


def open_reader(path: Path) -> Any:
    """A read-only connection, shared with this process's writer when it holds the file."""
    writer = _writers.get(str(path.resolve()))
    if writer is not None:
        return writer.reader()
    if not path.exists():
        raise FileNotFoundError(f"no insights database at {path} (run something on devhost "
                                "first, or pass --db)")
    return InsightsStore(path).reader()

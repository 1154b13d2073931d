"""The DuckDB file behind local Application Insights.

DuckDB lets one process write a file, or many processes read it, never both at once. So the
process that files posts (the ingestion endpoint) is the only one that ever opens the file for
writing: it holds it open for as long as it serves, and other processes ask it to run their
queries over its query API (see `serving` and `queryapi`). A reader opens the file read-only
only when no process holds it: it runs no DDL and starts no thread.

No thread owns a connection. The writer is closed by its owner, or at interpreter exit, on
the main thread, before the interpreter tears down what DuckDB's native state refers to.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb

from devhost.insights.envelopes import TABLES, Row, columns, ddl
from devhost.insights.errors import StoreBusyError

INSERT_CHUNK = 256  # rows per statement: DuckDB binds every value as a parameter
OPEN_ATTEMPTS = 20  # x 50 ms: a writer that is just closing gets a second to let go
OPEN_RETRY_S = 0.05
CLOSE_WAIT_S = 5.0  # for interrupted queries to return their cursors

# Stores of this process that hold their file open for writing, by resolved path.
_writers: weakref.WeakValueDictionary[str, InsightsStore] = weakref.WeakValueDictionary()


def _key(path: Path) -> str:
    return str(path.resolve())


def _retry[T](action: Callable[[], T], attempts: int = OPEN_ATTEMPTS) -> T:
    for attempt in range(attempts):
        try:
            return action()
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(OPEN_RETRY_S)
    raise AssertionError("unreachable")


class InsightsStore:
    """The one writer of a database, open from construction until `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        # Cursors of queries under way: close() interrupts them and waits for them to let go.
        self._cursors: set[duckdb.DuckDBPyConnection] = set()
        self._released = threading.Condition(self._lock)
        self._closing = False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con: duckdb.DuckDBPyConnection | None = _retry(
                lambda: duckdb.connect(str(path)))
        except duckdb.IOException as exc:  # DuckDB's file lock: one writer per database
            holder = re.search(r"PID (\d+)", str(exc))
            raise StoreBusyError(
                f"{path} is held by another process"
                f"{f' (PID {holder.group(1)})' if holder else ''}, such as a devhost on the "
                "same data folder: stop it or pass --data-dir to use another folder") from exc
        for statement in ddl():
            self._con.execute(statement)
        _writers[_key(path)] = self
        atexit.register(self.close)

    def interrupt(self) -> None:
        """Stop the queries under way (they fail with DuckDB's InterruptException) and wait
        until their cursors are back. Again and again while waiting: a query may have been
        between two statements when the last interrupt came."""
        with self._lock:
            deadline = time.monotonic() + CLOSE_WAIT_S
            while self._cursors and time.monotonic() < deadline:
                for cursor in list(self._cursors):
                    cursor.interrupt()
                self._released.wait(0.05)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                # A query still running would keep the connection busy and the file held;
                # none may start while we wait for those to stop.
                self._closing = True
                self.interrupt()
                self._con.close()
                self._con = None
                if _writers.get(_key(self.path)) is self:
                    del _writers[_key(self.path)]
        atexit.unregister(self.close)

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._con is None or self._closing:
            raise RuntimeError(f"insights store {self.path} is closed")
        return self._con

    def insert(self, rows: list[Row]) -> None:
        """All rows of one post in one transaction: a post is filed whole or not at all.

        A few multi-row INSERTs per table (`insert_columns`). Should DuckDB refuse to bind
        such a statement where it takes the values one by one, the post is filed again row by
        row, as it was before."""
        with self._lock:
            try:
                self._file(rows, _insert_rows)
            except (duckdb.ConversionException, duckdb.InvalidInputException,
                    duckdb.BinderException):
                self._file(rows, _insert_row_by_row)

    def _file(self, rows: list[Row],
              insert: Callable[[duckdb.DuckDBPyConnection, str, list[Row]], None]) -> None:
        con = self._open()
        con.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES:
                batch = [r for r in rows if r.table == table]
                if batch:
                    insert(con, table, batch)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def counts(self) -> dict[str, int]:
        with self.reader() as con:
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # type: ignore[index]
                    for t in TABLES}

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the writer's connection: sees every committed post. The lock covers
        only its creation: a cursor is a connection of its own to the same database, so a
        query reads its snapshot while posts keep being filed."""
        with self._lock:
            con = self._open().cursor()
            self._cursors.add(con)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()
            with self._lock:
                self._cursors.discard(con)
                self._released.notify_all()


def insert_columns(con: duckdb.DuckDBPyConnection, table: str,
                   rows: Sequence[Sequence[Any]]) -> None:
    """`rows` (values in `columns(table)` order) in multi-row `INSERT ... VALUES` statements
    of up to INSERT_CHUNK rows. DuckDB's `executemany` runs its statement once per row (about
    0.8 ms a row on the bench machine; this is about 0.15 ms). Each value is still bound and
    cast on its own, as `executemany` does: a 3 beside a 2.5 in a text column stays '3'.
    (One list parameter per column, `INSERT ... SELECT unnest(?::T[])`, was faster still but
    made DuckDB pick one type per list, and under load a query that began after a post's
    commit sometimes did not see it: tests/devhost/insights/test_store.py.)"""
    typed = columns(table)
    quoted = ", ".join(f'"{name}"' for name, _ in typed)
    row_marks = "(" + ", ".join("?" for _ in typed) + ")"
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        con.execute(f'INSERT INTO "{table}" ({quoted}) VALUES '
                    + ", ".join(row_marks for _ in chunk),
                    [value for row in chunk for value in row])


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
    names = [name for name, _ in columns(table)]
    insert_columns(con, table, [[r.values.get(name) for name in names] for r in rows])


def _insert_row_by_row(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
    names = [name for name, _ in columns(table)]
    quoted = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    con.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})',
                    [[r.values.get(n) for n in names] for r in rows])


def writer_of(path: Path) -> InsightsStore | None:
    """This process's writer for `path`, if it holds one."""
    return _writers.get(_key(path))


@contextmanager
def read_only(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a database no process is writing. Read-only, so a WAL left by a killed writer is
    replayed in memory and the file is never changed."""
    if not path.exists():
        raise FileNotFoundError(f"no insights database at {path} (run something on devhost "
                                "first, or pass --db)")
    try:
        con = _retry(lambda: duckdb.connect(str(path), read_only=True))
    except duckdb.IOException as exc:
        raise StoreBusyError(f"{path} is held by another process that does not serve queries "
                             f"(a devhost that is not running `start`?): {exc}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def local_reader(path: Path) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A connection in whichever way this process may read `path`: on its own writer's
    connection when it files the posts, else a read-only open."""
    writer = writer_of(path)
    return writer.reader() if writer is not None else read_only(path)

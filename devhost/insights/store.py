"""The DuckDB file behind local Application Insights.

DuckDB lets one process write a file, or many read it. The ingestion endpoint therefore
opens the file per posted batch and closes it again, so `devhost insights query` from
another shell can read between batches (both retry briefly when they collide).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from .envelopes import COMMON, TABLES, Row, ddl

T = TypeVar("T")


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
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            for statement in ddl():
                con.execute(statement)

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = _retry(lambda: duckdb.connect(str(self.path), read_only=read_only))
        try:
            yield con
        finally:
            con.close()

    def insert(self, rows: list[Row]) -> None:
        """All rows of one post in one transaction: a post is filed whole or not at all."""
        with self._lock, self._connect() as con:
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

    def counts(self) -> dict[str, int]:
        with self._lock, self._connect(read_only=True) as con:
            return {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # type: ignore[index]
                    for t in TABLES}

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, self._connect(read_only=True) as con:
            con.execute("SET TimeZone = 'UTC'")
            yield con


def open_reader(path: Path) -> Any:
    """A read-only connection for queries from outside the writing process."""
    if not path.exists():
        raise FileNotFoundError(f"no insights database at {path} (run something on devhost "
                                "first, or pass --db)")
    return InsightsStore(path).reader()

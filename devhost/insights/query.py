"""Run KQL on a local insights database from whichever process asks.

In the process that writes the database, on its connection; else through the query API of the
devhost that serves it; else on a read-only open of the file (nobody holds it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from devhost.insights.errors import QueryError
from devhost.insights.remote import remote_query
from devhost.insights.serving import server_of

__all__ = ["QueryError", "run_kql"]


def _refused(exc: OSError) -> bool:
    """Nobody listens where the marker points: its devhost is gone (killed, or a reused pid)."""
    return isinstance(exc, ConnectionRefusedError) or isinstance(
        getattr(exc, "reason", None), ConnectionRefusedError)


def run_kql(db: Path, kql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows). DuckDB and the KQL translator load only for a query this
    process answers itself: through a devhost, the CLI needs neither."""
    # A process that never loaded the store holds no writer of any database.
    store = sys.modules.get("devhost.insights.store")
    writer = store.writer_of(db) if store is not None else None
    url = server_of(db) if writer is None else None
    if url is not None:
        try:
            return remote_query(url, kql)
        except OSError as exc:
            if not _refused(exc):
                raise QueryError(f"the devhost serving {db} at {url} did not answer: "
                                 f"{exc}") from exc
    from devhost.insights.kql import execute
    from devhost.insights.store import local_reader

    with local_reader(db) as con:
        names, _, rows = execute(con, kql)
        return names, rows

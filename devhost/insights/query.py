"""Run KQL on a local insights database from whichever process asks.

In the process that writes the database, on its connection; else through the query API of the
devhost that serves it; else on a read-only open of the file (nobody holds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devhost.insights.kql import QueryError, execute
from devhost.insights.queryapi import remote_query
from devhost.insights.serving import server_of
from devhost.insights.store import local_reader, writer_of

__all__ = ["QueryError", "run_kql"]


def _refused(exc: OSError) -> bool:
    """Nobody listens where the marker points: its devhost is gone (killed, or a reused pid)."""
    return isinstance(exc, ConnectionRefusedError) or isinstance(
        getattr(exc, "reason", None), ConnectionRefusedError)


def run_kql(db: Path, kql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows)."""
    url = server_of(db) if writer_of(db) is None else None
    if url is not None:
        try:
            return remote_query(url, kql)
        except OSError as exc:
            if not _refused(exc):
                raise QueryError(f"the devhost serving {db} at {url} did not answer: "
                                 f"{exc}") from exc
    with local_reader(db) as con:
        names, _, rows = execute(con, kql)
        return names, rows

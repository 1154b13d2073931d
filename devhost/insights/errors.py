"""The errors of querying local insights, whichever way the query goes (the KQL engine, the
query API's client, the store), kept apart so a CLI that asks a running devhost needs none
of DuckDB."""

from __future__ import annotations


class QueryError(Exception):
    """A query that cannot run; `field` is set when the query itself is at fault (the CLI's
    `kql` argument), not the store or the devhost that serves it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StoreBusyError(Exception):
    """Another process holds the database for writing and does not serve queries."""

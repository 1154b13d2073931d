"""KQL over the captured tables, with the duckdb-kql translator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb_kql

from .store import open_reader


class QueryError(Exception):
    pass


def run_kql(db: Path, kql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows). Unsupported KQL is reported by the construct's name."""
    with open_reader(db) as con:
        try:
            relation = duckdb_kql.kql(con, kql)
        except duckdb_kql.KqlUnsupportedError as exc:
            raise QueryError(f"unsupported by the local KQL engine (duckdb-kql): {exc}") from exc
        except duckdb_kql.KqlError as exc:
            raise QueryError(f"KQL error: {exc}") from exc
        return list(relation.columns), relation.fetchall()

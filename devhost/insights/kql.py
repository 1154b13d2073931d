"""KQL over the captured tables, with the duckdb-kql translator."""

from __future__ import annotations

from typing import Any

import duckdb
import duckdb_kql


class QueryError(Exception):
    pass


def execute(con: duckdb.DuckDBPyConnection, kql: str
            ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """(column names, DuckDB type names, rows). Unsupported KQL is reported by the
    construct's name."""
    try:
        relation = duckdb_kql.kql(con, kql)
    except duckdb_kql.KqlUnsupportedError as exc:
        raise QueryError(f"unsupported by the local KQL engine (duckdb-kql): {exc}") from exc
    except duckdb_kql.KqlError as exc:
        raise QueryError(f"KQL error: {exc}") from exc
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from exc
    return list(relation.columns), [str(t) for t in relation.types], relation.fetchall()

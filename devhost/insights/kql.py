"""KQL over the captured tables, with the duckdb-kql translator.

A query that fails says what is wrong in the query's own terms, as the Log Analytics editor
does: the unknown table, column or operator by name, where it stands in the KQL (line and
column, 1-based), and the nearest names that exist. DuckDB's and the parser's messages speak
of the SQL the query was translated to ("Binder Error: … referenced that exists in the SELECT
clause") or of the token after the mistake ("mismatched input '|'"), so they are kept only
when nothing better can be said.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import duckdb
import duckdb_kql

from devhost.insights.errors import QueryError

__all__ = ["QueryError", "execute"]


# KQL's tabular operators (learn.microsoft.com/kusto/query/queries: "Tabular operators"):
# the word after each `|`. Two-word forms (`order by`, `sort by`) start with these.
OPERATORS = frozenset("""
as consume count distinct evaluate extend externaldata facet find fork getschema invoke join
limit lookup make-graph make-series mv-apply mv-expand order parse parse-kv parse-where
partition project project-away project-keep project-rename project-reorder range reduce render
sample sample-distinct scan search serialize sort summarize take top top-hitters top-nested
union where graph-match graph-to-table macro-expand filter
""".split())
_STRING = re.compile(r"""@?"(?:[^"\\\n]|\\.)*"|@?'(?:[^'\\\n]|\\.)*'""")
_QUOTED = re.compile(r'"([^"]+)"')
_COMMENT = re.compile(r"//[^\n]*")


def execute(con: duckdb.DuckDBPyConnection, kql: str
            ) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """(column names, DuckDB type names, rows)."""
    try:
        relation = duckdb_kql.kql(con, kql)
        return list(relation.columns), [str(t) for t in relation.types], relation.fetchall()
    except duckdb_kql.KqlUnsupportedError as exc:
        raise QueryError(f"unsupported by the local KQL engine (duckdb-kql): {exc}",
                         "kql") from exc
    except duckdb_kql.KqlSchemaError as exc:
        raise QueryError(unknown_name(con, kql, exc) or f"KQL error: {exc}", "kql") from exc
    except duckdb_kql.KqlError as exc:
        raise QueryError(unknown_operator(kql) or f"KQL error: {exc}", "kql") from exc
    except duckdb.Error as exc:
        raise QueryError(unknown_name(con, kql, exc) or f"query failed: {exc}", "kql") from exc


def _code(kql: str) -> str:
    """The query with its string literals and `//` comments blanked, so names are only found
    where they are code."""
    return _COMMENT.sub(lambda m: " " * len(m.group(0)),
                        _STRING.sub(lambda m: " " * len(m.group(0)), kql))


def _position(kql: str, offset: int) -> str:
    line = kql.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - (kql.rfind(chr(10), 0, offset) + 1) + 1}"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_operator(kql: str) -> str | None:
    """The first word after a `|` that is no tabular operator. The parser reports the token
    after it (often the next `|`), which points past the mistake."""
    code = _code(kql)
    for match in re.finditer(r"\|\s*([A-Za-z_][\w-]*)", code):
        word = match.group(1)
        if word.lower() not in OPERATORS:
            return (f"unknown operator {word!r} at {_position(kql, match.start(1))}"
                    f"{_suggest(word.lower(), sorted(OPERATORS))}")
    return None


def unknown_name(con: duckdb.DuckDBPyConnection, kql: str,
                 error: duckdb.Error | duckdb_kql.KqlSchemaError) -> str | None:
    """A table or column DuckDB could not find, named as the KQL names it."""
    tables: dict[str, list[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position").fetchall():
        tables.setdefault(table, []).append(column)
    code = _code(kql)
    if isinstance(error, duckdb_kql.KqlSchemaError):
        if not str(error.hint or "").startswith("unknown table"):
            return None  # a collision or a missing schema: duckdb-kql's own words say it
        candidates = [error.name]
    else:
        candidates = re.findall(r"name (\w+)", str(error)) + _QUOTED.findall(str(error))
    if isinstance(error, duckdb.CatalogException | duckdb_kql.KqlSchemaError):
        for name in candidates:
            at = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", code)
            if at and name not in tables:
                return (f"unknown table {name!r} at {_position(kql, at.start())}; "
                        f"tables: {', '.join(sorted(tables))}")
    if isinstance(error, duckdb.BinderException):
        columns = sorted({c for cs in tables.values() for c in cs})
        for name in _QUOTED.findall(str(error)):
            at = re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", code)
            if at and name not in columns:
                return (f"unknown column {name!r} at {_position(kql, at.start())}"
                        f"{_suggest(name, columns)}")
    return None

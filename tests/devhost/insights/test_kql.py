"""A query that fails names what is wrong in KQL's own terms: the unknown table, column or
operator, its line and column in the query, and the nearest names that exist (what the Log
Analytics editor underlines), never the SQL it was translated to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from devhost.insights.cli import main
from devhost.insights.envelopes import ddl
from devhost.insights.kql import QueryError, execute


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        for statement in ddl():
            connection.execute(statement)
        yield connection


@pytest.mark.parametrize(("kql", "message"), [
    ("requests | whre name == 'x'",
     "unknown operator 'whre' at line 1, column 12; did you mean 'where'?"),
    ("requests | take 1 | frobnicate", "unknown operator 'frobnicate' at line 1, column 21"),
    ("requests | project nonexistent_col",
     "unknown column 'nonexistent_col' at line 1, column 20"),
    ("requests\n| where duraton > 1",
     "unknown column 'duraton' at line 2, column 9; did you mean 'duration'?"),
    ("requests | summarize count() by bogus", "unknown column 'bogus' at line 1, column 33"),
    ("requestz | take 1", "unknown table 'requestz' at line 1, column 1; tables: "
     "customEvents, dependencies, exceptions, requests, traces"),
    ("union requests, tracez | count", "unknown table 'tracez' at line 1, column 17"),
])
def test_a_mistake_is_named_where_it_stands(con: duckdb.DuckDBPyConnection, kql: str,
                                            message: str) -> None:
    with pytest.raises(QueryError) as caught:
        execute(con, kql)
    assert str(caught.value).startswith(message)


def test_a_collision_keeps_duckdb_kqls_own_explanation(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError) as caught:
        execute(con, "requests | project Name, name")
    assert "differ only in case" in str(caught.value) and "unknown" not in str(caught.value)


def test_a_comment_is_not_code(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError) as caught:
        execute(con, "requests\n// | todo: fix\n| take 1 1")
    assert "todo" not in str(caught.value)


def test_words_inside_strings_are_not_operators_or_columns(
        con: duckdb.DuckDBPyConnection) -> None:
    columns, _types, rows = execute(con, "requests | where name == 'a | whre' | project name")
    assert (columns, rows) == (["name"], [])


def test_the_cli_prints_one_json_line_and_exits_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "insights.duckdb"
    with duckdb.connect(str(db)) as connection:
        for statement in ddl():
            connection.execute(statement)
    assert main(["query", "--db", str(db), "requests | whre name == 'x'"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert json.loads(err) == {"error": "unknown operator 'whre' at line 1, column 12; "
                                        "did you mean 'where'?", "field": "kql"}

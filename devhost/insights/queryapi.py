"""The query API of local Application Insights, shaped like App Insights' own REST API
(`POST /v1/apps/{app}/query` with `{"query": "<kql>"}`, answered with typed tables).

It exists so another process can query a database a running devhost holds for writing:
`devhost insights query` asks the devhost instead of opening the file. The portal's pages ask
`POST /insights/api/query` (`{"query": "<kql>", "parameters": {...}}`), which substitutes
workbook parameters first (see `parameters`). Both take KQL only, translated by duckdb-kql,
and run it in a transaction that is rolled back: nothing a query does is kept. Values travel as App
Insights sends them (datetimes as ISO 8601 text) and the client turns them back into the
Python values a local read gives, so callers cannot tell the two paths apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import duckdb
from aiohttp import web

from devhost.insights.errors import QueryError
from devhost.insights.parameters import ParameterError, TimeRange, substitute
from devhost.insights.portal import local_only
from devhost.insights.remote import PORTAL_PATH, QUERY_PATH
from devhost.insights.store import InsightsStore

# DuckDB type → the column type App Insights' query API reports.
_TYPES = {"VARCHAR": "string", "BOOLEAN": "bool", "DOUBLE": "real", "FLOAT": "real",
          "JSON": "dynamic", "INTERVAL": "timespan", "DATE": "datetime"}


def column_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("TIMESTAMP"):
        return "datetime"
    if duckdb_type.startswith("DECIMAL"):
        return "real"
    if duckdb_type.endswith("INT") or duckdb_type in ("BIGINT", "HUGEINT", "INTEGER"):
        return "long"
    return _TYPES.get(duckdb_type, "string")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def add_routes(app: web.Application, store: InsightsStore) -> None:
    # Queries get threads of their own: in the default pool they would wait behind every
    # post queued for filing, which under load is seconds.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="devhost-insights-query")
    app.on_cleanup.append(lambda _: _shutdown(pool, store))

    async def answer(kql: str) -> web.Response:
        def run() -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
            # The KQL translator (ANTLR's Python runtime) loads with the first query: every
            # devhost serves this API, few are asked, and its import is a tenth of a start.
            from devhost.insights.kql import execute

            with store.reader() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    return execute(con, kql)
                finally:
                    with contextlib.suppress(duckdb.Error):  # an interrupted query's
                        con.execute("ROLLBACK")

        try:
            names, types, rows = await asyncio.get_running_loop().run_in_executor(pool, run)
        except QueryError as exc:
            return _error(str(exc), "query")
        columns = [{"name": n, "type": column_type(t)} for n, t in zip(names, types, strict=True)]
        return web.json_response({"tables": [{
            "name": "PrimaryResult", "columns": columns,
            "rows": [[_encode(v) for v in row] for row in rows]}]}, dumps=_dumps)

    async def query(request: web.Request) -> web.Response:
        body = await _body(request)
        kql = body.get("query")
        if not isinstance(kql, str) or not kql.strip():
            return _error("body must be a JSON object with a non-empty string 'query'", "query")
        return await answer(kql)

    async def portal_query(request: web.Request) -> web.Response:
        body = await _body(request)
        kql, given = body.get("query"), body.get("parameters", {})
        if not isinstance(kql, str) or not kql.strip():
            return _error("body must be a JSON object with a non-empty string 'query'", "query")
        if not isinstance(given, dict):
            return _error("'parameters' must be an object of name: value", "parameters")
        try:
            values = {name: _parameter(name, value) for name, value in given.items()}
            kql = substitute(kql, values)
        except ParameterError as exc:
            return _error(str(exc), f"parameters.{exc.field}")
        return await answer(kql)

    app.router.add_post(QUERY_PATH, local_only(query))
    app.router.add_post(PORTAL_PATH + "api/query", local_only(portal_query))


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _parameter(name: str, value: Any) -> str | TimeRange:
    """A text value as it is; a time range as the workbook stores it (`{"durationMs": n}`)
    or as a duration (`"1h"`)."""
    if isinstance(value, dict) and isinstance(value.get("durationMs"), int):
        return TimeRange(value["durationMs"])
    if isinstance(value, str):
        return TimeRange.parse(value, name) if name.endswith("TimeRange") else value
    raise ParameterError(f"parameter {name}: a string or {{\"durationMs\": n}}", name)


async def _shutdown(pool: ThreadPoolExecutor, store: InsightsStore) -> None:
    # Nobody is left to read the answers: stop what runs, then wait on the loop's thread,
    # not through another executor (this also runs at interpreter exit, when no executor
    # takes new work). Interrupted queries return without the loop.
    pool.shutdown(wait=False, cancel_futures=True)
    store.interrupt()  # until the running ones have let go
    pool.shutdown(wait=True)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _error(message: str, field: str) -> web.Response:
    return web.json_response({"error": {"code": "BadArgumentError", "message": message,
                                        "field": field}}, status=400)

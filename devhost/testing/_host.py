"""The devhost process behind one `durable_app` fixture: the only module of the plugin that
touches devhost's internals, so changes to how devhost loads and runs apps land here.

It is `devhost start` (settings → local insights → worker processes → engine → HTTP server)
plus a few routes the test process needs and a real client cannot have: flush the exporters,
run KQL over one run's rows, list a run's instances, render its tree, read an instance's raw
history and replay a history through the app's orchestrator (_replay.py). Its workers export the
app's telemetry before answering each invocation (devhost/worker/flush.py), so a run observed
as finished has all its rows readable once `flush` has exported the host's own. Run as
`python -m devhost.testing._host --app-dir … --data-dir … --ready-file …`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.cli.start import (
    HostConfig,
    flush_telemetry,
    host_server,
    load,
    local_insights_db,
    stop_workers,
)
from devhost.durable.engine import Engine
from devhost.durable.store import Instance
from devhost.host.app import AppIndex
from devhost.host.server import HostServer
from devhost.insights.envelopes import TABLES, columns, ddl
from devhost.insights.kql import QueryError, execute
from devhost.insights.store import insert_columns, local_reader
from devhost.insights.view import load_run, render_text
from devhost.testing._replay import ReplayInputError, replay, validate
from devhost.testing.process import CAPTURED_LOCALLY
from devhost.worker.flush import FLUSH_SETTING

PREFIX = "/_devhost/testing"


def run_instances(engine: Engine, root: str) -> list[Instance]:
    """The root and every instance below it (children, grandchildren, …)."""
    everything = engine.store.query_instances()
    below: dict[str, list[Instance]] = {}
    for inst in everything:
        if inst.parent_instance_id:
            below.setdefault(inst.parent_instance_id, []).append(inst)
    found = [i for i in everything if i.instance_id == root]
    for inst in found:  # grows while walking
        found.extend(below.get(inst.instance_id, []))
    return found


# The instance id Durable's rows and the app's spans both carry (DurableTask.Core's schema).
INSTANCE_KEY = "durabletask.task.instance_id"
# The instance id of the Durable extension's tracking traces (EndToEndTraceHelper).
TRACKED_INSTANCE_KEY = "prop__instanceId"


def tagged_operations(db: Path, instance_ids: list[str]) -> set[str]:
    """Operations holding a row tagged with one of the instances (the app's and Durable's
    `durabletask.task.instance_id`, the extension's tracking traces' `prop__instanceId`).
    Without Durable's V2 tracing (no host.json, or turned off) each invocation is a trace of
    its own, as on Azure, yet they belong to the run."""
    if not instance_ids or not db.exists():
        return set()
    marks = ", ".join("?" for _ in instance_ids)
    found: set[str] = set()
    with local_reader(db) as con:
        for table in TABLES:
            for key in (INSTANCE_KEY, TRACKED_INSTANCE_KEY):
                rows = con.execute(
                    f'SELECT DISTINCT "operation_Id" FROM "{table}" WHERE '
                    f'json_extract_string("customDimensions", ?) IN ({marks})',
                    [f'$."{key}"', *instance_ids]).fetchall()
                found.update(str(r[0]) for r in rows if r[0])
    return found


def scoped_kql(db: Path, operations: list[str] | None, query: str
               ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """KQL over the rows of the given operations only (all rows when None): the rows are
    copied into an in-memory database with the same tables, so any query shape is scoped."""
    import duckdb

    mem = duckdb.connect()
    mem.execute("SET TimeZone = 'UTC'")
    for statement in ddl():
        mem.execute(statement)
    with local_reader(db) as con:
        for table in TABLES:
            quoted = ", ".join(f'"{name}"' for name, _ in columns(table))
            sql = f'SELECT {quoted} FROM "{table}"'
            args: list[Any] = []
            if operations is not None:
                if not operations:
                    continue
                sql += f' WHERE "operation_Id" IN ({", ".join("?" for _ in operations)})'
                args = list(operations)
            insert_columns(mem, table, con.execute(sql, args).fetchall())
    try:
        names, _, rows = execute(mem, query)
    finally:
        mem.close()
    return names, rows


def _json(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


async def _json_body(request: web.Request) -> Any:
    """The request's JSON body, or the 400 answer that names it."""
    try:
        return await request.json()
    except ValueError:
        return web.json_response({"error": "body must be JSON", "field": "body"}, status=400)


class TestingRoutes:
    def __init__(self, engine: Engine, db: Path | None) -> None:
        self.engine = engine
        self.db = db

    def add(self, app: web.Application) -> None:
        app.router.add_get(PREFIX + "/run/{id}", self.run)
        app.router.add_post(PREFIX + "/wait/{id}", self.wait)
        app.router.add_post(PREFIX + "/flush", self.flush)
        app.router.add_post(PREFIX + "/kql", self.kql)
        app.router.add_get(PREFIX + "/tree/{id}", self.tree)
        app.router.add_get(PREFIX + "/history/{id}", self.history)
        app.router.add_post(PREFIX + "/replay", self.replay)

    async def run(self, request: web.Request) -> web.Response:
        iid = request.match_info["id"]
        if self.engine.store.get_instance(iid) is None:
            return web.json_response({"error": f"no instance with id {iid!r}",
                                      "field": "instanceId"}, status=404)
        found = run_instances(self.engine, iid)
        ids = [i.instance_id for i in found]
        operations = {i.trace_id for i in found if i.trace_id}
        if self.db is not None:
            # The host's own rows (the tracking traces that tag a run's operations without
            # V2) are batched: filed first, so the tags are there to find.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, flush_telemetry)
            operations |= await loop.run_in_executor(None, tagged_operations, self.db, ids)
        return web.json_response({"instances": ids, "operations": sorted(operations)})

    async def wait(self, request: web.Request) -> web.Response:
        iid = request.match_info["id"]
        try:
            timeout = float(request.query.get("timeout", "30"))
        except ValueError:
            return web.json_response({"error": "timeout must be a number", "field": "timeout"},
                                     status=400)
        if self.engine.status(iid) is None:
            return web.json_response({"error": f"no instance with id {iid!r}",
                                      "field": "instanceId"}, status=404)
        await self.engine.wait(iid, timeout)
        return web.json_response(self.engine.status(iid))

    async def flush(self, _request: web.Request) -> web.Response:
        """Export what the host buffers (its spans, its Executing/Executed rows, the
        workers' forwarded logs). The app's rows are filed already: its worker flushed them
        before answering each invocation."""
        await asyncio.get_running_loop().run_in_executor(None, flush_telemetry)
        return web.json_response({"flushed": True})

    async def kql(self, request: web.Request) -> web.Response:
        if self.db is None:
            return web.json_response({"error": "telemetry is not captured locally"},
                                     status=409)
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        query = body.get("query") if isinstance(body, dict) else None
        operations = body.get("operations") if isinstance(body, dict) else None
        if operations is not None and (not isinstance(operations, list) or not all(
                isinstance(o, str) for o in operations)):
            return web.json_response({"error": "operations must be a list of strings",
                                      "field": "operations"}, status=400)
        if not isinstance(query, str) or not query.strip():
            return web.json_response({"error": "query must be a non-empty string",
                                      "field": "query"}, status=400)
        try:
            columns, rows = await asyncio.get_running_loop().run_in_executor(
                None, scoped_kql, self.db, operations, query)
        except QueryError as exc:
            return web.json_response({"error": str(exc), "field": "query"}, status=400)
        payload = json.dumps({"columns": columns, "rows": [list(r) for r in rows]},
                             default=_json)
        return web.Response(text=payload, content_type="application/json")

    async def history(self, request: web.Request) -> web.Response:
        """The stored events as the orchestrator trigger gets them (DurableTask's
        HistoryEvent JSON), not the status API's view of them: what a replay needs."""
        iid = request.match_info["id"]
        if self.engine.store.get_instance(iid) is None:
            return web.json_response({"error": f"no instance with id {iid!r}",
                                      "field": "instanceId"}, status=404)
        return web.json_response(self.engine.store.history(iid))

    async def replay(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        name = body.get("orchestrator") if isinstance(body, dict) else None
        orchestrators = self.engine.index.orchestrators
        if not isinstance(name, str) or name not in orchestrators:
            known = ", ".join(sorted(orchestrators)) or "none"
            return web.json_response({"error": f"no orchestrator {name!r} in the app "
                                      f"(known: {known})", "field": "orchestrator"},
                                     status=400)
        try:
            history = validate(body.get("history"))
            result = await replay(self.engine.index.workers, orchestrators[name], history)
        except ReplayInputError as exc:
            return web.json_response({"error": str(exc), "field": exc.field}, status=400)
        return web.json_response(result)

    async def tree(self, request: web.Request) -> web.Response:
        if self.db is None:
            return web.Response(text="(telemetry is not captured locally)")
        db = self.db
        roots = await asyncio.get_running_loop().run_in_executor(
            None, lambda: load_run(db, request.match_info["id"]))
        return web.Response(text=render_text(roots) if roots else
                            "(no telemetry captured for this run)")


async def _orphaned(stop: asyncio.Event) -> None:
    """A test process that dies (killed, timed out) cannot stop us: notice and stop."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1)
    stop.set()


async def serve(server: HostServer, index: AppIndex, ready_file: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(_orphaned(stop))
    await server.start()
    partial = ready_file.with_suffix(".partial")  # renamed whole: never read half-written
    partial.write_text(json.dumps({"base_url": server.base_url}), encoding="utf-8")
    partial.replace(ready_file)
    try:
        await stop.wait()
    finally:
        watch.cancel()
        await server.stop()
        # The workers first: they export what the app still holds when they exit, while
        # this process's ingestion endpoint still files it.
        await loop.run_in_executor(None, stop_workers, index)
        flush_telemetry()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.testing._host")
    parser.add_argument("--app", default="function_app")
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--skip-timers", action="store_true")
    args = parser.parse_args(argv)
    # Worker processes over gRPC, as `devhost start` runs the app; inherited by them, the
    # testing switch that makes each invocation's app telemetry readable before its answer.
    # Not when the test sent telemetry to its own endpoint: nothing is read back then, and a
    # flush per invocation would make a slow endpoint slow the app, as it never does on Azure.
    if not any(os.environ.get(key, "").strip() for key in CAPTURED_LOCALLY):
        os.environ[FLUSH_SETTING] = "true"
    index, engine = load(HostConfig(args.app, args.app_dir, args.data_dir))
    if args.skip_timers:  # before the engine runs anything: no timer is scheduled yet
        engine.options = dataclasses.replace(engine.options, skip_timers=True)
        engine.clock.skip_timers = True
    routes = TestingRoutes(engine, local_insights_db())
    server = host_server(index, engine, port=0, extra_routes=[routes.add])
    try:
        asyncio.run(serve(server, index, args.ready_file))
    finally:
        stop_workers(index)  # idempotent: ends them if serve could not
    return 0


if __name__ == "__main__":
    sys.exit(main())

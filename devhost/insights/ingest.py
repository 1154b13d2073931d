"""`POST /v2.1/track`: the Application Insights ingestion ("breeze") endpoint, locally."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from devhost.insights import portal, queryapi, serving
from devhost.insights.envelopes import EnvelopeError, Row, to_row
from devhost.insights.remote import FLUSH_PATH
from devhost.insights.store import InsightsStore

# Connection strings end their IngestionEndpoint with "/", and the exporter appends
# "/v2.1/track": the real endpoint accepts the doubled slash, so this one does too.
TRACK_PATHS = ("/v2.1/track", "/v2/track", "//v2.1/track", "//v2/track")


def _problem(message: str, field: str, status: int = 400) -> web.Response:
    return web.json_response({"itemsReceived": 0, "itemsAccepted": 0,
                              "errors": [{"index": -1, "statusCode": status,
                                          "message": message, "field": field}]}, status=status)


def parse_body(raw: bytes) -> list[Any]:
    """gzip or plain; a JSON array (the OpenTelemetry exporter) or JSON lines (classic SDKs).

    aiohttp already inflates a body sent with `Content-Encoding: gzip`; a gzip body sent
    without the header is recognised by its magic bytes."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8")
    stripped = text.strip()
    if stripped.startswith("["):
        items = json.loads(stripped)
    else:
        items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    if not isinstance(items, list):
        raise ValueError("body must be a JSON array of envelopes")
    return items


class Ingestion:
    def __init__(self, store: InsightsStore, keep_envelopes: int = 0) -> None:
        self.store = store
        self.keep_envelopes = keep_envelopes
        self.envelopes: list[Any] = []  # the raw envelopes, when asked to keep them
        self.posts = 0
        self.items = 0
        self.bytes = 0

    def add_routes(self, app: web.Application) -> None:
        for path in TRACK_PATHS:
            app.router.add_post(path, self.track)

    async def track(self, request: web.Request) -> web.StreamResponse:
        try:
            raw = await request.read()
            items = parse_body(raw)
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError,
                HttpProcessingError, RequestPayloadError) as exc:
            return _problem(f"unreadable body: {exc}", "body")
        try:
            rows = [row for i, item in enumerate(items) if (row := to_row(i, item)) is not None]
        except EnvelopeError as exc:
            return _problem(str(exc), f"[{exc.index}].{exc.field}")
        await asyncio.get_running_loop().run_in_executor(None, self.store.insert, rows)
        self.posts += 1
        if len(self.envelopes) < self.keep_envelopes:
            self.envelopes.extend(items[: self.keep_envelopes - len(self.envelopes)])
        self.items += len(items)
        # aiohttp has already inflated a gzip body: the wire size is the Content-Length.
        self.bytes += request.content_length or len(raw)
        return web.json_response({"itemsReceived": len(items), "itemsAccepted": len(items),
                                  "errors": []})


def instrumentation_key(db: Path) -> str:
    """One key per database. The exporter files batches it could not deliver in a folder
    named after the key and sends them after a later successful post, to whichever endpoint
    it then has: a shared key would replay one database's leftovers (a test's outage, say)
    into another."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, db.resolve().as_uri()))


def connection_string(db: Path, endpoint: str) -> str:
    return f"InstrumentationKey={instrumentation_key(db)};IngestionEndpoint={endpoint}"


class IngestionServer:
    """The endpoint (and the query API) on a loopback port of its own, served from a
    background thread. It is the database's only writer while it runs, and announces itself
    beside the file so other processes query through it."""

    def __init__(self, db_path: Path, host: str = "127.0.0.1", port: int = 0,
                 keep_envelopes: int = 0) -> None:
        self.store = InsightsStore(db_path)
        # The portal beside the query API: what it links to is set by whoever composes
        # the devhost (the app's workbooks, the management API), after construction.
        self.portal = portal.PortalSettings()
        self.ingestion = Ingestion(self.store, keep_envelopes)
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="devhost-insights")
        self._runner: web.AppRunner | None = None
        # What the serving process runs on a flush request (its host's pipelines), set by
        # whoever owns them: this package knows nothing else of devhost.
        self.flushers: list[Callable[[], None]] = []

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def portal_url(self) -> str:
        return portal.portal_url(self.endpoint)

    @property
    def instrumentation_key(self) -> str:
        return instrumentation_key(self.store.path)

    @property
    def connection_string(self) -> str:
        return connection_string(self.store.path, self.endpoint)

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.ingestion.add_routes(app)
        queryapi.add_routes(app, self.store)
        portal.add_routes(app, self.portal)
        app.router.add_post(FLUSH_PATH, self._flush)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])

    async def _flush(self, _request: web.Request) -> web.Response:
        """Answered once every flusher returned: their posts to this endpoint are filed by
        then (track answers only after filing). Run off the loop, which serves those posts."""
        loop = asyncio.get_running_loop()
        for flush in self.flushers:
            await loop.run_in_executor(None, flush)
        return web.json_response({"flushed": len(self.flushers)})

    def __enter__(self) -> IngestionServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        serving.announce(self.store.path, self.endpoint)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop taking posts, let the ones being filed finish, then release the file."""
        if self._runner is None:
            return
        serving.withdraw(self.store.path)
        runner, self._runner = self._runner, None
        asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(30)
        asyncio.run_coroutine_threadsafe(self._loop.shutdown_default_executor(),
                                         self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
        self.store.close()


__all__ = ["Ingestion", "IngestionServer", "Row"]

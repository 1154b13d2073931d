"""The local portal at `/insights/`: runs, a run's transaction view, the app's workbooks.

Served beside the query API by the ingestion server, on its own loopback address only: the
telemetry can hold user data, so it never listens where `devhost start --host` opens the
functions to the network. The pages are static files (package data under `web/`); every row
they show comes from KQL sent to `POST /insights/api/query`, run read-only by duckdb-kql
(see `queryapi`): a page cannot run SQL. A request whose Host header names no loopback
address is refused (a web page elsewhere that rebinds its DNS name to 127.0.0.1 could
otherwise read the answers).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from devhost.insights.remote import PORTAL_PATH, portal_url

WEB = Path(__file__).with_name("web")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".kql": "text/plain"}

__all__ = ["PORTAL_PATH", "PortalSettings", "add_routes", "local_only", "portal_url"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class PortalSettings:
    """What the portal shows beside the tables: where the app's workbooks are, and where the
    Durable management API of the devhost that serves the app answers (for the links to an
    instance's status and history). Set by whoever composes the devhost."""

    workbooks: Path | None = None
    management_url: str | None = None

    def workbook_files(self) -> dict[str, Path]:
        if self.workbooks is None or not self.workbooks.is_dir():
            return {}
        return {p.name: p for p in sorted(self.workbooks.glob("*.workbook"))}


def loopback_host(request: web.Request) -> bool:
    """Whether the Host header names this machine (the same rule as devhost/host/loopback.py,
    which insights may not import: 127.0.0.0/8, ::1 and `localhost`)."""
    try:
        name = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def local_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not loopback_host(request):
            return web.json_response({"error": "the portal answers to loopback names only "
                                      "(127.0.0.1, localhost)", "field": "Host"}, status=403)
        return await handler(request)
    return guarded


def add_routes(app: web.Application, settings: PortalSettings) -> None:
    files = {p.name: p for p in WEB.iterdir() if p.suffix in _TYPES}

    async def index(_: web.Request) -> web.StreamResponse:
        return web.FileResponse(files["index.html"], headers={"Cache-Control": "no-store"})

    async def redirect(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PORTAL_PATH)

    async def static(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            return web.json_response({"error": "no such file", "path": request.path}, status=404)
        return web.FileResponse(path, headers={"Content-Type": _TYPES[path.suffix],
                                               "Cache-Control": "no-store"})

    async def config(_: web.Request) -> web.StreamResponse:
        return web.json_response({"managementUrl": settings.management_url,
                                  "workbooks": list(settings.workbook_files())})

    async def workbook(request: web.Request) -> web.StreamResponse:
        path = settings.workbook_files().get(request.match_info["name"])
        if path is None:
            return web.json_response({"error": "no such workbook", "field": "name"},
                                     status=404)
        try:
            return web.json_response(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            return web.json_response({"error": f"{path.name}: {exc}", "field": "name"},
                                     status=422)

    app.router.add_get("/insights", local_only(redirect))
    app.router.add_get(PORTAL_PATH, local_only(index))
    app.router.add_get(PORTAL_PATH + "static/{name}", local_only(static))
    app.router.add_get(PORTAL_PATH + "api/config", local_only(config))
    app.router.add_get(PORTAL_PATH + "api/workbooks/{name}", local_only(workbook))

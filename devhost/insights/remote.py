"""The client side of devhost's query API (App Insights' `POST /v1/apps/{app}/query` shape):
what `devhost insights` and the plugin's host use to ask the devhost that holds a database.
Standard library only, so a query through a running devhost costs a CLI no DuckDB, KQL
translator or aiohttp import (devhost/insights/queryapi.py is the server side)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from devhost.insights.errors import QueryError

QUERY_PATH = "/v1/apps/{app}/query"
PORTAL_PATH = "/insights/"  # the portal (devhost/insights/portal.py), beside the query API
# devhost's own: the process serving the database exports what its telemetry pipelines still
# hold (they batch) before answering, so a reader in another process sees every row sent so
# far (remote_flush). Not part of Application Insights' API.
FLUSH_PATH = "/devhost/flush"
REMOTE_TIMEOUT_S = 10.0  # a hung devhost; a busy one answers in milliseconds


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "timespan":
        return timedelta(seconds=value)
    return value


def portal_url(base_url: str) -> str:
    """The portal of the devhost whose query API answers at `base_url`."""
    return base_url.rstrip("/") + PORTAL_PATH


def remote_query(base_url: str, kql: str, timeout: float = REMOTE_TIMEOUT_S
                 ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `kql` on the devhost at `base_url`. Raises OSError when nobody answers there (the
    caller then reads the file itself) and QueryError for a query the server refused."""
    request = urllib.request.Request(
        base_url.rstrip("/") + QUERY_PATH.format(app="local"),
        data=json.dumps({"query": kql}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            raise QueryError(f"HTTP {exc.code} from {base_url}") from exc
        raise QueryError(message, "kql") from exc
    table = answer["tables"][0]
    kinds = [c["type"] for c in table["columns"]]
    return ([c["name"] for c in table["columns"]],
            [tuple(_decode(k, v) for k, v in zip(kinds, row, strict=True))
             for row in table["rows"]])


def remote_flush(base_url: str, timeout: float = REMOTE_TIMEOUT_S) -> None:
    """Ask the devhost serving a database to export what its pipelines hold, and wait until
    it has (FLUSH_PATH, served by ingest.IngestionServer). Raises OSError when nobody
    answers there."""
    request = urllib.request.Request(base_url.rstrip("/") + FLUSH_PATH, data=b"{}",
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()

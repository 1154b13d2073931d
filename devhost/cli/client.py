"""A tiny HTTP client for the CLI: what a user would do with curl."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from devhost.durable.history import RuntimeStatus


def send(method: str, url: str, body: bytes = b"", timeout: float = 60,
         traceparent: str = "") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if traceparent:
        headers["traceparent"] = traceparent
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def new_traceparent() -> tuple[str, str]:
    """(traceparent, its trace id): a sampled W3C context of the CLI's own, as a client
    inside a span sends one, so the host's request row has a known operation id."""
    trace_id = os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01", trace_id


# Statuses of an instance that has not ended yet (the status API's runtimeStatus).
RUNNING = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING)


def follow(status_uri: str, timeout: float, interval: float = 0.05) -> dict[str, Any]:
    """Poll a statusQueryGetUri until the instance leaves Pending/Running."""
    deadline = time.monotonic() + timeout
    while True:
        _, body = send("GET", status_uri)
        if not isinstance(body, dict) or body.get("runtimeStatus") not in RUNNING:
            return body if isinstance(body, dict) else {"error": body}
        if time.monotonic() > deadline:
            return body
        time.sleep(interval)

"""A tiny HTTP client for the CLI: what a user would do with curl."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from devhost.durable.history import RuntimeStatus


def send(method: str, url: str, body: bytes = b"", timeout: float = 60) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body or None, method=method,
                                     headers={"Content-Type": "application/json"})
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

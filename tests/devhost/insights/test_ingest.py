"""The ingestion endpoint: breeze answers, whole-post transactions, the row mapping."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.envelopes import duration_ms
from devhost.insights.ingest import IngestionServer
from devhost.insights.query import QueryError, run_kql

from ..support import http


def _envelope(base_type: str, base: dict[str, Any], **tags: str) -> dict[str, Any]:
    return {"name": f"Microsoft.ApplicationInsights.{base_type}", "time":
            "2026-11-24T01:02:03.456789Z", "iKey": "k",
            "tags": {"ai.operation.id": "a" * 32, "ai.cloud.role": "svc", **tags},
            "data": {"baseType": base_type, "baseData": base}}


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IngestionServer]:
    with IngestionServer(tmp_path / "i.duckdb") as running:
        yield running


def _post(server: IngestionServer, body: bytes, gzipped: bool = True) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, reply, _ = http("POST", server.endpoint + "v2.1/track", raw=body, headers=headers)
    return status, reply


def test_accepts_and_files_a_batch(server: IngestionServer) -> None:
    batch = [
        _envelope("RequestData", {"id": "1" * 16, "name": "orchestration:x",
                                  "duration": "0.00:00:01.250000", "success": False,
                                  "responseCode": "500", "properties": {"k": "v"}},
                  **{"ai.operation.parentId": "2" * 16}),
        _envelope("MessageData", {"message": "hello", "severityLevel": "Warning",
                                  "properties": {"app.durable.role": "activity"}}),
        _envelope("ExceptionData", {"exceptions": [{"typeName": "ValueError",
                                                    "message": "bad"}],
                                    "severityLevel": "Error"}),
    ]
    status, reply = _post(server, json.dumps(batch).encode())
    assert (status, reply) == (200, {"itemsReceived": 3, "itemsAccepted": 3, "errors": []})
    _, rows = run_kql(server.store.path, "requests | project name, duration, success, "
                      "resultCode, operation_ParentId, cloud_RoleName, k = tostring("
                      "customDimensions['k'])")
    assert rows == [("orchestration:x", 1250.0, False, "500", "2" * 16, "svc", "v")]
    _, traces = run_kql(server.store.path, "traces | project message, severityLevel, "
                        "role = tostring(customDimensions['app.durable.role'])")
    assert traces == [("hello", 2, "activity")]
    _, exceptions = run_kql(server.store.path, "exceptions | project type, outerMessage")
    assert exceptions == [("ValueError", "bad")]


@pytest.mark.parametrize(("body", "gzipped", "field"), [
    (b"not gzip at all", False, "body"),
    (b"\x1f\x8b\x08 broken gzip", False, "body"),
    (b'{"not": "an envelope"}', True, "[0].name"),
    (b"[1, 2", True, "body"),
    (json.dumps([{"name": "x", "time": "2026-01-01T00:00:00Z"}]).encode(), True, "[0].data"),
    (json.dumps([_envelope("RequestData", {"duration": "soon"})]).encode(), True,
     "[0].data.baseData"),
    (json.dumps([_envelope("MessageData", {"message": "ok"}), {"time": "x"}]).encode(), True,
     "[1].name"),
])
def test_malformed_posts_are_rejected_whole(server: IngestionServer, body: bytes, gzipped: bool,
                                            field: str) -> None:
    before = server.store.counts()
    status, reply = _post(server, body, gzipped)
    assert status == 400
    assert reply["errors"][0]["field"] == field
    assert server.store.counts() == before


def test_broken_gzip_with_its_header_is_a_400(server: IngestionServer) -> None:
    status, reply, _ = http("POST", server.endpoint + "v2.1/track", raw=b"\x1f\x8b\x08 nope",
                            headers={"Content-Encoding": "gzip"})
    assert status == 400 and reply["errors"][0]["field"] == "body"


def test_durations_are_timespans() -> None:
    assert duration_ms("0.00:00:00.001500") == 1.5
    assert duration_ms("1.02:03:04.5") == ((24 + 2) * 3600 + 3 * 60 + 4.5) * 1000
    assert duration_ms("00:00:02") == 2000.0


def test_unsupported_kql_names_the_construct(server: IngestionServer) -> None:
    with pytest.raises(QueryError, match="MakeSeries"):
        run_kql(server.store.path, "requests | make-series n = count() on timestamp step 1m")


def test_each_database_has_its_own_instrumentation_key(tmp_path: Path) -> None:
    # The exporter's disk store is keyed by it: leftovers of one database never reach another.
    keys = []
    for name in ("a", "b", "a"):
        with IngestionServer(tmp_path / f"{name}.duckdb") as server:
            keys.append(server.instrumentation_key)
            assert f"InstrumentationKey={keys[-1]};" in server.connection_string
    assert keys[0] == keys[2] != keys[1]

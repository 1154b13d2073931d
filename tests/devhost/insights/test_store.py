"""The DuckDB file: one writer, readers that never write, a CLI that always exits cleanly,
and every acknowledged post surviving a SIGKILL of the writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.insights import serving
from devhost.insights.envelopes import Row
from devhost.insights.query import run_kql
from devhost.insights.store import InsightsStore

from ..support import http

REPO = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
RUNS = 10


def _row(i: int) -> Row:
    return Row("dependencies", {"id": f"{i:016x}", "name": f"run_activity:a{i}",
                                "operation_Id": "a" * 32})


def _envelope(i: int) -> dict[str, object]:
    return {"name": "Microsoft.ApplicationInsights.RemoteDependency",
            "time": "2026-11-24T01:02:03.456789Z", "iKey": "k",
            "tags": {"ai.operation.id": "a" * 32},
            "data": {"baseType": "RemoteDependencyData",
                     "baseData": {"id": f"{i:016x}", "name": f"run_activity:a{i}",
                                  "duration": "0.00:00:00.001000", "success": True}}}


def _query(db: Path, kql: str = "dependencies | count") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devhost", "insights", "query", kql,
                           "--db", str(db), "--format", "json"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=ENV)


def _count(done: subprocess.CompletedProcess[str]) -> int:
    assert done.returncode == 0, (done.returncode, done.stderr)
    return int(json.loads(done.stdout)[0]["Count"])


@pytest.mark.slow
@pytest.mark.host
def test_cli_query_exits_cleanly_every_time_on_an_idle_database(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    store = InsightsStore(db)
    store.insert([_row(i) for i in range(7)])
    store.close()
    for _ in range(RUNS):
        assert _count(_query(db)) == 7
    assert not (tmp_path / "i.duckdb.wal").exists()  # a reader never wrote


@pytest.fixture()
def devhost_start(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`devhost start` in its own process, serving its insights database."""
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "start", "--port", "0", "--data-dir", str(data),
         "--app-dir", str(REPO / "tests" / "devhost" / "apps"), "--app", "semantics_app"],
        cwd=REPO, env={**ENV, "APPLICATIONINSIGHTS_CONNECTION_STRING": "",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = data / "insights.duckdb"
    try:
        deadline = time.monotonic() + 60
        while (url := serving.server_of(db)) is None:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "devhost start never served its database"
            time.sleep(0.1)
        yield db, url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


@pytest.mark.slow
@pytest.mark.host
def test_cli_query_goes_through_the_devhost_that_holds_the_database(
        devhost_start: tuple[Path, str]) -> None:
    db, url = devhost_start
    stop = threading.Event()
    acknowledged = [0]

    def post() -> None:
        """A steady stream, paced: some twenty posts land during each query (unpaced, the
        poster only burns the CPU the queries run on)."""
        i = 0
        while not stop.is_set():
            status, _, _ = http("POST", url + "v2.1/track", body=[_envelope(i)])
            assert status == 200
            i += 1
            acknowledged[0] = i
            stop.wait(0.01)

    poster = threading.Thread(target=post)
    poster.start()
    try:
        counts = []
        for _ in range(RUNS):
            before = acknowledged[0]
            started = time.monotonic()
            counted = _count(_query(db, "dependencies | where name startswith 'run_activity:a'"
                                        " | count"))
            counts.append((before, counted, acknowledged[0], time.monotonic() - started))
    finally:
        stop.set()
        poster.join()
    for before, counted, after, _ in counts:
        assert before <= counted <= after
    assert counts[-1][1] > counts[0][1] > 0  # posts kept landing while we read


def test_in_process_readers_share_the_writers_connection(tmp_path: Path) -> None:
    store = InsightsStore(tmp_path / "i.duckdb")
    store.insert([_row(i) for i in range(3)])
    assert run_kql(store.path, "dependencies | count")[1] == [(3,)]
    store.close()
    assert run_kql(store.path, "dependencies | count")[1] == [(3,)]  # read-only open now


WRITER = """
import sys
from pathlib import Path
from typing import Any
from devhost.insights.envelopes import Row
from devhost.insights.ingest import IngestionServer
server = IngestionServer(Path(sys.argv[1])).__enter__()
for i in range(int(sys.argv[2])):
    server.store.insert([Row("dependencies", {"id": f"{i:016x}", "operation_Id": "a" * 32})])
    print(i, flush=True)
sys.stdin.read()  # killed here, the connection still open and the server announced
"""


@pytest.mark.host
def test_acknowledged_posts_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "50"], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    assert writer.stdout is not None
    acknowledged = [writer.stdout.readline() for _ in range(50)]
    assert acknowledged[-1].strip() == "49"
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    # The dead writer's marker is still there: the CLI sees nobody answers and reads the file.
    assert (tmp_path / "i.duckdb.serving.json").exists()
    assert _count(_query(db)) == 50
    assert InsightsStore(db).counts()["dependencies"] == 50


def test_closing_interrupts_queries_under_way_and_releases_the_file(tmp_path: Path) -> None:
    """A query that outlives its caller (a client gone, the host stopping) must not keep the
    connection busy: close() interrupts it, and the file is free for others afterwards."""
    import duckdb

    from devhost.insights.store import read_only

    db = tmp_path / "i.duckdb"
    store = InsightsStore(db)
    outcome: list[str] = []
    started = threading.Event()

    def query() -> None:
        with store.reader() as con:
            started.set()
            try:
                con.execute("SELECT count(*) FROM range(1000000000) a, range(1000) b").fetchone()
                outcome.append("finished")
            except duckdb.InterruptException:
                outcome.append("interrupted")

    reader = threading.Thread(target=query)
    reader.start()
    assert started.wait(10)
    store.close()
    reader.join(10)
    assert outcome == ["interrupted"]
    with read_only(db) as con:
        assert con.execute("SELECT count(*) FROM dependencies").fetchone() == (0,)


def test_a_post_of_mixed_values_is_filed_as_each_value_alone_would_be(tmp_path: Path) -> None:
    """Rows go in as multi-row INSERTs, each value bound on its own as `executemany` bound it:
    a 3 beside a 2.5 in a text column stays '3' (one list parameter per column, `unnest`,
    would have stored '3.0')."""
    store = InsightsStore(tmp_path / "i.duckdb")
    posts: list[list[Any]] = [[3, 2.5], [True, 2], [{"a": 1}, {"b": "x"}]]  # each one post
    for p, values in enumerate(posts):
        store.insert([Row("dependencies", {"id": f"{p}{i:015x}", "operation_Id": value})
                      for i, value in enumerate(values)])
    store.insert([_row(i) for i in range(100, 103)])  # uniform: one statement per table
    store.close()
    _, rows = run_kql(store.path, "dependencies | project id, operation_Id")
    stored = dict(rows)
    assert [stored[f"{p}{i:015x}"] for p, values in enumerate(posts)
            for i in range(len(values))] == ["3", "2.5", "true", "2", "{'a': 1}", "{'b': x}"]
    assert [stored[f"{i:016x}"] for i in range(100, 103)] == ["a" * 32] * 3

"""The DuckDB file: held open while posts stream in, yet readable from another process, and
every acknowledged post survives a SIGKILL of the writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devhost.insights.envelopes import Row
from devhost.insights.query import run_kql
from devhost.insights.store import InsightsStore

REPO = Path(__file__).resolve().parents[3]


def _row(i: int) -> Row:
    return Row("dependencies", {"id": f"{i:016x}", "name": f"run_activity:a{i}",
                                "operation_Id": "a" * 32})


def _query(db: Path, kql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devhost", "insights", "query", kql,
                           "--db", str(db), "--format", "json"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_another_process_reads_while_posts_keep_coming(tmp_path: Path) -> None:
    store = InsightsStore(tmp_path / "i.duckdb")
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set():
            store.insert([_row(written[0])])
            written[0] += 1
            time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.3)
        reads = [_query(store.path, "dependencies | count") for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    for read in reads:
        assert read.returncode == 0, read.stderr
        assert 0 < json.loads(read.stdout)[0]["Count"] <= written[0]
    # in-process readers share the open connection
    assert run_kql(store.path, "dependencies | count")[1] == [(written[0],)]
    store.close()
    assert store.counts()["dependencies"] == written[0]


WRITER = """
import sys
from pathlib import Path
from devhost.insights.envelopes import Row
from devhost.insights import store as module
from devhost.insights.store import InsightsStore
module.IDLE_CLOSE_S = module.MAX_HOLD_S = 3600  # the file stays open until the kill
store = InsightsStore(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    store.insert([Row("dependencies", {"id": f"{i:016x}", "operation_Id": "a" * 32})])
    print(i, flush=True)
sys.stdin.read()  # killed here, the connection still open
"""


def test_acknowledged_posts_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "50"], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert writer.stdout is not None
    acknowledged = [writer.stdout.readline() for _ in range(50)]
    assert acknowledged[-1].strip() == "49"
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    assert InsightsStore(db).counts()["dependencies"] == 50

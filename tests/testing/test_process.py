"""The devhost process behind a fixture, and its worker processes, never outlive the test
process, even one killed with SIGKILL (a pytest timeout, a CI cancel), which gets no chance
to stop it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support import USER_APP

pytestmark = pytest.mark.host

HOLDER = """
import sys, time
from pathlib import Path
from devhost.testing import DurableApp
app = DurableApp(app_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[1]) / ".devhost")
app.base_url  # starts the host
print(app._process._proc.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(")")[-1].split()
        except OSError:  # exited while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_host_stops_when_the_test_process_is_killed(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(USER_APP, encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        child = int(holder.stdout.readline())
        assert _alive(child)
        workers = _children(child)  # the app runs in worker processes of the host's
        assert workers
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 20
        while any(map(_alive, [child, *workers])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
        assert not any(map(_alive, workers))
    finally:
        if holder.poll() is None:
            holder.kill()
        shutil.rmtree(tmp_path / ".devhost", ignore_errors=True)

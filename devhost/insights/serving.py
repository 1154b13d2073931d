"""Which process serves a database: a small file beside it, written by the ingestion server.

A reader in another process cannot open a database that a devhost holds for writing, so it
looks here for that devhost's query API instead. A file left by a killed devhost names a
process that is gone (or a port nobody answers), and readers then open the file themselves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _marker(db: Path) -> Path:
    return db.with_name(db.name + ".serving.json")


def announce(db: Path, url: str) -> None:
    marker = _marker(db)
    temporary = marker.with_name(marker.name + f".{os.getpid()}")
    temporary.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    temporary.replace(marker)  # atomic: a reader never sees half a file


def withdraw(db: Path) -> None:
    marker = _marker(db)
    try:
        if json.loads(marker.read_text(encoding="utf-8")).get("pid") == os.getpid():
            marker.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_of(db: Path) -> str | None:
    """The base URL of the live process serving `db`, if one announced itself."""
    try:
        announced = json.loads(_marker(db).read_text(encoding="utf-8"))
        pid, url = int(announced["pid"]), str(announced["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _alive(pid):
        return None
    return url

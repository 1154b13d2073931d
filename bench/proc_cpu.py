"""CPU time (user + system) of a process and of its descendants, read from /proc.

Used by the `devhost start` figures to say where a run's CPU goes (the host, its worker
processes, the bench client): on a shared machine CPU time is distorted far less by other
load than wall-clock rates are. Linux only, as the bench is; no dependency (psutil is in the
lock only as the Azure Monitor exporter's). Field numbers are proc(5)'s `/proc/<pid>/stat`:
utime is field 14 and stime field 15, in clock ticks (`sysconf(_SC_CLK_TCK)`); the command
name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """Seconds of CPU `pid` has used so far, all its threads; 0 for a process that is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children...), from each thread's
    `/proc/<pid>/task/<tid>/children` (a child is listed under the thread that forked it)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        listing = task / "children"
        if not listing.exists() and task.exists():
            # A kernel without CONFIG_PROC_CHILDREN: the workers' CPU would silently read 0.
            raise RuntimeError(f"{listing} is missing: this kernel does not list children")
        try:
            children = [int(c) for c in listing.read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def tree_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of `pid` itself ("host") and of all its live descendants ("workers")."""
    return {"host": cpu_s(pid), "workers": sum(cpu_s(child) for child in descendants(pid))}


def self_cpu_s() -> float:
    """This process's CPU seconds, all threads (the bench's client threads)."""
    times = os.times()
    return times.user + times.system

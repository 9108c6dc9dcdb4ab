"""Background threads of a serving process run at a lower CPU priority than the request path.

The scorer's event loop and the journal's group commit answer requests; the store writer, reactions,
model watching, log inbox, operations and status recorder do work that can wait a few milliseconds. On a
small machine (2 cores shared with clients), the store writer's bursts alone pushed the diagnose p99 up
by tens of milliseconds; at a higher nice value (Linux keeps one per thread, and threads they start,
DuckDB's included, inherit it) they still get every idle cycle, but yield to requests under contention.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

#: Added to the thread's nice value (19 at most): under contention a thread at +10 gets ~1/10 of the
#: share of one at +0, and all the CPU when nothing else wants it.
BACKGROUND_NICENESS = 10


def lower_priority(step: int = BACKGROUND_NICENESS) -> None:
    """Raise the calling thread's nice value by ``step`` (Linux; a no-op where threads have no own value)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError):
        pass


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS too (Linux: ``top -H``, ``ps -L`` and /proc show it; 15
    bytes at most), so an operator can see which of the scorer's threads uses the CPU."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
            comm.write(name.encode("ascii", "replace")[:15].decode("ascii"))
    except OSError:
        pass


def start_background(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread running ``target`` at background priority, named ``name`` in the OS too."""

    def run() -> None:
        name_os_thread(name)
        lower_priority()
        target()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread

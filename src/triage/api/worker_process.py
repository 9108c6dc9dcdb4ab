"""WorkerProcess: the scorer's CPU-heavy background computations, in one child process with its own GIL.

A pandas computation of 100 ms or more on a background thread holds the GIL for most of it. The event loop,
which needs about three quarters of a core at 1,000 diagnoses/s, then gets half of it, and every request
queues behind: one live root-cause ranking stalled the loop for ~190 ms. In a child process the same work
costs the requests only CPU, and the child runs at background priority (see ``triage.threads``), so under
contention it yields that too.

The child is started on first use (a fresh interpreter: ``spawn``, safe in a process with threads), kept
for the next calls, and replaced if it dies. Arguments and results cross as pickles between this process
and the child it started; nothing from elsewhere is unpickled.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from triage.threads import lower_priority

T = TypeVar("T")


class WorkerProcess:
    def __init__(self, *, preload: tuple[str, ...] = (), timeout: float = 120.0) -> None:
        """``preload``: modules the child imports when it starts, before it lowers its priority (a busy
        machine would otherwise starve those seconds of imports, and the first call waits for them)."""
        self.preload = preload
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the child (``fn`` must be importable: a module-level function)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker process is stopped")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_prepare,
                    initargs=(self.preload,),
                )
            pool = self._pool
        try:
            return pool.submit(fn, *args, **kwargs).result(self.timeout)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # the next call starts a new child
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _prepare(modules: tuple[str, ...]) -> None:
    """In the child, when it starts: import what its calls need, then step back to background priority."""
    for name in modules:
        importlib.import_module(name)
    lower_priority()

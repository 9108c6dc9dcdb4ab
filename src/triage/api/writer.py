"""A background thread that persists what the scorer accepted, in batches, off the request path.

Requests never touch DuckDB: they enqueue their outcome and return. Every ``interval`` seconds (or when
``max_batch`` items are waiting) the writer opens the store once and writes the batch in one transaction,
so other processes (CLI, notebooks) get the file between flushes. A failed flush keeps its items and
retries; ``stop`` flushes what is left.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from triage.errors import summarize
from triage.threads import start_background

log = logging.getLogger("triage.api.writer")


class BatchWriter:
    def __init__(
        self,
        flush: Callable[[Sequence[Any]], None],
        *,
        interval: float = 0.25,
        max_batch: int = 5000,
        on_flush: Callable[[int, float], None] | None = None,
        name: str = "triage-writer",
    ) -> None:
        self._flush = flush
        self._queue: queue.SimpleQueue[Sequence[Any]] = queue.SimpleQueue()
        self._pending: list[Any] = []
        self.interval = interval
        self.max_batch = max_batch
        self._on_flush = on_flush
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._inflight = 0
        self.last_error: str | None = None
        self.flushed = 0
        self._thread = start_background(self._run, name)

    def put(self, item: Any) -> None:
        self.put_many([item])

    def put_many(self, items: Sequence[Any]) -> None:
        """Queue ``items`` (the sequence itself is kept, not copied: the caller must not change it)."""
        if not items:
            return
        with self._idle:
            self._inflight += len(items)
        self._queue.put(items)  # one hand-off per call: the caller is often the event loop

    @property
    def backlog(self) -> int:
        return self._inflight

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything put so far is written (tests, shutdown, snapshots)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        self.drain(timeout)
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            deadline = time.monotonic() + self.interval
            while len(self._pending) < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    self._pending.extend(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            if self._pending:
                self._write()

    def _write(self) -> None:
        batch = self._pending[: self.max_batch]
        start = time.perf_counter()
        try:
            self._flush(batch)
        except Exception as exc:  # keep the batch and retry; the error shows in /readyz
            self.last_error = summarize(exc)
            log.error("store flush failed, will retry", extra={"error": self.last_error, "items": len(batch)})
            time.sleep(min(2.0, self.interval * 4))
            return
        self.last_error = None
        del self._pending[: len(batch)]
        self.flushed += len(batch)
        if self._on_flush:
            self._on_flush(len(batch), time.perf_counter() - start)
        with self._idle:
            self._inflight -= len(batch)
            self._idle.notify_all()

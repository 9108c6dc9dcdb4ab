"""Journal what a request accepted before it is answered, so that an accepted event survives a kill.

Two modes, by ``Settings.api_journal_sync``:

- ``interval`` (default): the request's own thread (the event loop) appends its entry with one ``write``,
  holding the journal stream's lock between appends (``Journal.try_append``), and a background thread syncs
  the journal to disk every ``sync_interval`` seconds. A 2xx then means the entry is in the operating
  system's hands: a kill of the scorer loses nothing, a power loss at most the last interval. Under load this
  is what keeps the tail short: a thread hand-off costs the request a wait for the GIL on every syscall of
  the other thread, and a synchronous disk write here takes 1–12 ms (docs/BENCHMARKS.md).
- ``always``: requests hand their entries to one thread that appends them with one durable write per group
  (group commit), then wakes the requests. A 2xx means the entry is on disk.

Either way, what the store writer applies is synced first (the store never holds an entry the journal could
lose), and whenever the lock is busy (another process appending to the stream) the request falls back to the
thread, which waits for it. The kept lock is let go at least every ``lease`` seconds, and the request path then
leaves it alone for ``yield_seconds``, longer than another writer's poll for it (2 ms), so they get in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from triage.errors import summarize
from triage.recovery.journal import Journal, JournalEntry
from triage.threads import name_os_thread, start_background

log = logging.getLogger("triage.api.journal")


class GroupCommitter:
    def __init__(
        self,
        journal: Journal,
        on_journaled: Callable[[Sequence[tuple[JournalEntry, Any]]], None],
        *,
        max_group: int = 2000,
        sync_interval: float | None = None,
        lease: float = 2.0,
        yield_seconds: float = 0.005,
    ) -> None:
        self.journal = journal
        self._on_journaled = on_journaled
        self._max_group = max_group
        self.sync_interval = sync_interval  # None: every group is synced before its requests are answered
        self._lease = lease
        self._yield_seconds = yield_seconds
        self._direct_after = 0.0  # monotonic time before which requests leave the journal lock alone
        self._pending: list[tuple[str, Mapping[str, Any], Any, asyncio.AbstractEventLoop, Any]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self.last_error: str | None = None  # of the last append, if it failed
        self.sync_error: str | None = None  # of the last background sync, if it failed
        self._thread = threading.Thread(target=self._run, name="triage-journal", daemon=True)
        self._thread.start()
        self._stop_sync = threading.Event()
        self._syncer = start_background(self._sync_loop, "triage-journal-sync") if sync_interval else None

    async def submit(self, kind: str, payload: Mapping[str, Any], context: Any = None) -> JournalEntry:
        """Append one entry; returns once it is journaled (see the module docstring). ``context`` is handed
        to ``on_journaled`` with it."""
        if self.sync_interval is not None and time.monotonic() >= self._direct_after:
            try:
                entries = self.journal.try_append([(kind, payload)])
            except Exception as exc:
                self.last_error = summarize(exc)
                raise
            if entries is not None:
                if self.last_error:
                    self.last_error = None
                self._on_journaled([(entries[0], context)])
                return entries[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JournalEntry] = loop.create_future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("journal is closing")
            self._pending.append((kind, payload, context, loop, future))
            self._cond.notify()
        return await future

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(30)
        if self._syncer is not None:
            self._stop_sync.set()
            self._syncer.join(30)
        try:
            self.journal.sync()
        except OSError as exc:  # the entries are written; the OS puts them on disk in its own time
            log.error("journal sync at stop failed", extra={"error": summarize(exc)})
        self.journal.release_lock()

    def check(self) -> str:
        """For /readyz: the mode, or why journaling fails."""
        if self.last_error or self.sync_error:
            raise RuntimeError(f"journal failing: {self.last_error or self.sync_error}")
        if self.sync_interval is None:
            return "each group synced to disk before its answer"
        return f"written before each answer, synced to disk every {self.sync_interval * 1000:.0f} ms"

    def _run(self) -> None:
        name_os_thread("triage-journal")
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending and self._stopping:
                    return
                group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
            try:
                entries = self.journal.append_many([(kind, payload) for kind, payload, *_ in group],
                                                   durable=self.sync_interval is None)
                self.last_error = None
            except Exception as exc:  # nothing was acknowledged: fail the requests, keep serving
                self.last_error = summarize(exc)
                for *_, loop, future in group:
                    loop.call_soon_threadsafe(_set_exception, future, exc)
                continue
            self._on_journaled([(entry, context) for entry, (_, _, context, _, _) in zip(entries, group, strict=True)])
            # One wake-up per event loop for the whole group (not one per request): each call_soon_threadsafe
            # is a self-pipe write and a loop iteration, which under load compete for the GIL.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, JournalEntry]]] = {}
            for entry, (*_, loop, future) in zip(entries, group, strict=True):
                by_loop.setdefault(loop, []).append((future, entry))
            for loop, done in by_loop.items():
                loop.call_soon_threadsafe(_set_results, done)

    def _sync_loop(self) -> None:
        assert self.sync_interval is not None
        next_release = time.monotonic() + self._lease
        while not self._stop_sync.wait(self.sync_interval):
            try:
                self.journal.sync()
                self.sync_error = None
            except Exception as exc:  # the requests' writes still stand; readiness reports it, next round retries
                self.sync_error = summarize(exc)
                log.error("journal sync failed, will retry", extra={"error": self.sync_error})
            if time.monotonic() >= next_release:
                self._direct_after = time.monotonic() + self._yield_seconds
                self.journal.release_lock()
                next_release = time.monotonic() + self._lease


def _set_result(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_results(done: list[tuple[asyncio.Future, Any]]) -> None:
    for future, value in done:
        _set_result(future, value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)

"""Group commit: requests hand their journal payloads to one thread that appends them with one durable
write per group, then wakes the requests. A 2xx is sent only after the entry is durable, so an accepted
event survives a kill; throughput comes from grouping (a durable write costs 0.3 ms on an idle disk here,
several ms while the store or another process is writing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from triage.recovery.journal import Journal, JournalEntry
from triage.threads import name_os_thread


class GroupCommitter:
    def __init__(
        self,
        journal: Journal,
        on_durable: Callable[[Sequence[tuple[JournalEntry, Any]]], None],
        *,
        max_group: int = 2000,
    ) -> None:
        self.journal = journal
        self._on_durable = on_durable
        self._max_group = max_group
        self._pending: list[tuple[str, Mapping[str, Any], Any, asyncio.AbstractEventLoop | None, Any]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="triage-journal", daemon=True)
        self._thread.start()

    async def submit(self, kind: str, payload: Mapping[str, Any], context: Any = None) -> JournalEntry:
        """Append one entry; returns once it is fsync'd. ``context`` is handed to ``on_durable`` with it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[JournalEntry] = loop.create_future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("journal is closing")
            self._pending.append((kind, payload, context, loop, future))
            self._cond.notify()
        return await future

    def submit_sync(self, items: Sequence[tuple[str, Mapping[str, Any], Any]]) -> list[JournalEntry]:
        """Append entries from a worker thread (blocking until durable)."""
        done = threading.Event()
        results: list[JournalEntry | BaseException] = []

        class _Waiter:
            def set(self, value: JournalEntry | BaseException) -> None:
                results.append(value)
                if len(results) == len(items):
                    done.set()

        waiter = _Waiter()
        with self._cond:
            for kind, payload, context in items:
                self._pending.append((kind, payload, context, None, waiter))
            self._cond.notify()
        done.wait()
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return results  # type: ignore[return-value]

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(30)

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
                entries = self.journal.append_many([(kind, payload) for kind, payload, *_ in group])
                self.last_error = None
            except Exception as exc:  # nothing was acknowledged: fail the requests, keep serving
                self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                for *_, loop, future in group:
                    _resolve(loop, future, exc)
                continue
            self._on_durable([(entry, context) for entry, (_, _, context, _, _) in zip(entries, group, strict=True)])
            # One wake-up per event loop for the whole group (not one per request): each call_soon_threadsafe
            # is a self-pipe write and a loop iteration, which under load compete for the GIL.
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, JournalEntry]]] = {}
            for entry, (*_, loop, future) in zip(entries, group, strict=True):
                if loop is None:
                    future.set(entry)
                else:
                    by_loop.setdefault(loop, []).append((future, entry))
            for loop, done in by_loop.items():
                loop.call_soon_threadsafe(_set_results, done)


def _resolve(loop: asyncio.AbstractEventLoop | None, future: Any, value: Any) -> None:
    if loop is None:
        future.set(value)
        return
    if isinstance(value, BaseException):
        loop.call_soon_threadsafe(_set_exception, future, value)
    else:
        loop.call_soon_threadsafe(_set_result, future, value)


def _set_result(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_results(done: list[tuple[asyncio.Future, Any]]) -> None:
    for future, value in done:
        _set_result(future, value)


def _set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)

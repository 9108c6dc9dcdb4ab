"""The committer between a request and the journal: on the request's thread (interval mode), through its own
thread when the journal's lock is busy or every group must be synced first (always mode)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from tests.recovery.conftest import take_stream_lock

from triage.api.committer import GroupCommitter
from triage.recovery.journal import Journal


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[int, object, str]] = []

    def __call__(self, batch) -> None:
        self.seen += [(entry.seq, context, threading.current_thread().name) for entry, context in batch]


def test_interval_mode_appends_on_the_requests_thread_and_syncs_in_the_background(
    tmp_path: Path, fdatasync_calls: list[int]
) -> None:
    synced = fdatasync_calls
    journal, recorder = Journal(tmp_path), Recorder()
    committer = GroupCommitter(journal, recorder, sync_interval=0.02)
    try:
        async def post() -> list[int]:
            return [(await committer.submit("diagnosis", {"i": i}, context=f"c{i}")).seq for i in range(5)]

        assert asyncio.run(post()) == [1, 2, 3, 4, 5]
        # answered before any sync, from the loop's own thread (no hand-off), in order
        assert recorder.seen == [(i, f"c{i - 1}", threading.current_thread().name) for i in range(1, 6)]
        deadline = time.monotonic() + 5
        while not synced and time.monotonic() < deadline:
            time.sleep(0.01)
        assert synced, "the background thread never synced the journal"
        assert "synced to disk every 20 ms" in committer.check()
    finally:
        committer.stop()
    assert [e.payload["i"] for e in Journal(tmp_path).read()] == [0, 1, 2, 3, 4]
    assert take_stream_lock(journal) is not None  # stop lets go of the lock


def test_a_busy_lock_sends_the_request_to_the_thread_which_waits_for_it(tmp_path: Path) -> None:
    journal, recorder = Journal(tmp_path), Recorder()
    committer = GroupCommitter(journal, recorder, sync_interval=0.05)
    holder = take_stream_lock(journal)
    assert holder is not None
    threading.Timer(0.2, os.close, [holder]).start()  # another writer lets go after 0.2 s
    try:
        started = time.monotonic()
        entry = asyncio.run(committer.submit("diagnosis", {"i": 1}, context="c"))
        assert time.monotonic() - started >= 0.15  # it waited for the other writer, did not fail or skip
        assert entry.seq == 1 and recorder.seen == [(1, "c", "triage-journal")]
    finally:
        committer.stop()


def test_the_kept_lock_is_let_go_regularly_under_steady_load(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    committer = GroupCommitter(journal, Recorder(), sync_interval=0.01, lease=0.1, yield_seconds=0.02)
    outcome: list[object] = []

    def other_writer() -> None:  # another writer of the stream, polling for its lock as every Journal does
        try:
            outcome.append(Journal(tmp_path, lock_timeout=3).append("marker", {}).seq)
        except Exception as exc:
            outcome.append(exc)

    async def steady_load() -> int:
        await committer.submit("diagnosis", {})  # the lock is kept from here on
        waiter = threading.Thread(target=other_writer)
        waiter.start()
        posted = 1
        while waiter.is_alive():
            await committer.submit("diagnosis", {})
            posted += 1
            await asyncio.sleep(0.001)
        return posted

    try:
        posted = asyncio.run(steady_load())
    finally:
        committer.stop()
    assert len(outcome) == 1 and isinstance(outcome[0], int), outcome  # it got in, well within its timeout
    entries = list(Journal(tmp_path).read())
    assert [e.seq for e in entries] == list(range(1, posted + 2))
    assert [e.seq for e in entries if e.kind == "marker"] == outcome


def test_always_mode_answers_after_the_group_is_on_disk_and_keeps_no_lock(tmp_path: Path) -> None:
    journal, recorder = Journal(tmp_path), Recorder()
    committer = GroupCommitter(journal, recorder)
    try:
        async def post() -> list[int]:
            results = await asyncio.gather(*[committer.submit("diagnosis", {"i": i}, context=i) for i in range(20)])
            return [e.seq for e in results]

        assert sorted(asyncio.run(post())) == list(range(1, 21))
        assert {thread for *_, thread in recorder.seen} == {"triage-journal"}
        fd = take_stream_lock(journal)
        assert fd is not None  # between groups, the lock is free
        os.close(fd)
        assert committer.check() == "each group synced to disk before its answer"
    finally:
        committer.stop()


def test_a_failing_journal_fails_the_request_and_shows_in_readiness(tmp_path: Path) -> None:
    blocker = tmp_path / "stream-as-file"
    blocker.write_text("not a folder")
    journal = Journal(blocker.parent, blocker.name)  # its folder is a file: every append fails
    committer = GroupCommitter(journal, Recorder(), sync_interval=0.05)
    try:
        with pytest.raises(OSError):
            asyncio.run(committer.submit("diagnosis", {}))
        with pytest.raises(RuntimeError, match="journal failing"):
            committer.check()
    finally:
        committer.stop()

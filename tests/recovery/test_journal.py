from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.recovery.conftest import take_stream_lock

from triage.errors import Conflict
from triage.recovery.errors import JournalError
from triage.recovery.journal import (
    REWIND,
    Journal,
    JournaledStore,
    current_chain,
    read_chain,
    record_position,
    replay_into,
    store_position,
    voids_of,
)
from triage.storage.database import Database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 27, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)


def test_append_many_is_one_group_with_dense_seqs_and_monotonic_time(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    first = journal.append_many([("rows", {"n": 1}), ("rows", {"n": 2})])
    clock.now -= timedelta(minutes=5)  # the wall clock steps back
    third = journal.append("rows", {"n": 3})
    assert [e.seq for e in first] == [1, 2] and third.seq == 3
    assert third.ts == first[1].ts  # never goes backwards
    assert [e.payload["n"] for e in journal.read()] == [1, 2, 3]
    assert [e.seq for e in journal.read(after_seq=1, upto_seq=2)] == [2]


def test_read_until_is_a_prefix(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path, clock=clock)
    for n in range(5):
        journal.append("rows", {"n": n})
        clock.tick(10)
    until = datetime(2026, 5, 27, 6, 0, 25, tzinfo=UTC)
    assert [e.payload["n"] for e in journal.read(until=until)] == [0, 1, 2]


def test_segments_rotate_and_reads_span_them(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=300)
    for n in range(20):
        journal.append("rows", {"n": n, "pad": "x" * 40})
    segments = journal.segments()
    assert len(segments) > 3
    assert [e.payload["n"] for e in journal.read()] == list(range(20))
    assert journal.segments_for(5, 7) and all(s in segments for s in journal.segments_for(5, 7))
    removed = journal.prune_through(10)
    assert removed >= 1 and journal.first_seq() <= 11
    assert [e.seq for e in journal.read(after_seq=10)] == list(range(11, 21))


def test_a_torn_last_line_is_ignored_then_cut_by_the_next_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append_many([("rows", {"n": n}) for n in range(3)])
    segment = journal.segments()[-1]
    with open(segment, "ab") as f:
        f.write(b'{"seq":4,"ts":"2026-05-27T06:0')  # the crash cut this append short
    assert [e.seq for e in journal.read()] == [1, 2, 3]
    assert journal.last().seq == 3
    assert journal.append("rows", {"n": 3}).seq == 4
    assert [e.seq for e in journal.read()] == [1, 2, 3, 4]


def test_damage_in_the_middle_is_an_error_not_silence(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append_many([("rows", {"n": n}) for n in range(3)])
    segment = journal.segments()[-1]
    lines = segment.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"n":1', b'"n":7')  # altered, checksum no longer matches
    segment.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="line 2"):
        list(journal.read())


APPENDER = """
import os, sys
from pathlib import Path
from triage.recovery.journal import Journal
journal = Journal(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    journal.append("rows", {"pid": os.getpid(), "i": i})
"""


def test_appends_from_several_processes_stay_dense(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), "15"]) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    entries = list(Journal(tmp_path).read())
    assert [e.seq for e in entries] == list(range(1, 46))
    assert len({(e.payload["pid"], e.payload["i"]) for e in entries}) == 45


def test_one_journal_object_and_other_writers_interleave_densely(tmp_path: Path) -> None:
    """The appender keeps its segment open between groups: another writer's appends, a repair of a torn
    tail and a segment replaced under the same name must all be seen by its next append."""
    mine, other = Journal(tmp_path), Journal(tmp_path)
    mine.append("rows", {"n": 1})
    other.append("rows", {"n": 2})  # the file grew behind mine's back
    mine.append("rows", {"n": 3})
    segment = mine.segments()[-1]
    with open(segment, "ab") as f:
        f.write(b'{"seq":4,"ts":"torn')  # a crashed writer's half line
    assert mine.append("rows", {"n": 4}).seq == 4
    assert [e.payload["n"] for e in Journal(tmp_path).read()] == [1, 2, 3, 4]

    kept = segment.read_bytes()
    segment.unlink()
    segment.write_bytes(kept)  # same name and size, another file: an append to the old one would be lost
    assert mine.append("rows", {"n": 5}).seq == 5
    assert [e.payload["n"] for e in Journal(tmp_path).read()] == [1, 2, 3, 4, 5]
    mine.close()
    assert mine.append("rows", {"n": 6}).seq == 6  # usable after close: reopens on demand


def test_threads_of_one_process_sharing_a_journal_stay_dense(tmp_path: Path) -> None:
    import threading

    journal = Journal(tmp_path)

    def append(k: int) -> None:
        for i in range(20):
            journal.append_many([("rows", {"k": k, "i": i}), ("rows", {"k": k, "i": i, "second": True})])

    threads = [threading.Thread(target=append, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    entries = list(Journal(tmp_path).read())
    assert [e.seq for e in entries] == list(range(1, 161))
    for first, second in zip(entries[::2], entries[1::2], strict=True):  # a group is never split
        assert (first.payload["k"], first.payload["i"]) == (second.payload["k"], second.payload["i"])


def _store(tmp_path: Path) -> tuple[Database, Journal, JournaledStore]:
    db = Database(tmp_path / "s.duckdb")
    with db.write() as s:
        s.execute("CREATE TABLE events (id INTEGER, msg VARCHAR)")
    journal = Journal(tmp_path / "journal")
    return db, journal, JournaledStore(db, journal)


def rows(ids: range) -> list[tuple[str, dict]]:
    return [("rows", {"table": "events", "rows": [{"id": i, "msg": "m"} for i in ids]})]


def test_journaled_store_records_its_position_and_replay_rebuilds_it(tmp_path: Path) -> None:
    db, journal, store = _store(tmp_path)
    for start in range(0, 30, 10):
        store.submit(rows(range(start, start + 10)))
    with db.read() as s:
        assert store_position(s) == 3
        assert s.scalar("SELECT count(*) FROM events") == 30
    copy = Database(tmp_path / "copy.duckdb")
    with copy.write() as s:
        s.execute("CREATE TABLE events (id INTEGER, msg VARCHAR)")
    report = replay_into(copy, journal.read())
    assert (report.applied, report.last_seq) == (3, 3)
    assert replay_into(copy, journal.read()).applied == 0  # replay is idempotent through the position
    with copy.read() as s:
        assert s.scalar("SELECT count(*) FROM events") == 30


def test_catch_up_applies_what_a_crash_left_unapplied(tmp_path: Path) -> None:
    db, journal, store = _store(tmp_path)
    store.submit(rows(range(5)))
    journal.append_many(rows(range(5, 9)))  # appended, then the process died before applying
    assert store.catch_up() == 1
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM events") == 9


def test_the_chain_continues_over_journaled_writes_and_breaks_on_any_other(tmp_path: Path) -> None:
    db, _journal, store = _store(tmp_path)
    store.submit(rows(range(3)))
    chain = current_chain(db.path)
    assert chain is not None and chain.seq == 1
    store.submit(rows(range(3, 6)))
    assert current_chain(db.path).chain == chain.chain  # unbroken
    with db.write() as s:
        s.execute("INSERT INTO events VALUES (99, 'outside the journal')")
    assert current_chain(db.path) is None  # the store no longer matches the last journaled state
    store.submit(rows(range(6, 9)))
    assert read_chain(db.path).chain != chain.chain  # a new chain starts


def test_rewinds_void_ranges_and_later_rewinds_win() -> None:
    from triage.recovery.journal import JournalEntry

    t = datetime(2026, 1, 1, tzinfo=UTC)
    markers = [JournalEntry(10, t, REWIND, {"to_seq": 5}), JournalEntry(20, t, REWIND, {"to_seq": 2})]
    voids = voids_of(markers)
    assert [s for s in range(1, 25) if s in voids] == list(range(3, 20))
    inner = voids_of(
        [JournalEntry(10, t, REWIND, {"to_seq": 5}), JournalEntry(20, t, REWIND, {"to_seq": 12})]
    )
    assert [s for s in range(1, 25) if s in inner] == [6, 7, 8, 9, 13, 14, 15, 16, 17, 18, 19]


def test_a_write_discarded_by_a_concurrent_rollback_is_reported(tmp_path: Path) -> None:
    db, journal, _ = _store(tmp_path)

    class RacedJournal(Journal):
        """Between this append and its apply, a store rollback (another process) voids it."""

        def append_many(self, items):
            entries = super().append_many(items)
            marker = super().append_many([(REWIND, {"to_seq": entries[0].seq - 1})])[0]
            with db.write() as s:
                record_position(s, self.stream, marker)
            return entries

    store = JournaledStore(db, journal)
    store.submit(rows(range(3)))
    raced = JournaledStore(db, RacedJournal(journal.dir.parent))
    with pytest.raises(Conflict, match="submit them again"):
        raced.submit(rows(range(3, 6)))
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM events") == 3  # discarded, and the writer was told
    assert store.submit([]) == []


def test_try_append_keeps_the_lock_and_writes_nothing_while_another_writer_has_it(tmp_path: Path) -> None:
    mine = Journal(tmp_path)
    assert [e.seq for e in mine.try_append([("rows", {"n": 1}), ("rows", {"n": 2})])] == [1, 2]
    assert take_stream_lock(mine) is None  # kept after the append
    assert mine.try_append([("rows", {"n": 3})])[0].seq == 3  # the next one needs no lock round-trip
    mine.release_lock()
    other_fd = take_stream_lock(mine)
    assert other_fd is not None
    try:
        assert mine.try_append([("rows", {"n": 4})]) is None  # never waits
    finally:
        os.close(other_fd)
    Journal(tmp_path).append("rows", {"n": 4})  # another writer appends once the lock is free
    assert mine.try_append([("rows", {"n": 5})])[0].seq == 5  # and is seen: the lock was taken again
    assert [e.payload["n"] for e in Journal(tmp_path).read()] == [1, 2, 3, 4, 5]
    mine.close()
    assert take_stream_lock(mine) is not None  # close lets go of a kept lock


def test_another_writer_waits_for_a_kept_lock(tmp_path: Path) -> None:
    mine = Journal(tmp_path)
    mine.try_append([("rows", {"n": 1})])
    with pytest.raises(Conflict, match="busy"):
        Journal(tmp_path, lock_timeout=0.05).append("rows", {"n": 2})
    mine.release_lock()
    assert Journal(tmp_path, lock_timeout=0.05).append("rows", {"n": 2}).seq == 2


KILLED_APPENDER = """
import os, signal, sys
from pathlib import Path
from triage.recovery.journal import Journal
journal = Journal(Path(sys.argv[1]))
for i in range(50):
    assert journal.try_append([("rows", {"i": i})]) is not None
journal.append_many([("rows", {"i": 50})], durable=False)
os.kill(os.getpid(), signal.SIGKILL)  # no sync, no close, no exit handlers
"""


def test_unsynced_appends_survive_a_kill_of_the_writer(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_APPENDER, str(tmp_path)])
    assert proc.returncode == -9
    assert [e.payload["i"] for e in Journal(tmp_path).read()] == list(range(51))
    assert Journal(tmp_path).append("rows", {"i": 51}).seq == 52  # the kill released its lock


def test_sync_puts_unsynced_appends_on_disk_and_a_durable_append_covers_them(
    tmp_path: Path, fdatasync_calls: list[int]
) -> None:
    synced = fdatasync_calls
    journal = Journal(tmp_path)
    journal.append("rows", {"n": 1})
    journal.sync()
    assert synced == []  # a durable append left nothing to sync
    journal.append_many([("rows", {"n": 2})], durable=False)
    journal.append_many([("rows", {"n": 3})], durable=False)
    journal.sync()
    assert len(synced) == 1
    journal.sync()
    assert len(synced) == 1  # nothing new
    journal.try_append([("rows", {"n": 4})])
    journal.append("rows", {"n": 5})  # durable: its write alone would not cover 4, so the file is synced
    assert len(synced) == 2
    journal.sync()
    assert len(synced) == 2
    journal.append_many([("rows", {"n": 6})], durable=False)
    journal.close()  # closing syncs what is left
    assert len(synced) == 3
    assert [e.payload["n"] for e in Journal(tmp_path).read()] == [1, 2, 3, 4, 5, 6]


def test_a_full_segment_is_synced_before_the_next_one_starts(
    tmp_path: Path, fdatasync_calls: list[int]
) -> None:
    synced = fdatasync_calls
    journal = Journal(tmp_path, segment_bytes=200)
    journal.try_append([("rows", {"text": "x" * 300})])
    assert synced == []
    journal.try_append([("rows", {"text": "y"})])  # rotates: the full segment is synced before it is left
    assert len(synced) == 1 and len(journal.segments()) == 2
    journal.close()
    assert [e.seq for e in Journal(tmp_path).read()] == [1, 2]

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from triage.errors import Conflict
from triage.storage.database import Database, Migration, StorageError

MIGRATIONS = [
    Migration("demo", 1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR);"),
    Migration("demo", 2, "items_note", "ALTER TABLE items ADD COLUMN note VARCHAR;"),
]


def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    assert [m.version for m in db.migrate(MIGRATIONS)] == [1, 2]
    assert db.migrate(MIGRATIONS) == []
    with db.read() as s:
        cols = [r[0] for r in s.execute("SELECT column_name FROM information_schema.columns WHERE table_name='items'")]
    assert cols == ["id", "name", "note"]


def test_write_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    db.migrate(MIGRATIONS)
    with pytest.raises(RuntimeError), db.write() as s:
        s.append_df("items", pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}))
        raise RuntimeError("boom")
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM items") == 0


def test_bad_sql_is_a_storage_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    db.migrate(MIGRATIONS)
    with pytest.raises(StorageError), db.read() as s:
        s.execute("SELECT nope FROM items")


def test_a_replaced_store_file_gets_this_process_migrations_again(tmp_path: Path) -> None:
    """A restore swaps in a file from before a component created its tables; the component keeps working."""
    db = Database(tmp_path / "store.duckdb")
    db.migrate(MIGRATIONS)
    with db.write() as s:
        s.execute("INSERT INTO items VALUES (1, 'a', 'n')")
    older = Database(tmp_path / "older.duckdb")
    older.migrate([Migration("other", 1, "t", "CREATE TABLE other_table (x INTEGER);")])
    (tmp_path / "older.duckdb").replace(tmp_path / "store.duckdb")  # what a restore's atomic swap does

    with db.read() as s:  # a read comes first: the schema is brought back before it
        assert s.table_exists("items") and s.scalar("SELECT count(*) FROM items") == 0
        assert s.table_exists("other_table")  # what the swapped-in file had stays
    same_file = Database(tmp_path / "store.duckdb")  # another handle on the same path, same process
    with same_file.write() as s:
        s.execute("INSERT INTO items VALUES (2, 'b', 'n')")
    with same_file.read() as s:
        assert sorted(s.execute("SELECT component, version FROM schema_migrations")) == [
            ("demo", 1), ("demo", 2), ("other", 1)
        ]


def test_read_of_missing_store_is_clear(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="store not found"), Database(tmp_path / "none.duckdb").read():
        pass


def _hold_write(path: str, seconds: float, ready) -> None:
    db = Database(Path(path))
    with db.write() as s:
        s.execute("INSERT INTO items VALUES (99, 'held', NULL)")
        ready.set()
        time.sleep(seconds)


def test_a_reader_in_another_process_waits_for_the_writer(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    db.migrate(MIGRATIONS)
    ready = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=_hold_write, args=(str(db.path), 1.0, ready))
    proc.start()
    assert ready.wait(30)
    with db.read() as s:  # would raise DuckDB's lock error without the flock
        assert s.scalar("SELECT count(*) FROM items WHERE id = 99") == 1
    proc.join(30)
    assert proc.exitcode == 0


def test_lock_timeout_is_a_conflict(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    db.migrate(MIGRATIONS)
    ready = mp.get_context("spawn").Event()
    proc = mp.get_context("spawn").Process(target=_hold_write, args=(str(db.path), 2.0, ready))
    proc.start()
    assert ready.wait(30)
    impatient = Database(db.path, lock_timeout=0.2)
    with pytest.raises(Conflict, match="busy"), impatient.read():
        pass
    proc.join(30)


def _write_loop(path: str, hold: float, stop, started) -> None:
    """Write sessions back to back, each held ``hold`` seconds, until ``stop`` is set."""
    db = Database(Path(path))
    n = 0
    while not stop.is_set():
        with db.write() as s:
            n += 1
            s.execute("INSERT INTO items VALUES (?, 'loop', NULL)", [1000 + n])
            started.set()
            time.sleep(hold)


def test_a_writer_committing_back_to_back_cannot_starve_readers(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb", lock_timeout=60)
    db.migrate(MIGRATIONS)
    ctx = mp.get_context("spawn")
    stop, started = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_write_loop, args=(str(db.path), 0.2, stop, started))
    proc.start()
    try:
        assert started.wait(60)
        waits = []
        for _ in range(3):  # a reader that polled would never find the lock free between the sessions
            begun = time.monotonic()
            with db.read() as s:
                assert s.scalar("SELECT count(*) FROM items") >= 1
            waits.append(time.monotonic() - begun)
        assert max(waits) < 30
    finally:
        stop.set()
        proc.join(60)
    assert proc.exitcode == 0


def _write_once_after(path: str, ready, done) -> None:
    ready.wait(60)
    with Database(Path(path)).write() as s:
        s.execute("INSERT INTO items VALUES (7, 'late', NULL)")
    done.set()


def test_a_read_inside_a_shared_hold_does_not_queue_behind_a_waiting_writer(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb", lock_timeout=20)
    db.migrate(MIGRATIONS)
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_write_once_after, args=(str(db.path), ready, done))
    proc.start()
    with db.locked(exclusive=False):
        ready.set()
        time.sleep(1.0)  # the writer is now waiting for our shared hold
        assert not done.is_set()
        with db.read() as s:  # shared locks are compatible: no queueing behind the waiting writer
            assert s.scalar("SELECT count(*) FROM items WHERE id = 7") == 0
    assert done.wait(60)
    proc.join(60)
    assert proc.exitcode == 0


def test_a_read_waits_out_a_read_write_instance_still_closing_in_this_process(tmp_path: Path) -> None:
    import threading

    import duckdb

    db = Database(tmp_path / "s.duckdb")
    db.migrate(MIGRATIONS)
    lingering = duckdb.connect(str(db.path))  # as a write session's instance in teardown, outside the lock
    closer = threading.Timer(0.2, lingering.close)
    closer.start()
    with db.read() as s:  # DuckDB refuses a read-only open while it is there: the read retries, not fails
        assert s.scalar("SELECT count(*) FROM items") == 0
    closer.join()

    held = duckdb.connect(str(db.path))  # one that does not go away is still a clear storage error
    try:
        with pytest.raises(StorageError, match="different configuration"), db.read():
            pass
    finally:
        held.close()


def _count_in_another_process(path: Path, queue: mp.Queue) -> None:
    import duckdb

    try:
        con = duckdb.connect(str(path))  # read-write: fails while any process holds the file
        queue.put(con.execute("SELECT count(*) FROM items").fetchall()[0][0])
        con.close()
    except Exception as exc:  # pragma: no cover - the failure being tested for
        queue.put(repr(exc))


def test_a_kept_engine_holds_the_file_only_during_sessions(tmp_path: Path) -> None:
    """keep_engine attaches the file per session: between sessions another process opens it read-write,
    nothing is left in a WAL (detaching checkpoints), and a failed session rolls back and leaves the engine
    usable."""
    path = tmp_path / "s.duckdb"
    db = Database(path, keep_engine=True, threads=1)
    db.migrate(MIGRATIONS)
    wal = path.with_name(path.name + ".wal")
    wal_after_close: list[bool] = []
    for i in range(3):
        with db.write(after_close=lambda: wal_after_close.append(wal.exists())) as s:
            s.append_df("items", pd.DataFrame({"id": [i], "name": [f"n{i}"]}))
        assert wal_after_close == [False] * (i + 1)
        queue: mp.Queue = mp.get_context("spawn").Queue()
        other = mp.get_context("spawn").Process(target=_count_in_another_process, args=(path, queue))
        other.start()
        other.join(60)
        assert queue.get(timeout=5) == i + 1
    with pytest.raises(StorageError), db.write() as s:
        s.execute("INSERT INTO items VALUES (9, 'x', NULL)")
        s.execute("SELECT nope FROM items")
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM items") == 3
        assert s.read_only
    plain = Database(path)  # a plain handle in the same process, after the kept engine's sessions
    with plain.write() as s:
        s.execute("INSERT INTO items VALUES (10, 'y', NULL)")
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM items") == 4
    db.close()
    with db.read() as s:  # a closed engine is made again on demand
        assert s.scalar("SELECT count(*) FROM items") == 4


def test_a_kept_engine_checkpoints_in_the_commit_without_a_wal(tmp_path: Path, monkeypatch) -> None:
    """The commit of a kept engine's write session checkpoints at once: no WAL is written even before the
    file is detached (with DuckDB's default threshold the commit leaves one for the detach to fold in)."""
    path = tmp_path / "s.duckdb"
    wal = path.with_name(path.name + ".wal")
    db = Database(path, keep_engine=True, threads=1)
    db.migrate(MIGRATIONS)
    wal_before_detach: list[bool] = []
    close = Database._close

    def noting_close(self: Database, con: object) -> None:
        wal_before_detach.append(wal.exists())
        close(self, con)  # type: ignore[arg-type]

    monkeypatch.setattr(Database, "_close", noting_close)
    with db.write() as s:
        s.execute("INSERT INTO items SELECT range, 'x' || range, NULL FROM range(50000)")
    assert wal_before_detach == [False]
    with Database(path).read() as s:
        assert s.scalar("SELECT count(*) FROM items") == 50_000


def test_a_kept_engine_writes_row_groups_of_the_size_asked(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    db = Database(path, keep_engine=True, row_group_size=4096)
    db.migrate(MIGRATIONS)
    for start in (0, 5000):
        with db.write() as s:
            s.execute(f"INSERT INTO items SELECT range, 'x', NULL FROM range({start}, {start} + 5000)")
    with Database(path).read() as s:
        sizes = [r[0] for r in s.execute(
            "SELECT max(count) FROM pragma_storage_info('items') WHERE column_name = 'name' GROUP BY row_group_id"
        )]  # fmt: skip
    assert sum(sizes) == 10_000 and max(sizes) <= 4096
    with pytest.raises(ValueError):
        Database(path, row_group_size=4096)  # needs keep_engine
    with pytest.raises(ValueError):
        Database(path, keep_engine=True, row_group_size=5000)  # not a multiple of DuckDB's vector size


def test_a_kept_engine_waits_for_another_instance_of_the_file_that_is_still_closing(tmp_path: Path) -> None:
    """In the scorer, the log inbox's ingest (kept engine) follows sessions that opened the file as their
    own instance; one of those can outlive its session for a moment, and the attach must wait for it."""
    import duckdb

    db = Database(tmp_path / "s.duckdb", keep_engine=True)
    with db.write() as session:
        session.execute("CREATE TABLE t (x INTEGER)")
    lingering = duckdb.connect(str(db.path))  # a same-file instance of this process, closing late
    closer = threading.Timer(0.3, lingering.close)
    closer.start()
    try:
        with db.write() as session:
            session.execute("INSERT INTO t VALUES (1)")
    finally:
        closer.join()
    with db.read() as session:
        assert session.scalar("SELECT count(*) FROM t") == 1

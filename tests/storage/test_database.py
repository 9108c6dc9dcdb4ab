from __future__ import annotations

import multiprocessing as mp
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

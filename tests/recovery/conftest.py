"""Fixtures for recovery: a home with a snapshot key, and a small but real home to snapshot."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import pytest
from pydantic import SecretStr

from triage.recovery.crypto import generate_key
from triage.recovery.journal import Journal, JournaledStore
from triage.settings import Settings
from triage.storage.database import Database


@pytest.fixture
def rsettings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", snapshot_key=SecretStr(generate_key()))


def add_events(store: JournaledStore, ids: range, msg: str = "event") -> None:
    store.submit([("rows", {"table": "events", "rows": [{"id": i, "msg": f"{msg} {i}"} for i in ids]})])


def event_ids(settings: Settings) -> list[int]:
    with Database(settings.store_path).read() as session:
        return sorted(r[0] for r in session.execute("SELECT id FROM events"))


@pytest.fixture
def home(rsettings: Settings) -> JournaledStore:
    """A home holding a store with 50 events (written through the journal), an SQLite model store with
    artefacts, miner state and a routing table. Returns the journaled store to write more."""
    db = Database(rsettings.store_path)
    with db.write() as session:
        session.execute("CREATE TABLE events (id INTEGER, msg VARCHAR)")
    store = JournaledStore(db, Journal(rsettings.journal_dir))
    add_events(store, range(50))
    rsettings.models_dir.mkdir(parents=True)
    con = sqlite3.connect(rsettings.models_dir / "mlflow.db")
    con.execute("CREATE TABLE registered_model_aliases (name TEXT, alias TEXT, version INTEGER)")
    con.execute("CREATE TABLE model_versions (name TEXT, version INTEGER)")
    con.executemany("INSERT INTO model_versions VALUES (?, ?)", [("diag", 1), ("diag", 2)])
    con.execute("INSERT INTO registered_model_aliases VALUES ('diag', 'champion', 2)")
    con.commit()
    con.close()
    artefacts = rsettings.models_dir / "mlartifacts" / "1" / "abc" / "artifacts"
    artefacts.mkdir(parents=True)
    (artefacts / "model.txt").write_text("tree 0\nleaf 1.5\n")
    rsettings.interim_dir.mkdir(parents=True)
    (rsettings.interim_dir / "miner_state.json").write_text('{"clusters": 3}')
    (rsettings.home / "config").mkdir()
    (rsettings.home / "config" / "routing.yaml").write_text("hdfs: team-storage\n")
    return store


def take_stream_lock(journal: Journal) -> int | None:
    """The journal stream's flock through another open file, as another process takes it: its fd if it was
    free, else None (close the fd to let go)."""
    journal.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(journal.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd

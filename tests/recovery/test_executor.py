from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from triage.recovery.crypto import generate_key
from triage.recovery.errors import SnapshotCorrupt, SnapshotKeyError, SnapshotNotFound
from triage.recovery.executor import (
    INTENT_NAME,
    create_snapshot,
    open_repository,
    recover_interrupted,
    restore_snapshot,
    verify_snapshot,
    wait_for_cleanup,
)
from triage.recovery.journal import JournaledStore
from triage.recovery.manifest import Component
from triage.settings import Settings
from triage.storage.database import Database

from .conftest import add_events, event_ids


def tree(settings: Settings) -> dict[str, str]:
    """sha256 of every live file a restore manages (store, models, interim, config)."""
    out = {}
    roots = [settings.models_dir, settings.interim_dir, settings.home / "config"]
    files = [settings.store_path] + [
        p for r in roots if r.exists() for p in sorted(r.rglob("*")) if p.is_file()
    ]
    for path in files:
        if path.exists():
            out[str(path.relative_to(settings.home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def sqlite_dump(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def mutate(settings: Settings, store: JournaledStore) -> None:
    add_events(store, range(1000, 1010), "after")
    (settings.models_dir / "mlartifacts" / "1" / "abc" / "artifacts" / "model.txt").write_text(
        "tree 0\nleaf 9\n"
    )
    (settings.interim_dir / "miner_state.json").write_text('{"clusters": 4}')
    con = sqlite3.connect(settings.models_dir / "mlflow.db")
    con.execute("UPDATE registered_model_aliases SET version = 1")
    con.commit()
    con.close()
    (settings.interim_dir / "new.json").write_text("{}")
    (settings.home / "config" / "routing.yaml").unlink()


def test_full_snapshot_round_trip(rsettings: Settings, home: JournaledStore) -> None:
    before = tree(rsettings)
    dump_before = sqlite_dump(rsettings.models_dir / "mlflow.db")
    result = create_snapshot(rsettings, reason="before change", creator="ana")
    m = result.manifest
    assert m.kind == "full" and m.creator == "ana" and m.reason == "before change"
    assert {f.path for f in m.files} >= {
        "store/db", "models/mlflow.db", "models/mlartifacts/1/abc/artifacts/model.txt",
        "interim/miner_state.json", "config/routing.yaml", "settings/settings.json", "code/packages.json",
    }  # fmt: skip
    assert all(len(f.sha256) == 64 and f.size >= 0 for f in m.files)
    assert m.metadata["models"]["registry"] == {"diag": {"latest_version": 2, "aliases": {"champion": 2}}}
    assert rsettings.snapshot_key.get_secret_value() not in m.model_dump_json()  # the key is never stored
    mutate(rsettings, home)
    assert tree(rsettings) != before
    report = restore_snapshot(rsettings, m.id)
    # files come back byte for byte; the two databases are compared by content (SQLite's backup API and
    # the journal rewind marker rewrite their pages)
    databases = {"data/processed/triage.duckdb", "models/mlflow.db"}
    assert {k: v for k, v in tree(rsettings).items() if k not in databases} == {
        k: v for k, v in before.items() if k not in databases
    }
    assert event_ids(rsettings) == list(range(50))
    assert sqlite_dump(rsettings.models_dir / "mlflow.db") == dump_before
    assert Component.CODE not in report.components  # code is a record, not copied back
    leftovers = [p.name for p in rsettings.home.rglob(".*") if ".restore-" in p.name or ".before-" in p.name]
    assert leftovers == [] and not (rsettings.snapshots_dir / INTENT_NAME).exists()


def test_snapshot_files_are_encrypted_at_rest(rsettings: Settings, home: JournaledStore) -> None:
    create_snapshot(rsettings, components=["config"])
    blobs = b"".join(p.read_bytes() for p in rsettings.snapshots_dir.rglob("*") if p.is_file())
    assert b"clusters" not in blobs and b"team-storage" not in blobs and b"miner_state" not in blobs


def test_a_flipped_byte_in_any_snapshot_file_is_named_and_refused(
    rsettings: Settings, home: JournaledStore
) -> None:
    snap = create_snapshot(rsettings, components=["models", "config"]).manifest
    repo = open_repository(rsettings)
    chunk_files = sorted(p for p in (rsettings.snapshots_dir / "chunks").rglob("*") if p.is_file())
    owner = {c: f.path for f in snap.files for c in f.chunks}
    assert len(chunk_files) == len(owner)
    for path in chunk_files:
        original = path.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0x40
        path.write_bytes(bytes(damaged))
        report = verify_snapshot(repo, snap.id)
        assert not report.ok and report.first_bad == owner[path.name], path.name
        path.write_bytes(original)
    assert verify_snapshot(repo, snap.id).ok

    before = tree(rsettings)
    victim = repo.chunk_path(snap.file("interim/miner_state.json").chunks[0])
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    with pytest.raises(SnapshotCorrupt, match=r"interim/miner_state\.json"):
        restore_snapshot(rsettings, snap.id)
    assert tree(rsettings) == before  # nothing live was touched
    assert not [p for p in rsettings.home.rglob(".*restore-*")]

    manifest_file = repo.manifest_path(snap.id)
    data = bytearray(manifest_file.read_bytes())
    data[40] ^= 1
    manifest_file.write_bytes(bytes(data))
    report = verify_snapshot(repo, snap.id)
    assert not report.ok and report.first_bad == f"manifest of {snap.id}"
    with pytest.raises(SnapshotCorrupt):
        restore_snapshot(rsettings, snap.id)

    config = rsettings.snapshots_dir / "repo.json"
    config.write_text(config.read_text().replace('"chunk_size": 1048576', '"chunk_size": 1048577'))
    with pytest.raises(SnapshotKeyError, match="altered"):
        open_repository(rsettings)


def test_missing_snapshot_and_wrong_key_are_clear_errors(rsettings: Settings, home: JournaledStore) -> None:
    with pytest.raises(SnapshotNotFound):
        open_repository(rsettings, create=False)
    create_snapshot(rsettings, components=["config"])
    with pytest.raises(SnapshotNotFound, match="no snapshot 'nope'"):
        restore_snapshot(rsettings, "nope")
    other = rsettings.model_copy(update={"snapshot_key": SecretStr(generate_key())})
    with pytest.raises(SnapshotKeyError, match="not the key of the snapshots"):
        open_repository(other)


def test_incremental_snapshots_reuse_unchanged_chunks(rsettings: Settings, home: JournaledStore) -> None:
    repo = open_repository(rsettings, chunk_size=64 * 1024)
    blob = rsettings.interim_dir / "templates.bin"
    blob.write_bytes(os.urandom(2 * 1024 * 1024))  # 32 chunks
    first = create_snapshot(rsettings, repo=repo)
    assert first.stats["bytes_new"] >= 2 * 1024 * 1024
    again = create_snapshot(rsettings, repo=repo)
    # nothing changed: files are proven unchanged by their stat and not even read
    assert again.stats["files_unchanged"] >= 5
    assert again.stats["bytes_new"] < 10_000  # only the fresh settings/code records
    with open(blob, "r+b") as f:  # change ~1 % in one place
        f.seek(700_000)
        f.write(os.urandom(20_000))
    third = create_snapshot(rsettings, repo=repo)
    assert 20_000 <= third.stats["bytes_new"] <= 2 * 64 * 1024 + 10_000
    entry = third.manifest.file("interim/templates.bin")
    old = first.manifest.file("interim/templates.bin")
    assert sum(a != b for a, b in zip(entry.chunks, old.chunks, strict=True)) in (1, 2)
    assert verify_snapshot(repo, third.manifest.id).ok


def test_store_captured_from_the_journal_when_the_chain_is_unbroken(
    rsettings: Settings, home: JournaledStore
) -> None:
    base = create_snapshot(rsettings, components=["store"]).manifest
    assert base.store.mode == "chunks" and base.store.position == 1 and base.store.chain
    add_events(home, range(100, 110))
    add_events(home, range(110, 120))
    incremental = create_snapshot(rsettings, components=["store"])
    capture = incremental.manifest.store
    assert (capture.mode, capture.journal_from, capture.journal_to, capture.base) == (
        "journal",
        1,
        3,
        base.id,
    )
    assert incremental.stats["bytes_read"] < 10_000  # the store itself was not read
    assert incremental.manifest.file("store/db").chunks == base.file("store/db").chunks
    with Database(rsettings.store_path).write() as s:  # a write that bypasses the journal
        s.execute("INSERT INTO events VALUES (999, 'direct')")
    after_direct = create_snapshot(rsettings, components=["store"]).manifest
    assert after_direct.store.mode == "chunks"  # cannot be proven from the journal: read in full
    add_events(home, range(200, 205))
    restore_snapshot(rsettings, incremental.manifest.id)
    assert event_ids(rsettings) == list(range(50)) + list(range(100, 120))


def test_point_in_time_restore_loses_no_journaled_event(rsettings: Settings, home: JournaledStore) -> None:
    snap = create_snapshot(rsettings, components=["store"]).manifest
    moments = []
    for batch in range(4):
        add_events(home, range(100 + 10 * batch, 110 + 10 * batch))
        moments.append(home.journal.last().ts)
        time.sleep(0.002)
    from triage.recovery.rollback import rollback_store

    result = rollback_store(rsettings, to=moments[1])
    assert result.healthy and result.restore.replayed == 2
    assert event_ids(rsettings) == list(range(50)) + list(range(100, 120))
    # the later batches are not lost: a second restore to the last moment brings them back
    rollback_store(rsettings, to=moments[3], snapshot_id=snap.id)
    assert event_ids(rsettings) == list(range(50)) + list(range(100, 140))
    # a write after a rollback goes on top of the restored state, and the rolled-back entries stay void
    rollback_store(rsettings, to=moments[0])
    add_events(home, range(500, 503))
    from datetime import UTC, datetime

    rollback_store(rsettings, to=datetime.now(UTC), snapshot_id=snap.id)
    assert event_ids(rsettings) == list(range(50)) + list(range(100, 110)) + [500, 501, 502]


def test_store_snapshot_is_consistent_while_a_writer_runs(
    rsettings: Settings, home: JournaledStore, tmp_path: Path
) -> None:
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(rsettings.store_path), str(ready), str(stop)]
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        snap = create_snapshot(rsettings, components=["store"], store_mode="chunks").manifest
    finally:
        stop.touch()
        assert writer.wait(60) == 0
    other = Settings(home=rsettings.home.parent / "other", snapshot_key=rsettings.snapshot_key)
    restore_snapshot(other, snap.id, repo=open_repository(rsettings))
    with Database(other.store_path).read() as s:
        count = s.scalar("SELECT count(*) FROM batches")
    assert count > 0 and count % 500 == 0  # whole transactions only


WRITER = """
import sys, time
import pandas as pd
from pathlib import Path
from triage.storage.database import Database
db = Database(Path(sys.argv[1]))
ready, stop = Path(sys.argv[2]), Path(sys.argv[3])
with db.write() as s:
    s.execute("CREATE TABLE IF NOT EXISTS batches (n INTEGER, pad VARCHAR)")
end = time.monotonic() + 30
while time.monotonic() < end and not stop.exists():
    with db.write() as s:
        s.append_df("batches", pd.DataFrame({"n": range(500), "pad": ["x" * 50] * 500}))
    ready.touch()
"""

RESTORER = """
import os, sys, time
from pathlib import Path
from triage.recovery.executor import RestoreHooks, restore_snapshot
from triage.settings import Settings

settings = Settings(home=Path(sys.argv[1]))
phase = sys.argv[3]
marker = Path(sys.argv[4])

def stall(*_):
    marker.write_text("now")
    time.sleep(60)

hooks = RestoreHooks(after_build=stall) if phase == "build" else RestoreHooks(after_swap=stall)
restore_snapshot(settings, sys.argv[2], hooks=hooks)
"""


@pytest.mark.parametrize("phase", ["build", "swap"])
def test_a_kill_mid_restore_leaves_the_old_state_working(
    rsettings: Settings, home: JournaledStore, phase: str, tmp_path: Path
) -> None:
    snap = create_snapshot(rsettings, components=["store", "models", "config"]).manifest
    mutate(rsettings, home)
    live = tree(rsettings)
    live_ids = event_ids(rsettings)
    marker = tmp_path / "marker"
    env = {**os.environ, "TRIAGE_SNAPSHOT_KEY": rsettings.snapshot_key.get_secret_value()}
    proc = subprocess.Popen(
        [sys.executable, "-c", RESTORER, str(rsettings.home), snap.id, phase, str(marker)], env=env
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the restore never reached the point to interrupt"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    if phase == "build":
        assert tree(rsettings) == live  # nothing live was touched; the store still opens
        assert event_ids(rsettings) == live_ids
    else:
        assert tree(rsettings) != live  # the store was swapped in, the rest not: a torn state…
    assert "restore" in recover_interrupted(rsettings)  # …which the next recovery step undoes
    assert tree(rsettings) == live
    assert event_ids(rsettings) == live_ids
    assert _old_copies(rsettings) == []
    # and a later restore runs normally
    restore_snapshot(rsettings, snap.id)
    assert event_ids(rsettings) == list(range(50))


def _old_copies(settings: Settings) -> list[Path]:
    return [p for p in settings.home.rglob(".*") if ".restore-" in p.name or ".before-" in p.name]


def test_the_replaced_copies_are_removed_after_the_restore_returns(
    rsettings: Settings, home: JournaledStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage.recovery import executor

    snap = create_snapshot(rsettings, components=["store", "config"]).manifest
    mutate(rsettings, home)
    removal_may_start = threading.Event()
    remove_backups = executor._remove_backups

    def held_back(targets):  # keeps the clean-up thread at its start, as a slow disk would
        assert removal_may_start.wait(30)
        remove_backups(targets)

    monkeypatch.setattr(executor, "_remove_backups", held_back)
    restore_snapshot(rsettings, snap.id)
    assert event_ids(rsettings) == list(range(50))  # the restored state is live before the clean-up
    assert _old_copies(rsettings)
    second = threading.Thread(target=restore_snapshot, args=(rsettings, snap.id))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # a next restore waits for the clean-up (it holds the restore lock)
    removal_may_start.set()
    second.join(60)
    assert not second.is_alive()
    wait_for_cleanup(30)
    assert _old_copies(rsettings) == []
    assert not (rsettings.snapshots_dir / INTENT_NAME).exists()
    assert event_ids(rsettings) == list(range(50))


def test_a_damaged_store_is_still_snapshotted_as_evidence(rsettings: Settings) -> None:
    rsettings.store_path.parent.mkdir(parents=True)
    rsettings.store_path.write_bytes(b"not a duckdb file" * 1000)
    snap = create_snapshot(rsettings, components=["store"]).manifest
    assert snap.store.position == 0 and "unreadable" in snap.metadata["store"]
    assert snap.file("store/db").size == 17_000


def test_large_files_are_restored_chunk_parallel_and_still_refused_when_damaged(
    rsettings: Settings, home: JournaledStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage.recovery import chunks

    monkeypatch.setattr(
        chunks, "WHOLE_FILE_HASH_LIMIT", 1000
    )  # every file above 1 kB takes the parallel path
    repo = open_repository(rsettings, chunk_size=64 * 1024)
    blob = rsettings.interim_dir / "big.bin"
    blob.write_bytes(os.urandom(64 * 1024 * 5 + 123))  # 6 chunks, the last one short
    snap = create_snapshot(rsettings, components=["config", "store"], repo=repo).manifest
    original = blob.read_bytes()
    blob.write_bytes(b"changed")
    add_events(home, range(100, 105))
    restore_snapshot(rsettings, snap.id, repo=repo)
    assert blob.read_bytes() == original
    assert event_ids(rsettings) == list(range(50))

    entry = snap.file("interim/big.bin")
    victim = repo.chunk_path(entry.chunks[3])
    data = bytearray(victim.read_bytes())
    data[100] ^= 1
    victim.write_bytes(bytes(data))
    blob.write_bytes(b"changed again")
    with pytest.raises(SnapshotCorrupt, match=r"interim/big\.bin"):
        restore_snapshot(rsettings, snap.id, repo=repo)
    assert blob.read_bytes() == b"changed again"  # refused before anything live changed

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.recovery.errors import RestoreRefused
from triage.recovery.manifest import Component, FileEntry, SnapshotManifest, StoreCapture
from triage.recovery.planner import Layout, plan_restore

H = "0" * 64
LAYOUT = Layout(Path("/h/data/processed/triage.duckdb"), Path("/h/models"), Path("/h/data/interim"), Path("/h/config"),
                Path("/h/data/journal"))  # fmt: skip


def manifest(components, files, store=None) -> SnapshotManifest:
    return SnapshotManifest(
        id="20260527T061500Z-abcdef", created_at=datetime(2026, 5, 27, tzinfo=UTC), creator="t",
        components=tuple(components), chunk_size=1024, key_id="k", files=tuple(files), store=store,
    )  # fmt: skip


def entry(path: str) -> FileEntry:
    return FileEntry(path=path, size=1, sha256=H, chunks=("c",))


def test_targets_are_staged_beside_their_live_paths() -> None:
    m = manifest(list(Component), [entry("store/db"), entry("models/mlflow.db"), entry("interim/a.json")],
                 StoreCapture(position=4))  # fmt: skip
    plan = plan_restore(m, None, LAYOUT, token="t1")
    assert [t.live for t in plan.targets] == [
        LAYOUT.store_path, LAYOUT.store_path.with_name("triage.duckdb.wal"), LAYOUT.models_dir,
        LAYOUT.interim_dir, LAYOUT.config_dir,
    ]  # fmt: skip
    assert all(t.staged.parent == t.live.parent and t.backup.parent == t.live.parent for t in plan.targets)
    assert plan.targets[0].staged.name == ".triage.duckdb.restore-t1"
    assert plan.targets[1].entries == ()  # no WAL in the snapshot: a live WAL must go
    assert Component.CODE not in plan.components and plan.replay is None


def test_point_in_time_and_journal_mode_plan_a_replay() -> None:
    when = datetime(2026, 5, 27, 7, tzinfo=UTC)
    store = StoreCapture(mode="journal", position=2, journal_from=2, journal_to=9, base="x")
    m = manifest(
        [Component.STORE], [entry("store/db"), entry("journal/ingest/seg-000000000001.jsonl")], store
    )
    plan = plan_restore(m, (Component.STORE,), LAYOUT, token="t", until=when)
    assert plan.replay.after_seq == 2 and plan.replay.snapshot_upto == 9 and plan.replay.live_until == when
    assert [e.path for e in plan.replay.snapshot_segments] == ["journal/ingest/seg-000000000001.jsonl"]
    assert "replay the live journal" in "\n".join(plan.describe())


def test_refusals() -> None:
    m = manifest([Component.CONFIG, Component.CODE], [entry("interim/a")])
    with pytest.raises(RestoreRefused, match="does not hold store"):
        plan_restore(m, (Component.STORE,), LAYOUT, token="t")
    with pytest.raises(RestoreRefused, match="not restored"):
        plan_restore(m, (Component.CODE,), LAYOUT, token="t")
    with pytest.raises(RestoreRefused, match="store only"):
        plan_restore(m, (Component.CONFIG,), LAYOUT, token="t", until=datetime(2026, 1, 1, tzinfo=UTC))


def test_logical_paths_cannot_escape() -> None:
    for bad in ("store/../../etc/passwd", "/abs", "unknown/x", "models/", "models//x"):
        with pytest.raises(ValueError):
            entry(bad)

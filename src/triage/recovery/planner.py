"""Restore planning: which live paths a restore replaces, with what, and what is replayed. Pure.

A restore never writes over live state. Each *target* (the store file, its WAL, the models folder, the
interim folder, the config folder) is first built beside its live path under a staging name, verified, and
only then swapped in, one atomic rename per target (see :mod:`.executor`). The staging and backup names sit
in the live path's own folder so every rename stays on one filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from triage.recovery.errors import RestoreRefused
from triage.recovery.manifest import Component, FileEntry, SnapshotManifest


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each restorable root lives in a home folder (from Settings; a snapshot can go to another home)."""

    store_path: Path
    models_dir: Path
    interim_dir: Path
    config_dir: Path
    journal_dir: Path


@dataclass(frozen=True, slots=True)
class Target:
    """One live path a restore replaces. ``entries`` empty for a file target means "must not exist"."""

    root: str
    kind: Literal["file", "dir"]
    live: Path
    staged: Path
    backup: Path
    entries: tuple[FileEntry, ...]


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """Journal replay into the staged store before the swap."""

    stream: str
    after_seq: int
    #: Journal mode: segment files carried by the snapshot, replayed up to ``snapshot_upto``.
    snapshot_segments: tuple[FileEntry, ...]
    snapshot_upto: int | None
    #: Point in time: continue from the live journal up to this moment (None: no live replay).
    live_until: datetime | None


@dataclass(frozen=True, slots=True)
class RestorePlan:
    snapshot_id: str
    components: tuple[Component, ...]
    targets: tuple[Target, ...]
    replay: ReplaySpec | None

    def describe(self) -> list[str]:
        lines = [f"restore {', '.join(c.value for c in self.components)} from snapshot {self.snapshot_id}"]
        for t in self.targets:
            size = sum(e.size for e in t.entries)
            what = f"{len(t.entries)} file(s), {size} bytes" if t.entries else "nothing (removed if present)"
            lines.append(f"  replace {t.live} with {what}")
        if self.replay is not None:
            r = self.replay
            if r.snapshot_upto is not None:
                lines.append(
                    f"  replay journal entries {r.after_seq + 1}..{r.snapshot_upto} carried by the snapshot"
                )
            if r.live_until is not None:
                lines.append(f"  replay the live journal '{r.stream}' up to {r.live_until.isoformat()}")
        return lines


def plan_restore(
    manifest: SnapshotManifest,
    components: tuple[Component, ...] | None,
    layout: Layout,
    *,
    token: str,
    until: datetime | None = None,
) -> RestorePlan:
    """The targets and replay a restore of ``components`` (default: all the snapshot has) needs."""
    asked = tuple(components) if components else tuple(manifest.components)
    missing = [c.value for c in asked if c not in manifest.components]
    if missing:
        raise RestoreRefused(f"snapshot {manifest.id} does not hold {', '.join(missing)}")
    # code is a record (commit, package versions): redeployed by people, never copied over a running install
    wanted = tuple(c for c in asked if c is not Component.CODE)
    if not wanted:
        raise RestoreRefused("code is recorded in snapshots, not restored: redeploy the commit it names")
    if until is not None and Component.STORE not in wanted:
        raise RestoreRefused("a point in time (--to) applies to the store only")

    def staged(live: Path) -> Path:
        return live.with_name(f".{live.name}.restore-{token}")

    def backup(live: Path) -> Path:
        return live.with_name(f".{live.name}.before-{token}")

    def of_root(root: str) -> tuple[FileEntry, ...]:
        return tuple(sorted((f for f in manifest.files if f.root == root), key=lambda f: f.path))

    targets: list[Target] = []
    replay: ReplaySpec | None = None
    if Component.STORE in wanted:
        db = layout.store_path
        wal = db.with_name(db.name + ".wal")
        staged_db = staged(db)
        targets.append(
            Target(
                "store",
                "file",
                db,
                staged_db,
                backup(db),
                tuple(e for e in of_root("store") if e.path == "store/db"),
            )
        )
        # DuckDB looks for "<file>.wal" beside the file it opens, so the staged WAL sits beside the staged file.
        targets.append(
            Target("store", "file", wal, staged_db.with_name(staged_db.name + ".wal"), backup(wal),
                   tuple(e for e in of_root("store") if e.path == "store/wal"))
        )  # fmt: skip
        capture = manifest.store
        journal_mode = capture is not None and capture.mode == "journal"
        if journal_mode or until is not None:
            assert capture is not None
            replay = ReplaySpec(
                stream=capture.stream,
                after_seq=capture.journal_from
                if journal_mode and capture.journal_from is not None
                else capture.position,
                snapshot_segments=of_root("journal") if journal_mode else (),
                snapshot_upto=capture.journal_to if journal_mode else None,
                live_until=until,
            )
    if Component.MODELS in wanted:
        targets.append(
            Target(
                "models",
                "dir",
                layout.models_dir,
                staged(layout.models_dir),
                backup(layout.models_dir),
                of_root("models"),
            )
        )
    if Component.CONFIG in wanted:
        for root, live in (("interim", layout.interim_dir), ("config", layout.config_dir)):
            targets.append(Target(root, "dir", live, staged(live), backup(live), of_root(root)))
    return RestorePlan(manifest.id, wanted, tuple(targets), replay)

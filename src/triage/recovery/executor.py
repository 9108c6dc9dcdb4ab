"""The I/O half of recovery: create, verify and restore snapshots, and finish a restore a crash cut short.

Restore in three steps, so that a crash at any moment leaves the previous state usable:

1. **build** every target beside its live path under a staging name, rebuilding each file from its chunks
   (each chunk authenticated by AES-GCM, each file checked against the manifest's size and sha256), then
   replay the journal into the staged store. Any failure deletes the staging and changes nothing live.
2. **swap** each target in with one atomic ``renameat2(RENAME_EXCHANGE)`` (two renames where the kernel
   lacks it), holding the store's exclusive lock so no reader or writer has it open meanwhile.
3. **clean up** the old copies.

An *intent file* (``snapshots/restore-intent.json``) records the paths and inode numbers before step 1 and
before step 2. :func:`recover_interrupted` reads it: a crash during build just loses the staging; a crash
during the swap is rolled back target by target (the inode numbers tell which side of each exchange is
which), so the system is as it was before the restore began.

A store restore rewinds *data* only: inside the swap's exclusive-lock window, the governance tables
(audit trail, changes, alerts, API keys: :data:`triage.recovery.carry.CARRIED_FORWARD`) are copied from
the live file into the restored one before it goes live, so no record of what people did is lost.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.recovery import journal as jr
from triage.recovery.capture import (
    Capture,
    capture_code,
    capture_config,
    capture_models,
    capture_store,
    layout_of,
)
from triage.recovery.carry import (
    CARRIED_FORWARD,
    CarryReport,
    LiveStoreUnreadable,
    carried_row_counts,
    carry_forward,
    unreadable,
)
from triage.recovery.chunks import ChunkPipeline
from triage.recovery.crypto import SnapshotCipher
from triage.recovery.errors import RestoreRefused, SnapshotCorrupt
from triage.recovery.manifest import ALL_COMPONENTS, Component, FileEntry, SnapshotManifest
from triage.recovery.planner import Layout, RestorePlan, Target, plan_restore
from triage.recovery.records import RESTORE, SNAPSHOT, AuditSink, RecoveryRecord, no_audit
from triage.recovery.repository import DEFAULT_CHUNK_SIZE, SnapshotRepository
from triage.settings import Settings
from triage.storage.database import Database, Session
from triage.storage.files import exclusive_lock, fsync_dir

INTENT_NAME = "restore-intent.json"
_CLEANUPS: list[threading.Thread] = []


def open_repository(
    settings: Settings, *, create: bool = True, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> SnapshotRepository:
    """The snapshot folder of ``settings`` under its key (missing/wrong key: a clear SnapshotKeyError)."""
    cipher = SnapshotCipher.from_secret(settings.snapshot_key)
    return SnapshotRepository.open(settings.snapshots_dir, cipher, create=create, chunk_size=chunk_size)


def normalise_components(components: Iterable[Component | str] | None) -> tuple[Component, ...]:
    if not components:
        return ALL_COMPONENTS
    try:
        chosen = {Component(c) for c in components}
    except ValueError as exc:
        from triage.errors import InvalidInput

        raise InvalidInput(f"unknown component ({exc}); choose from {', '.join(ALL_COMPONENTS)}") from None
    return tuple(c for c in ALL_COMPONENTS if c in chosen)


def latest_with(
    manifests: Sequence[SnapshotManifest], component: Component, *, at_or_before: datetime | None = None
) -> SnapshotManifest | None:
    """The newest snapshot holding ``component`` (created no later than ``at_or_before``)."""
    for manifest in sorted(manifests, key=lambda m: m.created_at, reverse=True):
        if component in manifest.components and (at_or_before is None or manifest.created_at <= at_or_before):
            return manifest
    return None


# -- create ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SnapshotResult:
    manifest: SnapshotManifest
    stats: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.manifest.summary(), "stats": self.stats, "seconds": round(self.seconds, 3)}


def create_snapshot(
    settings: Settings,
    *,
    components: Iterable[Component | str] | None = None,
    reason: str = "",
    creator: str = "triage",
    store_mode: str = "auto",
    repo: SnapshotRepository | None = None,
    audit: AuditSink = no_audit,
) -> SnapshotResult:
    """Snapshot ``components`` (default: all, a full snapshot) under one manifest; returns it with stats."""
    started = time.perf_counter()
    repo = repo or open_repository(settings)
    recover_interrupted(settings)
    wanted = normalise_components(components)
    layout = layout_of(settings)
    with repo.locked(exclusive=False):
        manifests = repo.manifests()
        captures: dict[Component, Capture] = {}
        with ChunkPipeline(repo) as pipe:
            for component in wanted:
                parent = latest_with(manifests, component)
                if component is Component.STORE:
                    captures[component] = capture_store(pipe, parent, layout, mode=store_mode)
                elif component is Component.MODELS:
                    captures[component] = capture_models(pipe, parent, layout, repo.tmp_dir)
                elif component is Component.CONFIG:
                    captures[component] = capture_config(pipe, parent, layout, settings)
                else:
                    captures[component] = capture_code(pipe)
            pipe.commit()
            stats = pipe.stats
        created_at = datetime.now(UTC)
        previous = [m for m in manifests if set(m.components) & set(wanted)]
        manifest = SnapshotManifest(
            id=repo.new_id(created_at),
            created_at=created_at,
            creator=creator,
            reason=reason,
            parent=max(previous, key=lambda m: m.created_at).id if previous else None,
            components=wanted,
            chunk_size=repo.chunk_size,
            key_id=repo.cipher.key_id,
            files=tuple(f for c in wanted for f in captures[c].files),
            store=captures[Component.STORE].store if Component.STORE in captures else None,
            metadata={c.value: captures[c].metadata for c in wanted},
        )
        repo.save_manifest(manifest)
    result = SnapshotResult(manifest, stats.as_dict(), time.perf_counter() - started)
    audit(
        RecoveryRecord(
            SNAPSHOT, "snapshot", manifest.id, creator, reason or None,
            details={"components": [c.value for c in wanted], **result.stats,
                     "store_mode": manifest.store.mode if manifest.store else None},
        )
    )  # fmt: skip
    return result


# -- verify ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VerifyReport:
    snapshot_id: str
    ok: bool
    files: int
    bytes: int
    first_bad: str | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.snapshot_id, "ok": self.ok, "files": self.files, "bytes": self.bytes,
            "first_bad": self.first_bad, "problem": self.problem,
        }  # fmt: skip


def verify_snapshot(repo: SnapshotRepository, snapshot_id: str) -> VerifyReport:
    """Re-read and re-hash every file of a snapshot; the report names the first bad file."""
    try:
        manifest = repo.load_manifest(snapshot_id)
    except SnapshotCorrupt as exc:
        return VerifyReport(
            snapshot_id, False, 0, 0, first_bad=f"manifest of {snapshot_id}", problem=str(exc)
        )
    checked = checked_bytes = 0
    with ChunkPipeline(repo) as pipe:
        for entry in sorted(manifest.files, key=lambda f: f.path):
            try:
                pipe.check(entry)
            except SnapshotCorrupt as exc:
                return VerifyReport(
                    snapshot_id, False, checked, checked_bytes, first_bad=entry.path, problem=str(exc)
                )
            checked += 1
            checked_bytes += entry.size
    return VerifyReport(snapshot_id, True, checked, checked_bytes)


def read_record(repo: SnapshotRepository, manifest: SnapshotManifest, path: str) -> bytes:
    """The bytes of one file of a snapshot (e.g. ``code/packages.json``), verified."""
    entry = manifest.file(path)
    if entry is None:
        raise RestoreRefused(f"snapshot {manifest.id} has no {path}")
    with ChunkPipeline(repo) as pipe:
        return pipe.read_all(entry)


# -- restore -----------------------------------------------------------------------------------------------
@dataclass
class RestoreHooks:
    """Test seams: called after the staging is built and after each target is swapped in."""

    after_build: Callable[[], None] | None = None
    after_swap: Callable[[Target], None] | None = None


@dataclass(frozen=True, slots=True)
class RestoreReport:
    snapshot_id: str
    components: tuple[Component, ...]
    replaced: tuple[str, ...]
    bytes_written: int
    replayed: int
    replayed_to_seq: int | None
    replayed_to_ts: datetime | None
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Governance tables copied from the live store (rows per table); None when the store was not restored.
    carried: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.snapshot_id,
            "components": [c.value for c in self.components],
            "replaced": list(self.replaced),
            "bytes_written": self.bytes_written,
            "replayed": self.replayed,
            "replayed_to_seq": self.replayed_to_seq,
            "replayed_to_ts": self.replayed_to_ts.isoformat() if self.replayed_to_ts else None,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "carried": self.carried,
        }


def restore_snapshot(
    settings: Settings,
    snapshot_id: str,
    *,
    components: Iterable[Component | str] | None = None,
    until: datetime | None = None,
    apply: jr.ApplyFn = jr.apply_rows,
    keep_kinds: frozenset[str] = frozenset(),
    repo: SnapshotRepository | None = None,
    actor: str = "triage",
    reason: str | None = None,
    audit: AuditSink = no_audit,
    hooks: RestoreHooks | None = None,
) -> RestoreReport:
    """Restore components of a snapshot (the store optionally brought forward to ``until`` by the journal).

    ``apply`` re-applies journal entries to the store; entries of ``keep_kinds`` survive the rewind. The
    governance tables of the live store are carried into the restored one (see :mod:`.carry`).
    """
    started = time.perf_counter()
    repo = repo or open_repository(settings, create=False)
    hooks = hooks or RestoreHooks()
    recover_interrupted(settings)
    layout = layout_of(settings)
    manifest = repo.load_manifest(snapshot_id)
    plan = plan_restore(
        manifest,
        normalise_components(components) if components else None,
        layout,
        token=secrets.token_hex(4),
        until=jr.as_utc(until) if until else None,
    )
    wanted = plan.components
    intent = _Intent(settings.snapshots_dir / INTENT_NAME)
    replay: jr.ReplayReport | None = None
    prefix: dict[str, int] | None = None
    rewound: int | None = None
    carry: CarryReport | None = None
    kept_aside: Path | None = None
    with ExitStack() as held:
        held.enter_context(_exclusive(settings.snapshots_dir / ".restore.lock"))
        with repo.locked(exclusive=False):
            intent.save(
                {"state": "building", "snapshot": snapshot_id, "targets": [_paths(t) for t in plan.targets]}
            )
            try:
                with ChunkPipeline(repo) as pipe:
                    # the small records (settings, code) are checked too: a damaged snapshot is refused whole
                    for record in (f for f in manifest.files if f.root in ("settings", "code")):
                        pipe.check(record)
                    for target in plan.targets:
                        _build(pipe, target)
                    if plan.replay is not None:
                        replay, prefix = _replay(pipe, plan, layout, apply, keep_kinds)
                    written = pipe.stats.bytes_read
                for target in plan.targets:
                    if target.kind == "dir":
                        _fsync_tree(target.staged)
                if hooks.after_build:
                    hooks.after_build()
            except BaseException:
                _discard_staging(plan.targets)
                intent.clear()
                raise
            store_lock = (
                Database(layout.store_path).locked(exclusive=True)
                if Component.STORE in wanted
                else nullcontext()
            )
            with store_lock:
                if Component.STORE in wanted:
                    try:
                        rewound, carry = _seal_store(
                            layout, plan, manifest, replay, apply, keep_kinds, prefix
                        )
                    except BaseException:
                        _discard_staging(plan.targets)
                        intent.clear()
                        raise
                swaps = [
                    {**_paths(t), "new_ino": _ino(t.staged), "old_ino": _ino(t.live)} for t in plan.targets
                ]
                intent.save({"state": "swapping", "snapshot": snapshot_id, "targets": swaps})
                for target in plan.targets:
                    _swap(target)
                    if hooks.after_swap:
                        hooks.after_swap(target)
                if Component.STORE in wanted and manifest.store is not None and layout.store_path.exists():
                    position = _restored_position(plan, manifest, replay, rewound)
                    jr.start_chain(layout.store_path, manifest.store.stream, position)
                intent.save({"state": "swapped", "snapshot": snapshot_id, "targets": swaps})
            if carry is not None and not carry.done:  # after "swapped": an undo must still find the old file
                kept_aside = _keep_aside(next(t for t in plan.targets if t.live == layout.store_path))
        _clean_up_later(plan.targets, intent, held.pop_all())
    notes = _store_notes(manifest, plan) if Component.STORE in wanted else []
    if rewound is not None:
        notes.append(f"journal entries after the restored position are void (rewind marker {rewound})")
    if carry is not None:
        notes.extend(carry.notes)
        if carry.carried:
            notes.append(
                f"governance records carried forward from the live store: {', '.join(carry.carried)}"
            )
    if kept_aside is not None:
        notes.append(f"the unreadable live store was kept as {kept_aside}")
    report = RestoreReport(
        snapshot_id, wanted, tuple(str(t.live) for t in plan.targets), written,
        replay.applied if replay else 0, replay.last_seq if replay else None, replay.last_ts if replay else None,
        time.perf_counter() - started, tuple(notes), dict(carry.carried) if carry is not None else None,
    )  # fmt: skip
    audit(RecoveryRecord(RESTORE, "snapshot", snapshot_id, actor, reason, details=report.as_dict()))
    return report


def _store_notes(manifest: SnapshotManifest, plan: RestorePlan) -> list[str]:
    if plan.replay is None and manifest.store is not None and manifest.store.mode == "chunks":
        return [f"store restored at journal position {manifest.store.position}"]
    return []


def _paths(target: Target) -> dict[str, Any]:
    return {"root": target.root, "kind": target.kind, "live": str(target.live), "staged": str(target.staged),
            "backup": str(target.backup)}  # fmt: skip


def _build(pipe: ChunkPipeline, target: Target) -> None:
    if target.kind == "file":
        for entry in target.entries:  # zero or one
            pipe.write_to(entry, target.staged)
        return
    target.staged.mkdir(parents=True)
    for entry in target.entries:
        pipe.write_to(entry, target.staged / entry.relative)


def _replay(
    pipe: ChunkPipeline, plan: RestorePlan, layout: Layout, apply: jr.ApplyFn, keep_kinds: frozenset[str]
) -> tuple[jr.ReplayReport, dict[str, int]]:
    """Bring the staged store forward: journal carried by the snapshot, then the live journal to ``until``.

    Two passes over the same entries: the first collects rewind markers (a later restore discarded the
    entries between its position and the marker), the second applies what they leave. Also returns the
    row counts of the carried tables before the replay: the part of them that is the snapshot's own.
    """
    spec = plan.replay
    assert spec is not None
    staged_db = next(t.staged for t in plan.targets if t.root == "store" and t.live == layout.store_path)
    scratch = staged_db.with_name(staged_db.name + ".journal")
    segment_files: list[Path] = []
    reached = spec.after_seq
    if spec.snapshot_segments:
        scratch.mkdir()
        for entry in spec.snapshot_segments:
            dest = scratch / Path(entry.relative).name
            pipe.write_to(entry, dest)
            segment_files.append(dest)
        reached = spec.snapshot_upto if spec.snapshot_upto is not None else reached
    live = jr.Journal(layout.journal_dir, spec.stream)
    if spec.live_until is not None:
        first = live.first_seq()
        last = live.last()
        if last is not None and last.seq > reached and (first is None or first > reached + 1):
            raise RestoreRefused(
                f"the journal starts at entry {first}, but the snapshot needs it from entry {reached + 1}: "
                "restoring to that moment would lose events"
            )

    def dense() -> Iterator[jr.JournalEntry]:
        sources: list[Iterator[jr.JournalEntry]] = []
        if segment_files:
            sources.append(
                jr.read_segments(segment_files, after_seq=spec.after_seq, upto_seq=spec.snapshot_upto)
            )
        if spec.live_until is not None:
            sources.append(live.read(after_seq=reached, until=spec.live_until))
        expected = spec.after_seq + 1
        for source in sources:
            for entry in source:
                if entry.seq < expected:
                    continue
                if entry.seq != expected:
                    raise RestoreRefused(f"journal gap: entry {expected} is missing (found {entry.seq})")
                expected += 1
                yield entry
        if spec.snapshot_upto is not None and expected <= spec.snapshot_upto:
            raise RestoreRefused(
                f"the snapshot's journal ends at entry {expected - 1}, not {spec.snapshot_upto}"
            )

    try:
        prefix = carried_row_counts(Database(staged_db), CARRIED_FORWARD)
        voids = jr.voids_of(e for e in dense() if e.kind == jr.REWIND)
        report = jr.replay_into(
            Database(staged_db), dense(), apply, stream=spec.stream, voids=voids, keep_kinds=keep_kinds
        )
        return report, prefix
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        _remove_lock_files(staged_db)


def _restored_position(
    plan: RestorePlan, manifest: SnapshotManifest, replay: jr.ReplayReport | None, rewound: int | None
) -> int:
    """The journal position the restored store records."""
    assert manifest.store is not None
    if rewound is not None:
        return rewound
    if replay is not None and replay.last_seq is not None:
        return replay.last_seq
    if plan.replay is not None and plan.replay.snapshot_upto is not None:
        return plan.replay.snapshot_upto
    return manifest.store.position


def _seal_store(
    layout: Layout,
    plan: RestorePlan,
    manifest: SnapshotManifest,
    replay: jr.ReplayReport | None,
    apply: jr.ApplyFn,
    keep_kinds: frozenset[str],
    prefix: dict[str, int] | None,
) -> tuple[int | None, CarryReport | None]:
    """Make the staged store ready to go live (caller holds the live store's exclusive lock).

    In one transaction on the staged file: carry the governance tables forward from the live file, void the
    live journal entries past the restored position with a rewind marker (without it, a later replay or
    ``catch_up`` would bring the discarded entries back), apply the entries of ``keep_kinds`` the restored
    file would otherwise lack, and record the new position. Returns the marker's seq (None: no marker) and
    what was carried (None: there was no live store to carry from).

    Which ``keep_kinds`` entries are applied: with the live tables carried, those the live store never
    applied (past its own journal position: a crash between append and apply), since the others are in
    the carried audit trail already; without (no live store, or an unreadable one), those past the
    restored position, as the journal is then the only copy of them.
    """
    capture = manifest.store
    if capture is None:
        return None, None
    stream = capture.stream
    staged_db = next(t.staged for t in plan.targets if t.live == layout.store_path)
    if replay is not None and replay.last_seq is not None:
        position = replay.last_seq
    elif plan.replay is not None and plan.replay.snapshot_upto is not None:
        position = plan.replay.snapshot_upto
    else:
        position = capture.position
    live = jr.Journal(layout.journal_dir, stream)
    last = live.last()
    needs_marker = last is not None and last.seq > position
    if not layout.store_path.exists() and not needs_marker:
        return None, None

    def rewind(session: Session, carry: CarryReport | None) -> int | None:
        marker = (
            live.append(jr.REWIND, {"to_seq": position, "snapshot": manifest.id}) if needs_marker else None
        )
        if keep_kinds:
            since = carry.live_positions.get(stream, 0) if carry is not None and carry.done else position
            upto = marker.seq - 1 if marker is not None else None
            survivors = [e for e in live.read(after_seq=since, upto_seq=upto) if e.kind in keep_kinds]
            if survivors:
                apply(session, survivors)
        if marker is None:
            return None
        jr.record_position(session, stream, marker)
        return marker.seq

    db = Database(staged_db)
    try:
        db.migrate(jr.MIGRATIONS)
        carry: CarryReport | None = None
        try:
            with db.write() as session:
                if layout.store_path.exists():
                    carry = carry_forward(session, layout.store_path, CARRIED_FORWARD, prefix_rows=prefix)
                rewound = rewind(session, carry)
        except LiveStoreUnreadable as exc:
            carry = unreadable(str(exc))
            with db.write() as session:
                rewound = rewind(session, carry)
    finally:
        _remove_lock_files(staged_db)
    return rewound, carry


def _remove_lock_files(db_path: Path) -> None:
    """The lock file(s) ``Database`` keeps beside a staged store (``<file>.lock``, or ``<file>.*.lock``)."""
    for lock in db_path.parent.glob(glob.escape(db_path.name) + "*.lock"):
        lock.unlink(missing_ok=True)


def _keep_aside(store: Target) -> Path | None:
    """Keep the replaced (unreadable) store file for forensics instead of deleting it with the backups."""
    if not store.backup.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = store.live.with_name(f"{store.live.name}.unreadable-{stamp}-{secrets.token_hex(2)}")
    os.rename(store.backup, kept)
    fsync_dir(kept.parent)
    return kept


# -- swapping ----------------------------------------------------------------------------------------------
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
try:
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
except (AttributeError, OSError):  # pragma: no cover - glibc < 2.28 or not Linux
    _renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the kernel/filesystem cannot (callers fall back to renames)."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _ino(path: Path) -> int | None:
    try:
        return os.lstat(path).st_ino
    except FileNotFoundError:
        return None


def _swap(t: Target) -> None:
    staged, live = t.staged.exists(), t.live.exists()
    if staged and live:
        if _exchange(t.staged, t.live):
            os.rename(t.staged, t.backup)  # staged now holds the old state
        else:
            os.rename(t.live, t.backup)
            os.rename(t.staged, t.live)
    elif staged:
        t.live.parent.mkdir(parents=True, exist_ok=True)
        os.rename(t.staged, t.live)
    elif live:
        os.rename(t.live, t.backup)
    if t.live.parent.exists():
        fsync_dir(t.live.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_backups(targets: Sequence[Target]) -> None:
    for t in targets:
        _remove(t.backup)


def _clean_up_later(targets: Sequence[Target], intent: _Intent, restore_lock: ExitStack) -> None:
    """Remove the old copies once the restore has returned: the restored state is live already, and freeing a
    1 GB file's cached pages takes most of a second. The thread keeps the restore lock until it is done, so
    a next restore waits for it; a crash before then leaves the "swapped" intent, which
    :func:`recover_interrupted` completes. Not a daemon thread: a process finishes it before exiting."""

    def clean_up() -> None:
        with restore_lock:
            _remove_backups(targets)
            intent.clear()

    thread = threading.Thread(target=clean_up, name="restore-cleanup")
    thread.start()
    _CLEANUPS[:] = [t for t in _CLEANUPS if t.is_alive()] + [thread]


def wait_for_cleanup(timeout: float | None = None) -> None:
    """Wait until the old copies of every restore in this process are removed."""
    while _CLEANUPS:
        _CLEANUPS.pop().join(timeout)


def _discard_staging(targets: Sequence[Target]) -> None:
    for t in targets:
        _remove(t.staged)
        if t.kind == "file":
            for suffix in (".journal", ".wal"):
                _remove(t.staged.with_name(t.staged.name + suffix))
            _remove_lock_files(t.staged)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        fsync_dir(Path(dirpath))


class _Intent:
    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, body: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({**body, "at": datetime.now(UTC).isoformat()}, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def load(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _exclusive(path: Path, timeout: float = 600.0) -> AbstractContextManager[None]:
    return exclusive_lock(path, timeout=timeout, busy="another restore is running")


def recover_interrupted(settings: Settings) -> str | None:
    """Undo a restore that a crash cut short; returns what was done (None when there was nothing to do)."""
    intent = _Intent(settings.snapshots_dir / INTENT_NAME)
    if intent.load() is None:
        return None
    with _exclusive(settings.snapshots_dir / ".restore.lock"):
        body = intent.load()
        if body is None:
            return None
        targets = [
            Target(t["root"], t["kind"], Path(t["live"]), Path(t["staged"]), Path(t["backup"]), ())
            for t in body["targets"]
        ]
        state = body.get("state")
        store = layout_of(settings).store_path
        touches_store = any(t.live == store for t in targets)
        with Database(store).locked(exclusive=True) if touches_store else nullcontext():
            if state == "building":
                _discard_staging(targets)
                done = f"discarded the staging of an interrupted restore of {body.get('snapshot')}"
            elif state == "swapping":
                for t, raw in reversed(list(zip(targets, body["targets"], strict=True))):
                    _undo_swap(t, raw.get("old_ino"))
                _discard_staging(targets)
                done = f"rolled back an interrupted restore of {body.get('snapshot')}"
            else:  # swapped: the restore completed, only the old copies remained
                _remove_backups(targets)
                done = f"finished cleaning up the restore of {body.get('snapshot')}"
        intent.clear()
        return done


def _undo_swap(t: Target, old_ino: int | None) -> None:
    live_ino = _ino(t.live)
    if live_ino == old_ino:
        return  # this target was not swapped yet
    old_at = next((p for p in (t.staged, t.backup) if old_ino is not None and _ino(p) == old_ino), None)
    if live_ino is not None:
        discard = t.live.with_name(f".{t.live.name}.discard-{secrets.token_hex(3)}")
        os.rename(t.live, discard)
        _remove(discard)
    if old_at is not None:
        os.rename(old_at, t.live)
    if t.live.parent.exists():
        fsync_dir(t.live.parent)


def entries_of(manifest: SnapshotManifest, root: str) -> list[FileEntry]:
    return [f for f in manifest.files if f.root == root]


# -- prune -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PruneReport:
    kept: dict[str, tuple[str, ...]]
    dropped: tuple[str, ...]
    chunks_removed: int
    bytes_freed: int
    journal_segments_removed: int
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept": {k: list(v) for k, v in self.kept.items()},
            "dropped": list(self.dropped),
            "chunks_removed": self.chunks_removed,
            "bytes_freed": self.bytes_freed,
            "journal_segments_removed": self.journal_segments_removed,
            "dry_run": self.dry_run,
        }


def prune_snapshots(
    settings: Settings,
    policy: Any,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    repo: SnapshotRepository | None = None,
    audit: AuditSink = no_audit,
    actor: str = "triage",
) -> PruneReport:
    """Drop the snapshots the retention policy does not keep, their unreferenced chunks, and the journal
    segments no kept snapshot needs for point-in-time recovery."""
    from triage.recovery.retention import SnapshotStamp, select

    repo = repo or open_repository(settings, create=False)
    now = now or datetime.now(UTC)
    with repo.locked(exclusive=True):
        manifests = repo.manifests()
        decision = select([SnapshotStamp(m.id, m.created_at) for m in manifests], policy, now)
        if dry_run:
            return PruneReport(decision.keep, decision.drop, 0, 0, 0, True)
        for snapshot_id in decision.drop:
            repo.delete_manifest(snapshot_id)
        removed, freed = repo.gc(min_age_seconds=0)
        kept_store = [
            m.store for m in manifests if m.id in decision.keep and m.store and m.store.mode != "absent"
        ]
        segments = 0
        by_stream: dict[str, int] = {}
        for capture in kept_store:
            by_stream[capture.stream] = min(by_stream.get(capture.stream, capture.effective_position),
                                            capture.effective_position)  # fmt: skip
        for stream, position in by_stream.items():
            segments += jr.Journal(settings.journal_dir, stream).prune_through(position)
    report = PruneReport(decision.keep, decision.drop, removed, freed, segments, False)
    if decision.drop:
        audit(RecoveryRecord("recovery.prune", "snapshot", ",".join(decision.drop)[:200], actor, None,
                             details=report.as_dict()))  # fmt: skip
    return report

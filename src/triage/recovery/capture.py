"""What each component's snapshot reads, and how it keeps it consistent while the system runs.

* store: the DuckDB file, read while holding the store's *shared* lock, so no writer is mid-transaction
  (writers checkpoint and close before they release their exclusive lock). When the last snapshot of the
  store and now are joined by an unbroken chain of journaled writes (journal.py), the store is captured as
  that snapshot's chunks plus the journal since: nothing of the store is read at all.
* models: ``mlflow.db`` through SQLite's online backup API (consistent while MLflow writes), and every other
  file under ``models/`` (``mlartifacts/``, bundles).
* config: ``interim/`` (miner state, masking/redaction rules), ``<home>/config/`` (routing tables and rule
  overrides), the settings as JSON without secrets, and the secrets separately (encrypted like all else;
  the snapshot key itself is never included).
* code: the git commit of the checkout (if any) and the exact installed package versions.

A file whose stat (size, mtime, ctime, inode) equals the one recorded in the parent snapshot is reused
without being read: ctime cannot be set back by a user, so an equal stat proves the file unchanged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from triage.recovery import journal as jr
from triage.recovery.chunks import ChunkPipeline
from triage.recovery.manifest import FileEntry, SnapshotManifest, StoreCapture
from triage.recovery.planner import Layout
from triage.settings import CHECKOUT_DIR, Settings
from triage.storage.database import Database, StorageError

#: Transient files never captured (SQLite side files are covered by the backup API; locks are per host).
_SKIP_SUFFIXES = (".lock", "-journal", "-wal", "-shm", ".tmp")
SQLITE_NAMES = ("mlflow.db",)


def layout_of(settings: Settings) -> Layout:
    return Layout(
        store_path=settings.store_path,
        models_dir=settings.models_dir,
        interim_dir=settings.interim_dir,
        config_dir=settings.home / "config",
        journal_dir=settings.journal_dir,
    )


def stat_key(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


@dataclass
class Capture:
    files: list[FileEntry]
    metadata: dict[str, Any]
    store: StoreCapture | None = None


class _Parent:
    def __init__(self, manifest: SnapshotManifest | None) -> None:
        self.manifest = manifest
        self.by_path = {f.path: f for f in manifest.files} if manifest else {}

    def unchanged(self, logical: str, key: str | None) -> FileEntry | None:
        entry = self.by_path.get(logical)
        return entry if entry is not None and key is not None and entry.stat_key == key else None


def _walk(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _is_restore_leftover(d))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if (
                path.is_symlink()
                or not path.is_file()
                or name.endswith(_SKIP_SUFFIXES)
                or _is_restore_leftover(name)
            ):
                continue
            found.append(path)
    return found


def _is_restore_leftover(name: str) -> bool:
    """Staging and backup paths of a restore (``.name.restore-TOKEN``, ``.name.before-TOKEN``)."""
    return name.startswith(".") and (".restore-" in name or ".before-" in name)


def _capture_tree(
    pipe: ChunkPipeline, parent: _Parent, root: Path, prefix: str, *, skip: tuple[str, ...] = ()
) -> list[FileEntry]:
    entries = []
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        if rel in skip:
            continue
        logical = f"{prefix}/{rel}"
        key = stat_key(path)
        old = parent.unchanged(logical, key)
        entries.append(pipe.reuse(old) if old else pipe.capture_file(path, logical, stat_key=key))
    return entries


# -- store ---------------------------------------------------------------------------------------------------
def capture_store(
    pipe: ChunkPipeline,
    parent: SnapshotManifest | None,
    layout: Layout,
    *,
    mode: str = "auto",
    stream: str = jr.DEFAULT_STREAM,
    max_journal_ratio: float = 0.5,
) -> Capture:
    """Capture the store under its shared lock; ``mode`` is auto, chunks or journal."""
    path = layout.store_path
    db = Database(path)
    if not path.exists():
        return Capture([], {}, StoreCapture(mode="absent", stream=stream))
    wal = path.with_name(path.name + ".wal")
    with db.locked(exclusive=False):
        chain = jr.current_chain(path)
        if mode in ("auto", "journal"):
            reason = _journal_mode_refusal(parent, chain, wal, layout, stream, max_journal_ratio, path)
            if reason is None:
                assert parent is not None and parent.store is not None and chain is not None
                return _capture_store_from_journal(pipe, parent, chain, layout, stream)
            if mode == "journal":
                from triage.recovery.errors import RestoreRefused

                raise RestoreRefused(f"cannot capture the store from the journal: {reason}")
        notes: dict[str, Any] = {}
        try:
            with db.read() as session:  # both shared: compatible with the hold above
                position = jr.store_position(session, stream)
        except StorageError as exc:  # a damaged store is still worth keeping, as evidence
            position, notes["unreadable"] = 0, str(exc)
        key = jr.store_stat_key(path)
        parent_view = _Parent(parent)
        old = parent_view.unchanged("store/db", key)
        files = [pipe.reuse(old) if old else pipe.capture_file(path, "store/db", stat_key=key)]
        if wal.exists():
            files.append(pipe.capture_file(wal, "store/wal"))
        capture = StoreCapture(
            mode="chunks",
            stream=stream,
            position=position,
            chain=chain.chain if chain and not wal.exists() else None,
        )
        return Capture(files, {"store_bytes": files[0].size, **notes}, capture)


def _journal_mode_refusal(
    parent: SnapshotManifest | None,
    chain: jr.ChainState | None,
    wal: Path,
    layout: Layout,
    stream: str,
    max_ratio: float,
    path: Path,
) -> str | None:
    """Why the store cannot be captured from the journal now (None: it can)."""
    if parent is None or parent.store is None or parent.store.mode == "absent":
        return "no earlier snapshot of the store"
    if chain is None:
        return "the store was written outside the journal since its last journaled write"
    if parent.store.chain != chain.chain:
        return "the store was written outside the journal since the last snapshot"
    if wal.exists():
        return "the store has a WAL file (a writer did not close cleanly)"
    base_from = parent.store.journal_from if parent.store.mode == "journal" else parent.store.position
    assert base_from is not None
    journal = jr.Journal(layout.journal_dir, stream)
    first = journal.first_seq()
    if chain.seq > base_from and (first is None or first > base_from + 1):
        return "the journal no longer holds the entries since the last snapshot"
    segment_bytes = sum(p.stat().st_size for p in journal.segments_for(base_from, chain.seq))
    if segment_bytes > max_ratio * path.stat().st_size:
        return "the journal since the last full copy is large; a full copy restores faster"
    return None


def _capture_store_from_journal(
    pipe: ChunkPipeline, parent: SnapshotManifest, chain: jr.ChainState, layout: Layout, stream: str
) -> Capture:
    assert parent.store is not None
    if parent.store.mode == "journal":
        base_from, base_id = parent.store.journal_from, parent.store.base
    else:
        base_from, base_id = parent.store.position, parent.id
    assert base_from is not None
    files = [pipe.reuse(f) for f in parent.files if f.root == "store"]
    journal = jr.Journal(layout.journal_dir, stream)
    parent_view = _Parent(parent)
    for segment in journal.segments_for(base_from, chain.seq):
        logical = f"journal/{stream}/{segment.name}"
        key = stat_key(segment)
        old = parent_view.unchanged(logical, key)
        files.append(pipe.reuse(old) if old else pipe.capture_file(segment, logical, stat_key=key))
    capture = StoreCapture(
        mode="journal", stream=stream, position=base_from, journal_from=base_from, journal_to=chain.seq,
        chain=chain.chain, base=base_id,
    )  # fmt: skip
    return Capture(files, {"store_bytes": files[0].size if files else 0}, capture)


# -- models --------------------------------------------------------------------------------------------------
def capture_models(
    pipe: ChunkPipeline, parent: SnapshotManifest | None, layout: Layout, scratch: Path
) -> Capture:
    root = layout.models_dir
    parent_view = _Parent(parent)
    files: list[FileEntry] = []
    meta: dict[str, Any] = {}
    for name in SQLITE_NAMES:
        db_path = root / name
        if not db_path.is_file():
            continue
        side = [p for p in (root / f"{name}-wal",) if p.exists()]
        key = "|".join(stat_key(p) for p in (db_path, *side))
        logical = f"models/{name}"
        old = parent_view.unchanged(logical, key)
        if old:
            files.append(pipe.reuse(old))
        else:
            copy = scratch / f"{name}.backup"
            copy.unlink(missing_ok=True)
            _sqlite_backup(db_path, copy)
            try:
                entry = pipe.capture_file(copy, logical, stat_key=key)
            finally:
                copy.unlink(missing_ok=True)
            files.append(entry.model_copy(update={"mode": db_path.stat().st_mode & 0o777}))
        meta["registry"] = _registry_summary(db_path)
    files.extend(_capture_tree(pipe, parent_view, root, "models", skip=SQLITE_NAMES))
    return Capture(files, meta)


def _sqlite_backup(source: Path, dest: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()


def _registry_summary(db_path: Path) -> dict[str, Any]:
    """Registered models, their latest version and aliases, read from MLflow's tables if present."""
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return {}
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        summary: dict[str, Any] = {}
        if "model_versions" in tables:
            for name, latest in con.execute("SELECT name, max(version) FROM model_versions GROUP BY name"):
                summary.setdefault(name, {})["latest_version"] = int(latest)
        if "registered_model_aliases" in tables:
            for name, alias, version in con.execute(
                "SELECT name, alias, version FROM registered_model_aliases"
            ):
                summary.setdefault(name, {}).setdefault("aliases", {})[alias] = int(version)
        return summary
    except sqlite3.Error:
        return {}
    finally:
        con.close()


# -- config --------------------------------------------------------------------------------------------------
def settings_record(settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings without secrets, secrets); the snapshot key is in neither."""
    plain: dict[str, Any] = {}
    secret: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            if name != "snapshot_key":
                secret[name] = value.get_secret_value()
            plain[name] = "<secret>"
        else:
            plain[name] = value if isinstance(value, (int, float, bool, str, type(None))) else str(value)
    return plain, secret


def capture_config(
    pipe: ChunkPipeline, parent: SnapshotManifest | None, layout: Layout, settings: Settings
) -> Capture:
    parent_view = _Parent(parent)
    files = _capture_tree(pipe, parent_view, layout.interim_dir, "interim")
    files += _capture_tree(pipe, parent_view, layout.config_dir, "config")
    plain, secret = settings_record(settings)
    files.append(
        pipe.capture_bytes(json.dumps(plain, indent=1, sort_keys=True).encode(), "settings/settings.json")
    )
    if secret:
        files.append(pipe.capture_bytes(json.dumps(secret, sort_keys=True).encode(), "settings/secrets.json"))
    return Capture(files, {"settings": plain, "secret_names": sorted(secret)})


# -- code ----------------------------------------------------------------------------------------------------
def code_state(checkout: Path = CHECKOUT_DIR) -> tuple[dict[str, Any], dict[str, str]]:
    """(git facts, {package: version}) of the running installation."""
    git: dict[str, Any] = {"commit": None, "dirty": None, "checkout": None}
    if (checkout / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20
            )
            status = subprocess.run(
                ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=20,
            )  # fmt: skip
            if commit.returncode == 0:
                git = {
                    "commit": commit.stdout.strip(),
                    "dirty": bool(status.stdout.strip()),
                    "checkout": str(checkout),
                }
        except (OSError, subprocess.SubprocessError):
            pass
    return git, installed_packages()


def installed_packages() -> dict[str, str]:
    """{normalised name: exact version} of every installed distribution.

    Read from the ``<name>-<version>.dist-info`` folder names (PEP 376/427 fix that form), which is 50×
    faster than parsing ~200 METADATA files; other layouts (``.egg-info``) fall back to their metadata.
    """
    packages: dict[str, str] = {}
    for entry in sys.path:
        folder = Path(entry)
        if not folder.is_dir():
            continue
        for info in folder.iterdir():
            if info.suffix == ".dist-info" and "-" in info.stem:
                name, _, version = info.stem.rpartition("-")
                packages.setdefault(name.lower().replace("_", "-"), version)
            elif info.suffix == ".egg-info":
                dist = metadata.PathDistribution(info)
                name = dist.metadata["Name"]
                if name:
                    packages.setdefault(name.lower().replace("_", "-"), dist.version)
    return dict(sorted(packages.items()))


def capture_code(pipe: ChunkPipeline) -> Capture:
    git, packages = code_state()
    files = [
        pipe.capture_bytes(json.dumps(git, indent=1, sort_keys=True).encode(), "code/git.json"),
        pipe.capture_bytes(json.dumps(packages, indent=1, sort_keys=True).encode(), "code/packages.json"),
    ]
    return Capture(files, {"git": git, "packages": len(packages)})

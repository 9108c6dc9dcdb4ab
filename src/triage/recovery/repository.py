"""The snapshot folder: encrypted chunks under their keyed content address, encrypted manifests, one lock.

Layout under ``settings.snapshots_dir``::

    repo.json                 format, chunk size, key id and an HMAC under the key (wrong key vs damage)
    chunks/ab/ab12…           one sealed chunk per file, written to tmp/ then renamed (never half-written)
    manifests/<id>.manifest   one sealed SnapshotManifest per snapshot, written last
    tmp/                      in-flight writes; leftovers of a crash are removed by ``gc``
    .lock                     flock: creating a snapshot shares it, pruning takes it alone

A chunk is written only if no chunk of that id exists yet: that is what makes every snapshot after the
first incremental. A manifest lists every chunk it needs, so each snapshot stands alone and any of them
can be pruned without breaking the others; ``gc`` deletes chunks no manifest lists.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from triage.errors import Conflict
from triage.recovery.crypto import SnapshotCipher
from triage.recovery.errors import SnapshotCorrupt, SnapshotKeyError, SnapshotNotFound
from triage.recovery.manifest import SnapshotManifest
from triage.storage.files import fsync_dir

DEFAULT_CHUNK_SIZE = 1 << 20  # 4 DuckDB blocks: small enough that a 1 % change leaves most chunks alone
REPO_FORMAT = 1


class SnapshotRepository:
    """Reads and writes the snapshot folder under one key. Build with :meth:`open`."""

    def __init__(self, root: Path, cipher: SnapshotCipher, *, chunk_size: int) -> None:
        self.root = Path(root)
        self.cipher = cipher
        self.chunk_size = chunk_size
        self.chunks_dir = self.root / "chunks"
        self.manifests_dir = self.root / "manifests"
        self.tmp_dir = self.root / "tmp"

    # -- opening -----------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, root: Path, cipher: SnapshotCipher, *, create: bool = True, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> SnapshotRepository:
        """Open (or create) the folder; a key other than the folder's is a clear :class:`SnapshotKeyError`."""
        root = Path(root)
        config_path = root / "repo.json"
        if not config_path.exists():
            if not create:
                raise SnapshotNotFound(f"no snapshots in {root}")
            root.mkdir(parents=True, exist_ok=True)
            body = {
                "format": REPO_FORMAT,
                "chunk_size": chunk_size,
                "key_id": cipher.key_id,
                "created_at": datetime.now(UTC).isoformat(),
            }
            body["check"] = _check(cipher, body)
            tmp = root / f".repo.json.{secrets.token_hex(4)}"
            tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
            os.replace(tmp, config_path)
            fsync_dir(root)
        try:
            body = json.loads(config_path.read_text(encoding="utf-8"))
            check = body.pop("check")
            chunk_size = int(body["chunk_size"])
            key_id = str(body["key_id"])
        except (ValueError, KeyError, TypeError):
            raise SnapshotCorrupt(
                f"{config_path} is damaged (not the JSON triage wrote)", path="repo.json"
            ) from None
        if key_id != cipher.key_id or not hmac.compare_digest(str(check), _check(cipher, body)):
            raise SnapshotKeyError(
                f"the configured snapshot key (key id {cipher.key_id}) is not the key of the snapshots in "
                f"{root} (key id {key_id}), or {config_path.name} was altered"
            )
        repo = cls(root, cipher, chunk_size=chunk_size)
        for folder in (repo.chunks_dir, repo.manifests_dir, repo.tmp_dir):
            folder.mkdir(exist_ok=True)
        return repo

    # -- locking -----------------------------------------------------------------------------------------
    @contextmanager
    def locked(self, *, exclusive: bool = False, timeout: float = 600.0) -> Iterator[None]:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Conflict(
                            f"snapshot folder {self.root} is busy (a prune or snapshot runs)"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    # -- chunks ------------------------------------------------------------------------------------------
    def chunk_path(self, chunk_id: str) -> Path:
        return self.chunks_dir / chunk_id[:2] / chunk_id

    def has_chunk(self, chunk_id: str) -> bool:
        return self.chunk_path(chunk_id).exists()

    def put_chunk(self, chunk_id: str, data: memoryview | bytes, *, durable: bool = True) -> Path | None:
        """Seal and store a chunk unless one of that id exists (None then).

        ``durable``: fsync and rename into place now; returns the final path. Otherwise the sealed chunk is
        left in ``tmp/`` unsynced and its path returned: :meth:`commit_chunks` later syncs a whole batch at
        once and renames it into place. A chunk is never visible under its id before it is on disk, so a
        crash cannot leave a half-written chunk that a later snapshot would trust and reuse.
        """
        final = self.chunk_path(chunk_id)
        if final.exists():
            return None
        head, body = self.cipher.seal(data, chunk_id)
        tmp = self.tmp_dir / f"{chunk_id}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, head)
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if not durable:
            return tmp
        final.parent.mkdir(exist_ok=True)
        os.replace(tmp, final)
        return final

    def commit_chunks(self, pending: dict[str, Path]) -> None:
        """fsync a batch of chunks left in tmp/ (concurrently: the disk queues them), then move them into
        place and make the renames durable."""
        from concurrent.futures import ThreadPoolExecutor

        def sync(path: Path) -> None:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fsync") as pool:
            list(pool.map(sync, pending.values()))
        for chunk_id, tmp in pending.items():
            final = self.chunk_path(chunk_id)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
        fsync_dir(self.tmp_dir)
        self.sync_chunk_dirs(set(pending))

    def read_chunk(self, chunk_id: str, *, what: str) -> bytes:
        """Decrypt one chunk; damage or a missing chunk is a :class:`SnapshotCorrupt` naming ``what``."""
        try:
            blob = self.chunk_path(chunk_id).read_bytes()
        except FileNotFoundError:
            raise SnapshotCorrupt(f"{what}: chunk {chunk_id[:12]}… is missing", path=what) from None
        return self.cipher.open(blob, chunk_id, what=what)

    def sync_chunk_dirs(self, chunk_ids: set[str]) -> None:
        """Make the renames of new chunks durable (one fsync per fan-out folder touched)."""
        for prefix in sorted({c[:2] for c in chunk_ids}):
            folder = self.chunks_dir / prefix
            if folder.exists():
                fsync_dir(folder)

    # -- manifests ---------------------------------------------------------------------------------------
    def manifest_path(self, snapshot_id: str) -> Path:
        return self.manifests_dir / f"{snapshot_id}.manifest"

    def new_id(self, created_at: datetime) -> str:
        from triage.recovery.manifest import snapshot_id

        while True:
            candidate = snapshot_id(created_at, secrets.token_hex(3))
            if not self.manifest_path(candidate).exists():
                return candidate

    def save_manifest(self, manifest: SnapshotManifest) -> None:
        data = manifest.model_dump_json().encode("utf-8")
        blob = self.cipher.seal_bytes(data, f"manifest:{manifest.id}")
        tmp = self.tmp_dir / f"{manifest.id}.manifest.{secrets.token_hex(4)}"
        with open(tmp, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.manifest_path(manifest.id))
        fsync_dir(self.manifests_dir)

    def load_manifest(self, snapshot_id: str) -> SnapshotManifest:
        path = self.manifest_path(snapshot_id)
        if "/" in snapshot_id or not path.exists():
            raise SnapshotNotFound(f"no snapshot {snapshot_id!r} in {self.root}")
        what = f"manifest of {snapshot_id}"
        data = self.cipher.open(path.read_bytes(), f"manifest:{snapshot_id}", what=what)
        try:
            manifest = SnapshotManifest.model_validate_json(data)
        except ValidationError:
            raise SnapshotCorrupt(f"{what}: not a manifest triage wrote", path=what) from None
        if manifest.id != snapshot_id:
            raise SnapshotCorrupt(f"{what}: holds snapshot {manifest.id}", path=what)
        return manifest

    def snapshot_ids(self) -> list[str]:
        """Ids oldest first (ids sort by creation time)."""
        if not self.manifests_dir.exists():
            return []
        return sorted(p.name.removesuffix(".manifest") for p in self.manifests_dir.glob("*.manifest"))

    def manifests(self) -> list[SnapshotManifest]:
        return [self.load_manifest(i) for i in self.snapshot_ids()]

    def delete_manifest(self, snapshot_id: str) -> None:
        self.manifest_path(snapshot_id).unlink(missing_ok=True)

    # -- garbage -----------------------------------------------------------------------------------------
    def gc(self, *, min_age_seconds: float = 3600.0) -> tuple[int, int]:
        """Delete chunks no manifest lists, and stale temporary files; returns (files, bytes) removed.

        Call with the exclusive lock held. Chunks younger than ``min_age_seconds`` are kept anyway, in case
        a snapshot being written by a process that ignores the lock still needs them.
        """
        wanted: set[str] = set()
        for manifest in self.manifests():
            wanted |= manifest.chunk_ids()
        now = time.time()
        removed = freed = 0
        for path in list(self.chunks_dir.glob("*/*")) + list(self.tmp_dir.glob("*")):
            if path.name in wanted and path.parent != self.tmp_dir:
                continue
            stat = path.stat()
            if now - stat.st_mtime < min_age_seconds:
                continue
            path.unlink(missing_ok=True)
            removed += 1
            freed += stat.st_size
        return removed, freed

    def stored_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.chunks_dir.glob("*/*"))


def _check(cipher: SnapshotCipher, body: dict) -> str:
    """HMAC of the folder's settings under the chunk-id key: proves the key matches and the file is intact."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return cipher.chunk_id_of_digest(hashlib.sha256(b"repo.json:" + canonical).digest())

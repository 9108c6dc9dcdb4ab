"""Moving file bytes in and out of the snapshot folder: chunking, hashing, sealing, on a small thread pool.

sha256, AES-GCM and file reads release the GIL on large buffers, so two worker threads overlap with the
calling thread: it reads the file and keeps the whole-file sha256 (sequential by nature), while workers hash
chunks for their ids, seal and write them. Chunks are fixed-size: the DuckDB store changes in place in whole
blocks, so fixed boundaries line up with what changed (no content-defined chunking needed).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from triage.recovery.crypto import HEADER_BYTES, TAG_BYTES
from triage.recovery.errors import SnapshotCorrupt
from triage.recovery.manifest import FileEntry
from triage.recovery.repository import SnapshotRepository
from triage.storage.files import start_writeback

WORKERS = 2
IN_FLIGHT = 6
#: Restores re-hash whole files up to this size; larger ones are proven chunk by chunk (in parallel).
WHOLE_FILE_HASH_LIMIT = 64 << 20
#: While restoring a large file, start the disk writing every this many bytes (see ``start_writeback``).
WRITEBACK_BYTES = 32 << 20


@dataclass
class TransferStats:
    files: int = 0
    bytes_read: int = 0
    chunks_new: int = 0
    bytes_new: int = 0
    files_unchanged: int = 0
    bytes_unchanged: int = 0
    new_chunk_ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "files": self.files,
            "bytes_read": self.bytes_read,
            "chunks_new": self.chunks_new,
            "bytes_new": self.bytes_new,
            "files_unchanged": self.files_unchanged,
            "bytes_unchanged": self.bytes_unchanged,
        }


class ChunkPipeline:
    """Captures files into the repository and streams them back out, verified. Use as a context manager."""

    def __init__(self, repo: SnapshotRepository, *, workers: int = WORKERS) -> None:
        self.repo = repo
        self.stats = TransferStats()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot")
        self._claimed: set[str] = set()
        self._pending: dict[str, Path] = {}

    def __enter__(self) -> ChunkPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for tmp in self._pending.values():  # not committed: an error interrupted the snapshot
            tmp.unlink(missing_ok=True)
        self._pending.clear()

    # -- in ----------------------------------------------------------------------------------------------
    def _store(self, view: memoryview) -> str:
        chunk_id = self.repo.cipher.chunk_id_of_digest(hashlib.sha256(view).digest())
        with self.stats._lock:
            if chunk_id in self._claimed:  # the same bytes twice in this snapshot
                return chunk_id
            self._claimed.add(chunk_id)
        tmp = self.repo.put_chunk(chunk_id, view, durable=False)
        if tmp is not None:
            with self.stats._lock:
                self._pending[chunk_id] = tmp
                self.stats.chunks_new += 1
                self.stats.bytes_new += len(view)
                self.stats.new_chunk_ids.add(chunk_id)
        return chunk_id

    def commit(self) -> None:
        """Make every chunk written so far durable and visible (before the manifest that lists them)."""
        pending, self._pending = dict(self._pending), {}
        self.repo.commit_chunks(pending)

    def capture_file(self, path: Path, logical: str, *, stat_key: str | None = None) -> FileEntry:
        """Chunk, seal and store one file; returns its entry (size, sha256, chunk ids)."""
        size_hint = self.repo.chunk_size
        whole = hashlib.sha256()
        pending: deque[Future[str]] = deque()
        chunk_ids: list[str] = []
        size = 0
        with open(path, "rb", buffering=0) as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            while True:
                buf = bytearray(size_hint)
                n = _read_full(f, buf)
                if n == 0:
                    break
                view = memoryview(buf)[:n]
                size += n
                pending.append(self._pool.submit(self._store, view))
                whole.update(view)
                while len(pending) > IN_FLIGHT:
                    chunk_ids.append(pending.popleft().result())
                if n < size_hint:
                    break
        chunk_ids.extend(fut.result() for fut in pending)
        self.stats.files += 1
        self.stats.bytes_read += size
        return FileEntry(
            path=logical,
            size=size,
            sha256=whole.hexdigest(),
            chunks=tuple(chunk_ids),
            mode=mode,
            stat_key=stat_key,
        )

    def capture_bytes(self, data: bytes, logical: str, *, mode: int = 0o600) -> FileEntry:
        view = memoryview(data)
        step = self.repo.chunk_size
        futures = [self._pool.submit(self._store, view[i : i + step]) for i in range(0, len(view), step)]
        self.stats.files += 1
        self.stats.bytes_read += len(data)
        return FileEntry(
            path=logical, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
            chunks=tuple(f.result() for f in futures), mode=mode,
        )  # fmt: skip

    def reuse(self, entry: FileEntry) -> FileEntry:
        """Keep an entry of the parent snapshot for a file proven unchanged (its chunks must still exist)."""
        if not all(self.repo.has_chunk(c) for c in entry.chunks):
            raise SnapshotCorrupt(f"{entry.path}: a chunk of the parent snapshot is missing", path=entry.path)
        self.stats.files_unchanged += 1
        self.stats.bytes_unchanged += entry.size
        return entry

    # -- out ---------------------------------------------------------------------------------------------
    def stream(self, entry: FileEntry, *, check_ids: bool = False) -> Iterator[bytes]:
        """The plaintext chunks of a file in order, decrypted (and authenticated) ahead on the pool."""
        what = entry.path

        def load(chunk_id: str) -> bytes:
            data = self.repo.read_chunk(chunk_id, what=what)
            if check_ids and self.repo.cipher.chunk_id(data) != chunk_id:
                raise SnapshotCorrupt(f"{what}: chunk {chunk_id[:12]}… holds other content", path=what)
            return data

        pending: deque[Future[bytes]] = deque()
        ids = iter(entry.chunks)
        try:
            for chunk_id in ids:
                pending.append(self._pool.submit(load, chunk_id))
                if len(pending) > IN_FLIGHT:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()

    def check(self, entry: FileEntry, *, check_ids: bool = True) -> None:
        """Re-hash one file from its chunks; raises SnapshotCorrupt naming it when anything differs."""
        whole = hashlib.sha256()
        size = 0
        for data in self.stream(entry, check_ids=check_ids):
            whole.update(data)
            size += len(data)
        _compare(entry, size, whole.hexdigest())

    def write_to(self, entry: FileEntry, dest: Path) -> None:
        """Rebuild one file at ``dest`` (which must not exist), fsync'd and verified.

        Every chunk is authenticated by AES-GCM on the worker threads, bound to its chunk id (a tag
        computed under the secret key over the exact bytes sealed for that id): with the manifest's
        ordered chunk list and the size, that proves the file byte for byte, against damage and against
        tampering. Files up to WHOLE_FILE_HASH_LIMIT also get their whole sha256 checked; for larger ones
        that sequential pass would be the slowest part of restoring a store. `snapshot verify` re-hashes
        everything (chunk ids and whole files) whatever the size.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        if entry.size > WHOLE_FILE_HASH_LIMIT:
            self._write_parallel(entry, dest)
            return
        whole = hashlib.sha256()
        size = 0
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for data in self.stream(entry):
                if whole is not None:
                    whole.update(data)
                size += len(data)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        _compare(entry, size, whole.hexdigest())
        os.chmod(dest, entry.mode)
        self.stats.files += 1
        self.stats.bytes_read += size

    def _write_parallel(self, entry: FileEntry, dest: Path) -> None:
        """A large file: workers read and authenticate/decrypt whole chunks ahead into reused buffers; the
        calling thread appends them in order. One writer, because parallel writes to one file serialise on
        the inode lock in the kernel and spin there (measured: 15 % of a restore's CPU), and in-order
        appends let the file system allocate the file in long runs."""
        step = self.repo.chunk_size
        count = len(entry.chunks)
        if count != -(-entry.size // step):
            raise SnapshotCorrupt(
                f"{entry.path}: {count} chunks cannot hold {entry.size} bytes", path=entry.path
            )
        local = threading.local()
        spare: deque[bytearray] = deque()  # plaintext buffers handed back by the writer

        def one(index: int, chunk_id: str) -> memoryview:
            if not hasattr(local, "sealed"):
                local.sealed = bytearray(step + HEADER_BYTES + TAG_BYTES + 1)
            expected = min(step, entry.size - index * step)
            try:
                with open(self.repo.chunk_path(chunk_id), "rb", buffering=0) as f:
                    n = _read_full(f, local.sealed)
            except FileNotFoundError:
                raise SnapshotCorrupt(
                    f"{entry.path}: chunk {chunk_id[:12]}… is missing", path=entry.path
                ) from None
            if n != expected + HEADER_BYTES + TAG_BYTES:
                raise SnapshotCorrupt(f"{entry.path}: chunk {index} has the wrong length", path=entry.path)
            try:
                plain = spare.popleft()
            except IndexError:
                plain = bytearray(step)
            out = memoryview(plain)[:expected]
            self.repo.cipher.open_into(memoryview(local.sealed)[:n], chunk_id, out, what=entry.path)
            return out

        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        pending: deque[Future[memoryview]] = deque()
        flushed = written = 0

        def write(view: memoryview) -> None:
            nonlocal flushed, written
            written += _write_all(fd, view, spare)
            if written - flushed >= WRITEBACK_BYTES:  # the disk starts on this part while we decrypt the next
                start_writeback(fd, flushed, written - flushed)
                flushed = written

        try:
            for index, chunk_id in enumerate(entry.chunks):
                pending.append(self._pool.submit(one, index, chunk_id))
                if len(pending) > IN_FLIGHT:
                    write(pending.popleft().result())
            while pending:
                write(pending.popleft().result())
            os.fsync(fd)
        finally:
            for fut in pending:
                fut.cancel()
            os.close(fd)
        os.chmod(dest, entry.mode)
        self.stats.files += 1
        self.stats.bytes_read += entry.size

    def read_all(self, entry: FileEntry) -> bytes:
        data = b"".join(self.stream(entry))
        _compare(entry, len(data), hashlib.sha256(data).hexdigest())
        return data


def _compare(entry: FileEntry, size: int, digest: str | None) -> None:
    if size != entry.size:
        raise SnapshotCorrupt(
            f"{entry.path}: {size} bytes rebuilt, manifest says {entry.size}", path=entry.path
        )
    if digest is not None and digest != entry.sha256:
        raise SnapshotCorrupt(f"{entry.path}: sha256 differs from the manifest", path=entry.path)


def _write_all(fd: int, view: memoryview, spare: deque[bytearray]) -> int:
    written = 0
    while written < len(view):
        written += os.write(fd, view[written:])
    spare.append(view.obj)  # type: ignore[arg-type]  # the buffer goes back for the next chunk
    return written


def _read_full(f, buf: bytearray) -> int:
    """Fill ``buf`` unless the file ends first (fixed chunk boundaries are what make chunks reusable)."""
    view = memoryview(buf)
    total = 0
    while total < len(buf):
        n = f.readinto(view[total:])
        if not n:
            break
        total += n
    return total

"""Durable file writes: what has been acknowledged must survive a crash or a power cut."""

from __future__ import annotations

import ctypes
import fcntl
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from triage.errors import Conflict


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (files created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SYNC_FILE_RANGE_WRITE = 2
try:
    _sync_file_range = ctypes.CDLL(None, use_errno=True).sync_file_range
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
except (AttributeError, OSError):  # pragma: no cover - not Linux
    _sync_file_range = None


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range of a file to disk now, without waiting (Linux
    ``sync_file_range``). A large file written in one go otherwise stays dirty in memory until its fsync,
    which then waits for all of it; started early, the disk works while the writer goes on. Only a hint:
    durability still comes from the fsync."""
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def write_durably(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to a temporary name beside ``path``, fsync it and rename it into place, so readers never
    see a partial file. The directory entry itself is durable only after :func:`fsync_dir` of the parent."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def lock_exclusive(fd: int, *, timeout: float, busy: str, poll: float = 0.05) -> None:
    """Take an exclusive flock on the open file ``fd``, polling every ``poll`` seconds; :class:`Conflict`
    with ``busy`` if another holder keeps it past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Conflict(busy) from None
            time.sleep(poll)


@contextmanager
def exclusive_lock(path: Path, *, timeout: float, busy: str, permissions: int = 0o600) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block; :class:`Conflict` with ``busy``
    if another process still holds it after ``timeout`` seconds. Closing the descriptor releases it, so a
    killed holder never leaves it locked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, permissions)
    try:
        lock_exclusive(fd, timeout=timeout, busy=busy)
        yield
    finally:
        os.close(fd)

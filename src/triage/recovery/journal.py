"""The ingest journal: an append-only log of what was written to the store, for point-in-time recovery.

Writers (the API's posted events, ingest batches) append entries *before* applying them to the store; the
store records, in the same transaction as the data, the last seq it applied (``recovery_journal_position``).
A store snapshot carries that position, so restoring it and replaying the entries after it, up to a chosen
moment, loses nothing the journal holds: that is the RPO of the store.

Files: ``<journal_dir>/<stream>/seg-<first seq, 12 digits>.jsonl``. Each line is one JSON object
``{"seq", "ts", "kind", "payload", "crc"}``; ``crc`` is the CRC-32 of the same object without it, so a line
torn by a crash is recognised and dropped (only the last line of the last segment may be torn; damage
anywhere else is a :class:`JournalError`). Seqs are dense from 1; timestamps never go backwards, so
"up to time T" is a prefix. Appends from several processes are ordered by a flock; one ``append_many`` is
one durable write (the group), so callers batch for throughput. A writer that must not wait for the disk
(the scorer's request path) appends with ``durable=False`` or :meth:`Journal.try_append` and calls
:meth:`Journal.sync` periodically: its entries then survive a kill of the process at once, and a power loss
once synced. Whatever it applies to the store must be synced first, so that the store never holds an entry
the journal could lose.

Replay is the store owner's: :func:`replay_into` opens write sessions and calls an ``apply(session, entries)``
function it is given, recording the position in the same transaction. :func:`apply_rows` is the generic
apply for entries of kind ``rows`` (``{"table": name, "rows": [{column: value}, …]}``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage.errors import Conflict, InvalidInput
from triage.recovery.errors import JournalError
from triage.storage.database import Database, Session, load_migrations
from triage.storage.files import fsync_dir, lock_exclusive

MIGRATIONS = load_migrations("recovery", Path(__file__).parent / "sql")
DEFAULT_STREAM = "ingest"
SEGMENT_BYTES = 64 << 20
_TAIL_BLOCK = 1 << 16


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    ts: datetime
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)


ApplyFn = Callable[[Session, Sequence[JournalEntry]], None]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def encode_entry(entry: JournalEntry) -> bytes:
    body = {"seq": entry.seq, "ts": _iso(entry.ts), "kind": entry.kind, "payload": entry.payload}
    text = _dumps(body).encode("utf-8")
    # The crc goes last: the line is the canonical text of the body plus one member, so the body is
    # serialised once (decode_entry re-serialises the object without "crc" and gets the same text).
    return text[:-1] + b',"crc":"' + f"{zlib.crc32(text):08x}".encode() + b'"}\n'


def decode_entry(line: bytes) -> JournalEntry | None:
    """The entry on one line, or None when the line is torn or damaged."""
    try:
        obj = json.loads(line)
        crc = obj.pop("crc")
        if f"{zlib.crc32(_dumps(obj).encode('utf-8')):08x}" != crc:
            return None
        return JournalEntry(int(obj["seq"]), _parse_ts(obj["ts"]), str(obj["kind"]), obj["payload"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def as_utc(moment: datetime) -> datetime:
    """A naive datetime is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Journal:
    """One stream of the journal under ``root`` (``settings.journal_dir``)."""

    def __init__(
        self,
        root: Path,
        stream: str = DEFAULT_STREAM,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        clock: Callable[[], datetime] | None = None,
        lock_timeout: float = 60.0,
    ) -> None:
        if not stream.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"journal stream names are letters, digits, - and _: {stream!r}")
        self.stream = stream
        self.dir = Path(root) / stream
        self.segment_bytes = segment_bytes
        self.lock_timeout = lock_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        #: The active segment as this object's last append left it, kept open: while the file is unchanged
        #: (same inode and size: nobody else appended or repaired it), the next append skips the directory
        #: scan, the read-back of the tail and the open (~20 syscalls and a JSON decode per group).
        self._tail_cache: _Tail | None = None
        #: The lock file, kept open between appends, and the mutex that makes its flock exclude this
        #: process's other threads too (a flock is per open file, so one fd shared by threads excludes none).
        self._lock_file: io.FileIO | None = None
        self._append_mutex = threading.Lock()
        #: The flock is still held since the last ``try_append``, until ``release_lock``.
        self._lock_kept = False
        #: The active segment has appends not yet synced to disk (``durable=False``).
        self._unsynced = False
        self._sync_mutex = threading.Lock()  # one ``sync`` at a time; a second waits for the first

    # -- writing -----------------------------------------------------------------------------------------
    def append(self, kind: str, payload: Mapping[str, Any]) -> JournalEntry:
        return self.append_many([(kind, payload)])[0]

    def append_many(
        self, items: Sequence[tuple[str, Mapping[str, Any]]], *, durable: bool = True
    ) -> list[JournalEntry]:
        """Append a group of entries with one write; returns them once on disk (``durable``), or once
        written to the operating system, which a kill of this process does not undo (see :meth:`sync`).

        On the scorer's request path this runs on a thread beside a busy event loop, where every syscall
        gives up the GIL and may wait milliseconds to get it back, so the usual group is four syscalls:
        flock, stat, one (synchronous) append, unlock."""
        entries = self._append(items, durable=durable, wait=True, keep_lock=False)
        assert entries is not None
        return entries

    def try_append(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[JournalEntry] | None:
        """``append_many(items, durable=False)`` without waiting: None, with nothing written, when another
        writer holds the stream's lock. On success the lock stays held (until :meth:`release_lock`), so the
        next group is a single write: for a caller on an event loop, which must never block."""
        return self._append(items, durable=False, wait=False, keep_lock=True)

    def _append(
        self, items: Sequence[tuple[str, Mapping[str, Any]]], *, durable: bool, wait: bool, keep_lock: bool
    ) -> list[JournalEntry] | None:
        if not items:
            return []
        with self._append_mutex:
            if self._lock_file is None:
                self._lock_file = _open_lock_file(self.dir / ".lock")
            fd = self._lock_file.fileno()
            kept, self._lock_kept = self._lock_kept, False
            if not kept and not _take_flock(fd, self.dir, self.lock_timeout if wait else None):
                return None
            try:
                entries = self._append_locked(items, durable=durable, kept=kept)
            except BaseException:
                fcntl.flock(fd, fcntl.LOCK_UN)
                raise
            if keep_lock:
                self._lock_kept = True
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return entries

    def _append_locked(
        self, items: Sequence[tuple[str, Mapping[str, Any]]], *, durable: bool, kept: bool
    ) -> list[JournalEntry]:
        """The append itself (mutex and flock held). While the flock was ``kept`` since this object's last
        append, nobody else can have touched the segment: it is not looked at again."""
        cached, self._tail_cache = self._tail_cache, None  # set again only after a successful append
        tail = (cached if kept else self._still_tail(cached)) if cached is not None else None
        if tail is None:
            if cached is not None:
                self._retire(cached)
            tail = self._open_tail()
        last = tail.last
        seq = last.seq if last else 0
        now = as_utc(self._clock())
        ts = max(now, last.ts) if last else now
        entries = [JournalEntry(seq + i + 1, ts, kind, payload) for i, (kind, payload) in enumerate(items)]
        data = b"".join(encode_entry(e) for e in entries)
        if tail.file is None or tail.size >= self.segment_bytes:
            if tail.file is not None:
                self._retire(tail)
            segment = self.dir / f"seg-{entries[0].seq:012d}.jsonl"
            tail = _Tail(segment, _open_append(segment), 0, 0, last)
            tail.ino = os.fstat(tail.file.fileno()).st_ino
        try:
            if not durable:
                _write_all(tail.file.fileno(), data)
            elif self._unsynced:  # earlier appends to this file are not on disk yet: sync them too
                _write_all(tail.file.fileno(), data)
                os.fdatasync(tail.file.fileno())
            else:
                _append_durably(tail.file.fileno(), data)
        except BaseException:
            self._retire(tail)
            raise
        self._unsynced = not durable
        if tail.size == 0:  # a new segment: make its name durable too
            fsync_dir(self.dir)
        tail.size += len(data)
        tail.last = entries[-1]
        self._tail_cache = tail
        return entries

    def sync(self) -> None:
        """Put on disk every entry appended so far (by this object, with ``durable=False``)."""
        with self._sync_mutex:
            with self._append_mutex:
                tail = self._tail_cache
                if not self._unsynced or tail is None or tail.file is None:
                    return
                fd = os.dup(tail.file.fileno())  # the tail may be closed meanwhile; the inode is the same
                self._unsynced = False  # appends from here on set it again
            try:
                os.fdatasync(fd)
            except BaseException:
                with self._append_mutex:
                    self._unsynced = True
                raise
            finally:
                os.close(fd)

    def release_lock(self) -> None:
        """Let go of the flock that :meth:`try_append` keeps, if it is held."""
        with self._append_mutex:
            if self._lock_kept and self._lock_file is not None:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_kept = False

    def close(self) -> None:
        """Sync and close the files kept open between appends, which also lets go of a kept lock (the
        object stays usable: they reopen on demand)."""
        with self._append_mutex:
            tail, self._tail_cache = self._tail_cache, None
            try:
                if tail is not None:
                    self._retire(tail)
            finally:
                self._lock_kept = False
                if self._lock_file is not None:
                    self._lock_file.close()
                    self._lock_file = None

    def _retire(self, tail: _Tail) -> None:
        """Close a segment file this object appended to, after syncing what it left unsynced there."""
        if tail.file is None:
            return
        try:
            if self._unsynced:
                os.fdatasync(tail.file.fileno())
                self._unsynced = False
        finally:
            tail.file.close()

    def _still_tail(self, cached: _Tail) -> _Tail | None:
        """``cached`` if the active segment is exactly as this object's previous append left it (lock held).
        Appends only ever grow the active segment, and a new segment is started only when it is full, so an
        unchanged segment is still the tail; another writer or a repair shows as another inode or size."""
        try:
            st = cached.segment.stat()  # type: ignore[union-attr]  # cached tails always have a segment
        except OSError:
            return None
        return cached if st.st_ino == cached.ino and st.st_size == cached.size else None

    def _open_tail(self) -> _Tail:
        """The active segment (repaired) opened for appending, or no file when there is none yet."""
        segment, last = self._repair_tail()
        if segment is None:
            return _Tail(None, None, 0, 0, last)
        handle = _open_append(segment)
        st = os.fstat(handle.fileno())
        return _Tail(segment, handle, st.st_ino, st.st_size, last)

    def _repair_tail(self) -> tuple[Path | None, JournalEntry | None]:
        """The active segment and the last good entry; cuts a line torn by a crash (lock held)."""
        segments = self.segments()
        while segments:
            segment = segments[-1]
            last, good_end = _tail(segment)
            if good_end < segment.stat().st_size:
                with open(segment, "r+b") as f:
                    f.truncate(good_end)
                    os.fsync(f.fileno())
            if last is not None:
                return segment, last
            if good_end == 0 and len(segments) > 1:  # an empty segment left by a crash after creating it
                segment.unlink()
                segments.pop()
                continue
            return segment, None
        return None, None

    # -- reading -----------------------------------------------------------------------------------------
    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("seg-*.jsonl")) if self.dir.exists() else []

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, until: datetime | None = None
    ) -> Iterator[JournalEntry]:
        """Entries with ``after_seq < seq <= upto_seq`` and ``ts <= until``, in order."""
        yield from read_segments(self.segments(), after_seq=after_seq, upto_seq=upto_seq, until=until)

    def last(self) -> JournalEntry | None:
        for segment in reversed(self.segments()):
            last, _ = _tail(segment)
            if last is not None:
                return last
        return None

    def first_seq(self) -> int | None:
        segments = self.segments()
        return int(segments[0].stem.removeprefix("seg-")) if segments else None

    def segments_for(self, after_seq: int, upto_seq: int) -> list[Path]:
        """The segments holding entries ``after_seq < seq <= upto_seq``."""
        segments = self.segments()
        firsts = [int(p.stem.removeprefix("seg-")) for p in segments]
        chosen = []
        for i, segment in enumerate(segments):
            start = firsts[i]
            end = firsts[i + 1] - 1 if i + 1 < len(segments) else None
            if start <= upto_seq and (end is None or end > after_seq):
                chosen.append(segment)
        return chosen

    def prune_through(self, seq: int) -> int:
        """Delete whole segments whose entries all have ``seq <= seq`` (never the active one)."""
        segments = self.segments()
        removed = 0
        with self._locked():
            for i, segment in enumerate(segments[:-1]):
                next_first = int(segments[i + 1].stem.removeprefix("seg-"))
                if next_first - 1 <= seq:
                    segment.unlink()
                    removed += 1
        return removed

    def _locked(self):
        return _flock(self.dir / ".lock", self.lock_timeout)


def read_segments(
    segments: Sequence[Path],
    *,
    after_seq: int = 0,
    upto_seq: int | None = None,
    until: datetime | None = None,
) -> Iterator[JournalEntry]:
    """Entries of segment files in order; checks density and order; a torn last line ends the read."""
    limit = as_utc(until) if until is not None else None
    expected: int | None = None
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        first = int(segment.stem.removeprefix("seg-"))
        if upto_seq is not None and first > upto_seq:
            return
        with open(segment, "rb") as f:
            lines = f.read().split(b"\n")
        # the element after the final newline is b"" (or a torn, unterminated line)
        for number, line in enumerate(lines):
            final = number == len(lines) - 1
            if final and not line:
                break
            entry = decode_entry(line) if (not final) else None
            if entry is None:
                if is_last and (final or number == len(lines) - 2):
                    return  # a torn tail: the crash cut the last append short
                raise JournalError(f"journal {segment.name}: line {number + 1} is damaged")
            if expected is not None and entry.seq != expected:
                raise JournalError(f"journal {segment.name}: seq {entry.seq} follows {expected - 1}")
            expected = entry.seq + 1
            if entry.seq <= after_seq:
                continue
            if (upto_seq is not None and entry.seq > upto_seq) or (limit is not None and entry.ts > limit):
                return
            yield entry


def _tail(segment: Path) -> tuple[JournalEntry | None, int]:
    """The last good entry of a segment and the byte offset where good data ends (reads backwards)."""
    size = segment.stat().st_size
    with open(segment, "rb") as f:
        block = _TAIL_BLOCK
        while True:
            start = max(0, size - block)
            f.seek(start)
            data = f.read(size - start)
            lines = data.split(b"\n")
            # lines[0] may be cut at `start`; the last element follows the final newline
            offset = size
            tail_len = len(lines[-1])
            offset -= tail_len
            candidates = lines[1:-1] if start > 0 else lines[:-1]
            for line in reversed(candidates):
                entry = decode_entry(line)
                if entry is not None:
                    return entry, offset
                offset -= len(line) + 1
            if start == 0:
                return None, 0
            block *= 4


@dataclass(slots=True)
class _Tail:
    """The active segment after an append: path, the file open for appending (None before the first
    segment exists), its inode and size, and its last entry."""

    segment: Path | None
    file: io.FileIO | None
    ino: int
    size: int
    last: JournalEntry | None


def _open_append(segment: Path) -> io.FileIO:
    return io.FileIO(os.open(segment, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "wb")


def _append_durably(fd: int, data: bytes) -> None:
    """Append ``data`` to the file open on ``fd`` (O_APPEND) and return once it is on disk.

    Linux does both in one syscall (``pwritev2`` with RWF_DSYNC: the data and the size, as fdatasync);
    elsewhere, or where the file system refuses the flag, write then fsync."""
    view = memoryview(data)
    if _RWF_DSYNC_APPEND is not None:
        try:
            while view:
                view = view[os.pwritev(fd, [view], -1, _RWF_DSYNC_APPEND) :]
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    _write_all(fd, view)
    os.fsync(fd)


_RWF_DSYNC_APPEND = (
    os.RWF_DSYNC | os.RWF_APPEND if hasattr(os, "pwritev") and hasattr(os, "RWF_APPEND") else None
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_lock_file(path: Path) -> io.FileIO:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # the folder is made on first use only (one syscall less per append)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return io.FileIO(fd, "r+")


def _acquire_flock(fd: int, stream_dir: Path, timeout: float) -> None:
    lock_exclusive(fd, timeout=timeout, busy=f"journal {stream_dir} is busy", poll=0.002)


def _take_flock(fd: int, stream_dir: Path, timeout: float | None) -> bool:
    """The stream's flock, waiting up to ``timeout`` (Conflict after it), or, with None, only if free now."""
    if timeout is not None:
        _acquire_flock(fd, stream_dir, timeout)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _flock:
    """The stream's flock for one operation, through its own open of the lock file."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.file: io.FileIO | None = None

    def __enter__(self) -> None:
        self.file = _open_lock_file(self.path)
        try:
            _acquire_flock(self.file.fileno(), self.path.parent, self.timeout)
        except BaseException:
            self.file.close()
            raise

    def __exit__(self, *exc: object) -> None:
        assert self.file is not None
        self.file.close()  # closing the only fd on the open file releases its flock


# -- the store side: positions, replay, journaled writes ----------------------------------------------------
def store_position(session: Session, stream: str = DEFAULT_STREAM) -> int:
    """The last journal seq applied to the store (0 if it has applied none)."""
    if not session.table_exists("recovery_journal_position"):
        return 0
    value = session.scalar("SELECT seq FROM recovery_journal_position WHERE stream = ?", [stream])
    return int(value or 0)


def record_position(session: Session, stream: str, entry: JournalEntry) -> None:
    """Move the store's journal position, inside the write session that applied ``entry``."""
    session.execute(
        "INSERT INTO recovery_journal_position (stream, seq, entry_ts) VALUES (?, ?, ?) "
        "ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, entry_ts = excluded.entry_ts, applied_at = now()",
        [stream, entry.seq, entry.ts],
    )


def apply_rows(session: Session, entries: Sequence[JournalEntry]) -> None:
    """The generic apply: entries of kind ``rows`` append their rows to their table, one insert per table."""
    import pandas as pd

    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if entry.kind != "rows":
            raise InvalidInput(
                f"journal entry {entry.seq} has kind {entry.kind!r}, which has no apply function"
            )
        table = entry.payload.get("table")
        rows = entry.payload.get("rows")
        if not isinstance(table, str) or not isinstance(rows, list):
            raise InvalidInput(
                f"journal entry {entry.seq}: a rows entry needs a table name and a list of rows"
            )
        by_table.setdefault(table, []).extend(rows)
    for table, rows in by_table.items():
        session.append_df(table, pd.DataFrame.from_records(rows))


@dataclass(frozen=True, slots=True)
class ReplayReport:
    applied: int
    first_seq: int | None
    last_seq: int | None
    last_ts: datetime | None


def replay_into(
    db: Database,
    entries: Iterable[JournalEntry],
    apply: ApplyFn = apply_rows,
    *,
    stream: str = DEFAULT_STREAM,
    voids: Voids | None = None,
    keep_kinds: frozenset[str] = frozenset(),
    batch: int = 5000,
) -> ReplayReport:
    """Apply entries in batches, each batch and its position in one transaction (so replay can resume).

    Rewind markers and entries they void are not applied, but the position moves past them; entries of
    ``keep_kinds`` (facts about the past, such as audit events) survive rewinds.
    """
    db.migrate(MIGRATIONS)
    voids = voids or Voids(())
    applied, first, last = 0, None, None
    pending: list[JournalEntry] = []

    def flush() -> None:
        nonlocal applied, first, last
        if not pending:
            return
        with db.write() as session:
            position = store_position(session, stream)
            fresh = [e for e in pending if e.seq > position]
            todo = [e for e in fresh if e.kind != REWIND and (e.kind in keep_kinds or e.seq not in voids)]
            if todo:
                apply(session, todo)
                applied += len(todo)
                first = first if first is not None else todo[0]
            if fresh:
                record_position(session, stream, fresh[-1])
                last = fresh[-1]
        pending.clear()

    for entry in entries:
        pending.append(entry)
        if len(pending) >= batch:
            flush()
    flush()
    return ReplayReport(
        applied, first.seq if first else None, last.seq if last else None, last.ts if last else None
    )


# -- rewinds: a restore discards the entries after the restored position ------------------------------------
REWIND = "rewind"


@dataclass(frozen=True, slots=True)
class Voids:
    """Seq ranges discarded by rewinds: ``lo < seq < hi`` for each (lo, hi)."""

    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, seq: object) -> bool:
        return isinstance(seq, int) and any(lo < seq < hi for lo, hi in self.ranges)


def voids_of(markers: Iterable[JournalEntry]) -> Voids:
    """The ranges voided by rewind markers; a marker inside a later marker's range is itself void."""
    ranges: list[tuple[int, int]] = []
    for marker in sorted(markers, key=lambda e: e.seq, reverse=True):
        if any(lo < marker.seq < hi for lo, hi in ranges):
            continue
        ranges.append((int(marker.payload["to_seq"]), marker.seq))
    return Voids(tuple(ranges))


# -- proving "only journaled writes since": the chain file beside the store ---------------------------------
def store_stat_key(path: Path) -> str | None:
    """size:mtime:ctime:inode:dev plus a hash of the file's head (DuckDB rewrites its header on every
    checkpoint), so two different states of the store practically never share a key."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            head = hashlib.sha256(f.read(16384)).hexdigest()[:16]
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}:{head}"


def chain_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".journal-chain.json")


@dataclass(frozen=True, slots=True)
class ChainState:
    """The run of journaled writes the store is in: ``chain`` changes whenever anything else wrote to it."""

    chain: str
    stat_key: str
    stream: str
    seq: int


def read_chain(store_path: Path) -> ChainState | None:
    try:
        obj = json.loads(chain_path(store_path).read_text(encoding="utf-8"))
        return ChainState(str(obj["chain"]), str(obj["stat_key"]), str(obj["stream"]), int(obj["seq"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def current_chain(store_path: Path) -> ChainState | None:
    """The chain state if the store is exactly as the last journaled write left it, else None."""
    state = read_chain(store_path)
    if state is None or state.stat_key != store_stat_key(store_path):
        return None
    return state


def start_chain(store_path: Path, stream: str, seq: int) -> None:
    """Begin a new chain at the store's current state (after a restore put a known file in place).

    Call with the writers' lock held, so the state noted is the state no one else has touched.
    """
    tmp = chain_path(store_path).with_name(chain_path(store_path).name + ".tmp")
    key = store_stat_key(store_path)
    body = {"chain": uuid.uuid4().hex, "stat_key": key, "stream": stream, "seq": seq}
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, chain_path(store_path))


class JournaledStore:
    """The write path that makes the journal complete: append (durably), then apply in one transaction.

    Each apply notes the store file's state after DuckDB closed it, under the writers' lock. When the next
    journaled write finds the file in that same state, nothing else wrote in between and the *chain*
    continues; otherwise a new chain starts. A snapshot whose parent is in the same chain may capture the
    store as "parent's chunks + journal since" without reading the store: the incremental in journal mode.
    """

    def __init__(self, db: Database, journal: Journal, apply: ApplyFn = apply_rows) -> None:
        self.db = db
        self.journal = journal
        self.apply = apply
        self._migrated = False

    def submit(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[JournalEntry]:
        """Append durably, then apply; raises Conflict if a store rollback discarded them in between."""
        entries = self.journal.append_many(items)
        if entries and not self._apply(entries):
            rewinds = [e for e in self.journal.read(after_seq=entries[-1].seq) if e.kind == REWIND]
            if entries[0].seq in voids_of(rewinds):
                raise Conflict(
                    f"the store was rolled back while journal entries {entries[0].seq}..{entries[-1].seq} "
                    "were being written; they were discarded, submit them again"
                )
        return entries

    def catch_up(self) -> int:
        """Apply journal entries the store has not seen (after a crash between append and apply)."""
        with self.db.read() as session:
            position = store_position(session, self.journal.stream)
        entries = list(self.journal.read(after_seq=position))
        voids = voids_of(e for e in entries if e.kind == REWIND)
        entries = [e for e in entries if e.seq not in voids]
        if entries:
            self._apply(entries)
        return len(entries)

    def _apply(self, entries: Sequence[JournalEntry]) -> bool:
        """Apply the entries the store has not seen; returns whether any was new to it."""
        if not entries:
            return False
        if not self._migrated:
            self.db.migrate(MIGRATIONS)
            self._migrated = True
        path = self.db.path
        before: list[str | None] = []
        reached: list[int] = []

        def note_chain() -> None:
            previous = read_chain(path)
            if previous is not None and before and previous.stat_key == before[0]:
                chain = previous.chain
            else:
                chain = uuid.uuid4().hex
            after = store_stat_key(path)
            tmp = chain_path(path).with_name(chain_path(path).name + ".tmp")
            tmp.write_text(
                json.dumps(
                    {"chain": chain, "stat_key": after, "stream": self.journal.stream, "seq": reached[-1]}
                ),
                encoding="utf-8",
            )
            os.replace(tmp, chain_path(path))

        fresh: list[JournalEntry] = []
        with self.db.write(after_close=note_chain) as session:
            before.append(store_stat_key(path))
            position = store_position(session, self.journal.stream)
            fresh = [e for e in entries if e.seq > position]
            data = [e for e in fresh if e.kind != REWIND]
            if data:
                self.apply(session, data)
            if fresh:
                record_position(session, self.journal.stream, fresh[-1])
            reached.append(fresh[-1].seq if fresh else position)
        return bool(fresh)

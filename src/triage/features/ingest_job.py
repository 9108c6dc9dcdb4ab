"""The ingest job: log files -> records (``triage.ingest``) -> parsed events (``triage.parsing``) -> the store.

Exactly once, whatever happens to the process:

* A *source* is a file's content, not its path: its id is the sha256 of its head, so the same file under
  another path is the same source. ``ingest_sources`` keeps how many bytes (and lines) of it are
  committed and a hash of the bytes just before that offset. A file that grew is read from there on; a
  file whose committed part changed is a new source.
* Lines are read, parsed and written in batches. One transaction per batch holds the batch's events,
  quarantined lines, template updates, the source's new offset and the parser state that produced those
  events (:meth:`FeatureStore.commit_batches`; when the parser is ahead of the store, two waiting
  batches share one transaction). A kill at any moment leaves the store at the end of some batch
  together with the matching parser state, so running the same command again resumes there: no line
  lost, none twice, template ids as if the run had not stopped.
* One ingest at a time per home (an exclusive lock file). A commit is one short write session, so
  readers (scorer, CLI, notebooks) are only ever kept waiting for one commit. Its cost is mostly fixed
  (open, commit, checkpoint, close), so batches are large (``Settings.ingest_batch_lines``, 25,000
  lines) and batches that are already waiting are committed together (at most GROUP_COMMIT_BATCHES):
  smaller sessions would not hold the lock much less, only more often. Each run records how many
  commits it made and how long they took (``ingest_runs.commits / commit_seconds / max_commit_seconds``).
  The job keeps one DuckDB instance and attaches the store file per session (a new instance costs
  ≈ 30 ms of CPU), and writes row groups about one batch long (:func:`row_group_rows`).
* The run reads ``ingest_sources`` once, at its start, and keeps it up to date with every batch it
  submits (:class:`SourceIndex`), so opening the next file never waits for the commits still on their
  way; a store changed underneath (a restore) is still caught, by each commit's offset check.
* Files are read in batches of Arrow columns (:mod:`triage.ingest.batches`): by a reader process when two
  or more CPUs are available and there is enough to read (:mod:`triage.ingest.reader_process`; one
  file ahead of the parser, and the next file while this one's last batches are parsed), else in this
  process. Parsing -- redaction, masking, Drain -- stays here, strictly in file order, so the store is
  the same either way. The parser takes the messages as a column (``TemplateParser.parse_micros``), so
  no per-record object is built between the file and the Arrow batch of events.

Counting: ``lines`` is every physical line read, and each line lands in exactly one place, so
``events + merged + quarantined == lines`` (``merged``: continuation lines joined into the record above).

Standard input (``-``) is first copied to a file under ``data/interim`` (bounded memory), then read like
any file: piping the same bytes twice adds nothing, and an interrupted pipe resumes when piped again.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from triage.errors import IntegrityError, InvalidInput, NotFound
from triage.ingest.batches import ReadBatch, ReadJob
from triage.ingest.reader_process import InlineReader, Reader, ReaderPool, reader_processes
from triage.settings import Settings
from triage.storage.files import exclusive_lock

if TYPE_CHECKING:
    import pyarrow as pa

    from triage.features.store import FeatureStore, IngestBatch, SourceState
    from triage.ingest.presets import FormatSpec
    from triage.ingest.schemas import QuarantinedLine
    from triage.parsing import TemplateParser

#: Bytes of a file's head hashed into its source id.
HEAD_BYTES = 4096
#: Bytes just before the committed offset whose hash proves that the committed part is unchanged.
CHECK_BYTES = 4096
#: A batch closes at ``Settings.ingest_batch_lines`` physical lines or after BATCH_SECONDS of reading.
BATCH_SECONDS = 2.0
#: The first batch of a run read by a reader process: small, so parsing starts while it reads the rest.
FIRST_BATCH_LINES = 2048
#: At most this many waiting batches are committed in one transaction (see ``_Committer``).
GROUP_COMMIT_BATCHES = 2
#: Parsed batches waiting for the commit thread (bounds memory: each is at most one batch's lines).
QUEUED_BATCHES = 2
#: How long a second ingest into the same home waits for the first before giving up.
INGEST_LOCK_TIMEOUT = 10.0
#: Names a directory walk picks up (files named on the command line are always read).
LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".jsonl", ".ndjson", ".json", ".syslog")
STDIN_LABEL = "stdin"

#: ``progress(files, total_bytes)`` returns a callback that is given the bytes done since its last call.
Progress = Callable[[int, int], Callable[[int], None]]
#: One template's share of a batch: its events, and their earliest and latest timestamp (None: none had one).
BatchSeen = tuple[int, datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class IngestInput:
    """One file to read: ``path`` on disk, and ``label``, what events record as their source."""

    path: Path
    label: str
    size: int


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingest did."""

    run_id: str
    lines: int
    events: int
    merged: int
    quarantined: int
    templates: int  # distinct templates among this run's events
    new_templates: int  # templates this run created
    seconds: float
    sources: int  # files with new lines
    unchanged: int  # files with nothing new (already ingested, or empty)

    def as_json(self) -> dict[str, Any]:
        """The documented ``--json`` line."""
        return {
            "lines": self.lines,
            "events": self.events,
            "merged": self.merged,
            "quarantined": self.quarantined,
            "templates": self.templates,
            "seconds": round(self.seconds, 3),
        }


# ------------------------------------------------------------------------------------------ inputs


def resolve_inputs(paths: Sequence[str | Path], *, stdin_file: Path | None = None) -> list[IngestInput]:
    """The files to read, in order. Directories are walked (sorted; hidden entries skipped; log-like
    names only); ``-`` is standard input, already copied to ``stdin_file``. A missing path, an unreadable
    file or a directory without logs raises NotFound / InvalidInput before anything is read."""
    if not paths:
        raise InvalidInput("give at least one file, directory or - (standard input)")
    if sum(1 for p in paths if str(p) == "-") > 1:
        raise InvalidInput("- (standard input) may be given only once")
    found: list[IngestInput] = []
    seen: set[Path] = set()
    for given in paths:
        text = str(given)
        if text == "-":
            if stdin_file is not None:
                found.append(IngestInput(stdin_file, STDIN_LABEL, stdin_file.stat().st_size))
            continue
        path = Path(text)
        if not path.exists():
            raise NotFound(f"no such file or directory: {text}")
        files = _walk(path) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise InvalidInput(
                f"no log files under {text} (looked for *{', *'.join(LOG_SUFFIXES)} and names without a dot)"
            )
        for file in files:
            if not file.is_file():
                raise InvalidInput(f"not a regular file: {file}")
            if not os.access(file, os.R_OK):
                raise InvalidInput(f"cannot read {file}: permission denied")
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found.append(IngestInput(file, str(file), file.stat().st_size))
    return found


def _walk(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(
            Path(root) / name for name in sorted(files) if not name.startswith(".") and _looks_like_log(name)
        )
    return out


#: Names without a dot are read (syslog, messages, ...) except these usual project files.
NOT_LOGS = frozenset({"license", "licence", "readme", "copying", "notice", "authors", "citation", "changelog",
                      "makefile", "dockerfile", "manifest", "version"})  # fmt: skip


def _looks_like_log(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(LOG_SUFFIXES) or ".log." in lowered:
        return True
    return "." not in name and lowered not in NOT_LOGS


def default_service(label: str) -> str | None:
    """The service of a file's events when neither the log nor ``--service`` names one: the file's name
    up to its first dot (``payments.log.1`` -> ``payments``). None for standard input."""
    if label == STDIN_LABEL:
        return None
    name = Path(label).name
    return name.split(".", 1)[0] or name


@contextmanager
def copy_stdin(stream: IO[bytes], folder: Path) -> Iterator[Path]:
    """Copy a byte stream to a file in chunks (memory stays bounded); the file is removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".stdin-{os.getpid()}-{uuid.uuid4().hex[:8]}.log"
    try:
        with open(path, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        yield path
    finally:
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ sources


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_at(handle: IO[bytes], offset: int, size: int) -> bytes:
    handle.seek(offset)
    return handle.read(size)


def check_sha(handle: IO[bytes], offset: int) -> str:
    """sha256 of the (up to CHECK_BYTES) bytes just before ``offset``."""
    start = max(0, offset - CHECK_BYTES)
    return _sha(_read_at(handle, start, offset - start))


class SourceLookup(Protocol):
    """What :func:`find_source` and :func:`new_source_id` ask about known sources: a
    :class:`~triage.features.store.FeatureStore` (the committed sources) or a :class:`SourceIndex`."""

    def sources_with_head(self, head_sha: Callable[[int], str | None]) -> list[SourceState]: ...

    def source(self, source_id: str) -> SourceState | None: ...


class SourceIndex:
    """The store's sources as an ingest run sees them: read once (:meth:`load`), then advanced by each batch
    the run submits (:meth:`advance`), so they are what the store will hold once those batches are committed.

    One ingest runs per home at a time and only ingest writes ``ingest_sources``, so nothing else changes
    them meanwhile; if the store is replaced all the same (a restore), the next commit's offset check
    refuses the batch. Answers like the store (:class:`SourceLookup`): longest head first, then most bytes
    committed.
    """

    def __init__(self, sources: Iterable[SourceState] = ()) -> None:
        self._by_id: dict[str, SourceState] = {}
        self._by_head: dict[tuple[int, str], dict[str, SourceState]] = {}
        self._head_lens: list[int] = []  # distinct head lengths, longest first
        for source in sources:
            self._put(source)

    @classmethod
    def load(cls, store: FeatureStore) -> SourceIndex:
        return cls(store.source_states())

    def sources_with_head(self, head_sha: Callable[[int], str | None]) -> list[SourceState]:
        found: list[SourceState] = []
        for n in self._head_lens:
            sha = head_sha(n)
            if sha is not None:
                same = self._by_head.get((n, sha), {}).values()
                found.extend(sorted(same, key=lambda s: -s.bytes_committed))
        return found

    def source(self, source_id: str) -> SourceState | None:
        return self._by_id.get(source_id)

    def advance(self, batch: IngestBatch, source: SourceState) -> None:
        """Note a submitted batch: what ``FeatureStore.commit_batches`` will record for its source."""
        base = self._by_id.get(batch.source_id, source)
        self._put(
            replace(
                base,
                path=batch.path,
                format=batch.format if batch.format is not None else base.format,
                bytes_committed=batch.end_offset,
                lines_committed=batch.end_line,
                check_sha=batch.check_sha,
            )
        )

    def _put(self, source: SourceState) -> None:
        self._by_id[source.source_id] = source
        self._by_head.setdefault((source.head_len, source.head_sha), {})[source.source_id] = source
        if source.head_len not in self._head_lens:
            self._head_lens.append(source.head_len)
            self._head_lens.sort(reverse=True)


def find_source(
    store: SourceLookup, handle: IO[bytes], size: int, *, seen: list[SourceState] | None = None
) -> SourceState | None:
    """The known source whose committed bytes this file starts with, if any (longest head first).
    ``seen`` (optional) receives every source whose head matches this file's, for :func:`new_source_id`."""

    def head_sha(n: int) -> str | None:
        return _sha(_read_at(handle, 0, n)) if n <= size else None

    candidates = store.sources_with_head(head_sha)
    if seen is not None:
        seen.extend(candidates)
    for candidate in candidates:
        committed = candidate.bytes_committed
        if committed <= size and (committed == 0 or check_sha(handle, committed) == candidate.check_sha):
            return candidate
    return None


def new_source_id(
    store: SourceLookup, handle: IO[bytes], head_sha: str, *, same_head: Sequence[SourceState] | None = None
) -> str:
    """The head's sha256 shortened; if that id is taken (same head, other content), one from the whole file.

    ``same_head``: the sources :func:`find_source` found with this file's head, when it was just asked
    (a source whose id is this head's sha256 has this head, so when none of them does, the id is free
    without asking the store again)."""
    source_id = head_sha[:32]
    if same_head is not None and all(s.source_id != source_id for s in same_head):
        return source_id
    if store.source(source_id) is None:
        return source_id
    digest = hashlib.sha256()
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    salt = 0
    while store.source(source_id := _sha(f"{digest.hexdigest()}:{salt}".encode())[:32]) is not None:
        salt += 1
    return source_id


# ------------------------------------------------------------------------------------------ parser state


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def load_parser(settings: Settings, store: FeatureStore) -> TemplateParser:
    """The parser whose state produced the committed events (a fresh one when nothing is committed).

    The state is read from the store, where each batch's transaction wrote it; the effective rules are
    today's (so new rules apply to new messages, and existing templates keep their ids)."""
    from triage.parsing import ParserConfig, RuleSet, TemplateParser

    config = ParserConfig.from_settings(settings)
    rules = RuleSet.load(config.rules_path)
    saved = store.miner_state()
    if saved is None:
        return TemplateParser(config, rules=rules)
    sha, blob = saved
    if _sha(blob) != sha:
        raise IntegrityError(f"the parser state in {store.path} fails its sha256 check; restore a snapshot")
    return TemplateParser.from_state(json.loads(blob), rules=rules)


def _stored_format(text: str | None) -> FormatSpec | None:
    """The format a source was read with, as recorded; None if absent or no longer understood."""
    from pydantic import ValidationError

    from triage.ingest.presets import FormatSpec

    if not text:
        return None
    try:
        return FormatSpec.model_validate_json(text)
    except ValidationError:
        return None


def _repeat(value: Any, n: int, type: pa.DataType) -> pa.Array:
    """``pa.array([value] * n, type)``, made in Arrow (a datetime converted once, not n times)."""
    import pyarrow as pa

    return pa.repeat(pa.array([value], type)[0], n)


def _warm_up() -> None:
    """The one-off costs of the first batch, paid while a reader process reads it: importing
    ``triage.parsing`` and pyarrow's first conversion of a Python list (which imports pandas, ≈ 0.5 s, unless
    the process runs in ``reader_process.pandas_unavailable()``, as ``triage ingest`` does)."""
    import pyarrow as pa

    import triage.parsing  # noqa: F401

    pa.array([None], pa.string())


def _state_bytes(parser: TemplateParser) -> bytes:
    return parser.state_json().encode("utf-8")


# ------------------------------------------------------------------------------------------ the job


def row_group_rows(batch_lines: int) -> int:
    """The DuckDB row group size ingest writes with: about one batch (rounded up to a multiple of 2,048,
    DuckDB's vector size; at most its default, 122,880).

    Every commit ends with a checkpoint, and a checkpoint rewrites the last, partly filled row group
    whole. At the default size that group holds the rows of up to four earlier 25,000-line batches, so each
    event was written two to three times; with row groups about a batch long, a commit writes its own rows
    and next to nothing else. (The file is as large, and scans as fast, on the benchmark corpus.)"""
    return min(122_880, max(2048, -(-batch_lines // 2048) * 2048))


@contextmanager
def ingest_lock(settings: Settings, timeout: float | None = None) -> Iterator[None]:
    """One ingest per home at a time: two would advance the same parser state and offsets."""
    timeout = INGEST_LOCK_TIMEOUT if timeout is None else timeout
    path = settings.store_path.with_name(settings.store_path.name + ".ingest.lock")
    busy = f"another ingest into {settings.home} is running; try again when it ends"
    with exclusive_lock(path, timeout=timeout, busy=busy, permissions=0o644):
        yield


def ingest(
    settings: Settings,
    paths: Sequence[str | Path],
    *,
    format: str | None = None,
    service: str | None = None,
    stdin: IO[bytes] | None = None,
    progress: Progress | None = None,
    batch_lines: int | None = None,
    reader: str = "auto",
) -> IngestReport:
    """Ingest files, directories and/or standard input (``-``) into the store of ``settings.home``.

    ``format``: a preset name or a Loghub format string; detected per file when None. ``service``: the
    service of every record (default: what the log says, else the file's name up to its first dot).
    ``reader``: where files are read -- ``"process"`` (a child process, on another CPU, while this one
    parses and commits: :mod:`triage.ingest.reader_process`), ``"inline"`` (in this process), or
    ``"auto"`` (a process when two CPUs are available and there are at least
    ``reader_process.MIN_PROCESS_BYTES`` to read). The store ends up the same either way.
    Bad input (missing file, unreadable file, malformed format) raises before anything is written.
    """
    from triage.ingest.presets import resolve_format

    spec = resolve_format(format) if format is not None else None
    resolve_inputs(paths)  # validates every path before stdin is consumed or the store touched
    if any(str(p) == "-" for p in paths) and stdin is None:
        raise InvalidInput("- was given but there is no standard input")
    with _maybe_copy_stdin(paths, stdin, settings.interim_dir) as stdin_file:
        inputs = resolve_inputs(paths, stdin_file=stdin_file)
        lines = batch_lines or settings.ingest_batch_lines
        # started first: the reader process's start-up overlaps importing duckdb (the store module, imported
        # only here for that reason), opening the store and loading the parser
        processes = reader_processes(reader, [i.size for i in inputs])
        files: Reader = ReaderPool(processes) if processes else InlineReader()
        try:
            from triage.features.store import FeatureStore

            store = FeatureStore(settings, threads=1, keep_engine=True, row_group_size=row_group_rows(lines))
            try:
                store.migrate()
                with ingest_lock(settings):
                    advance = progress(len(inputs), sum(i.size for i in inputs)) if progress else None
                    run = _IngestRun(
                        settings, store, spec=spec, service=service, batch_lines=lines, advance=advance
                    )
                    return run.run(inputs, [str(p) for p in paths], files)
            finally:
                store.db.close()
        finally:
            files.close()


@contextmanager
def _maybe_copy_stdin(
    paths: Sequence[str | Path], stdin: IO[bytes] | None, folder: Path
) -> Iterator[Path | None]:
    if stdin is None or not any(str(p) == "-" for p in paths):
        yield None
        return
    with copy_stdin(stdin, folder) as path:
        yield path


@dataclass(slots=True)
class _FilePlan:
    """A file handed to the reader: the job, the source it extends, and its open handle (for check_sha)."""

    job: ReadJob
    source: SourceState
    format_json: str
    handle: IO[bytes]
    new: bool  # the source is not in the store yet (its first batch records it)

    def same_head(self, handle: IO[bytes], size: int) -> bool:
        """Does a file (``handle``, ``size`` bytes) start with this plan's source's head?"""
        n = self.source.head_len
        return n <= size and _sha(_read_at(handle, 0, n)) == self.source.head_sha


class _Committer:
    """Commits batches on a background thread, in order, while the next batch is read and parsed.

    DuckDB releases the GIL while it writes, so the commit overlaps parsing on a second core. When the
    parser is ahead (batches are waiting), up to GROUP_COMMIT_BATCHES of them are committed in one
    transaction: DuckDB's fixed cost per write session (open, checkpoint, close) is paid once, so the
    store is locked for less time in total. The queue holds QUEUED_BATCHES, which bounds memory; an error
    in a commit is raised in the caller at its next call.
    """

    def __init__(self, store: FeatureStore, on_committed: Callable[[list[IngestBatch], float], None]) -> None:
        self._store = store
        self._on_committed = on_committed
        self._queue: queue.Queue[IngestBatch | None] = queue.Queue(maxsize=QUEUED_BATCHES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="triage-ingest-commit", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            group = [self._queue.get()]
            stop = group[0] is None
            while not stop and len(group) < GROUP_COMMIT_BATCHES:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                stop = group[-1] is None
            batches = [b for b in group if b is not None]
            try:
                if batches and self._error is None:  # after a failed commit nothing more may be committed
                    started = time.perf_counter()
                    self._store.commit_batches(batches, now=_now())
                    self._on_committed(batches, time.perf_counter() - started)
            except BaseException as exc:
                self._error = exc
            finally:
                for _ in group:
                    self._queue.task_done()
            if stop:
                return

    def submit(self, batch: IngestBatch) -> None:
        self._raise()
        self._queue.put(batch)

    def close(self) -> None:
        """Wait until every submitted batch is committed; raise the first commit error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class _IngestRun:
    """One run: the parser, the totals, and the loop over files and batches."""

    def __init__(
        self,
        settings: Settings,
        store: FeatureStore,
        *,
        spec: FormatSpec | None,
        service: str | None,
        batch_lines: int,
        advance: Callable[[int], None] | None,
    ) -> None:
        from triage.features.store import RunCounts

        self.settings = settings
        self.store = store
        self.spec = spec
        self.service = service
        self.batch_lines = max(1, batch_lines)
        self.advance = advance
        self.run_id = _now().strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.totals = RunCounts()
        self.template_ids: set[str] = set()
        self.sources = 0
        self.unchanged = 0
        self._parser: TemplateParser | None = None  # loaded when the first file has new lines
        self._templates_before: set[str] = set()
        self.committed_versions: dict[str, int] = {}
        self._clean: dict[str, str] = {}  # header value -> redacted value (few distinct values)
        self.known: SourceIndex = SourceIndex()  # the store's sources, with this run's submitted batches
        self.commits = (0, 0.0, 0.0)  # count, total seconds, longest

    def run(self, inputs: list[IngestInput], paths: list[str], reader: Reader) -> IngestReport:
        started = time.perf_counter()
        self.store.begin_run(
            self.run_id,
            paths=paths,
            format=self.spec.label if self.spec else None,
            service=self.service,
            now=_now(),
        )
        status, error = "failed", None
        self.known = SourceIndex.load(self.store)
        self.committer = _Committer(self.store, self._committed)
        try:
            try:
                self._ingest_all(inputs, reader)
            finally:
                self.committer.close()  # even on error: what was parsed before it is committed
            status = "completed"
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted"
            raise
        except Exception as exc:
            error = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise
        finally:
            self.store.finish_run(
                self.run_id,
                status=status,
                sources=self.sources,
                templates=len(self.template_ids),
                seconds=time.perf_counter() - started,
                now=_now(),
                commits=self.commits,
                error=error,
            )
        new_templates = 0
        if self._parser is not None:  # the committed state, exported for snapshots and other tools
            self._parser.save_state(self.settings.miner_state_path)
            new_templates = len({t.template_id for t in self._parser.templates()} - self._templates_before)
        return IngestReport(
            self.run_id,
            self.totals.lines,
            self.totals.events,
            self.totals.merged,
            self.totals.quarantined,
            len(self.template_ids),
            new_templates,
            time.perf_counter() - started,
            self.sources,
            self.unchanged,
        )

    @property
    def parser(self) -> TemplateParser:
        """The parser in the state of the last commit (loaded on first use: a run with nothing new skips it)."""
        if self._parser is None:
            parser = load_parser(self.settings, self.store)
            self._templates_before = {t.template_id for t in parser.templates()}
            for version in parser.template_versions():  # everything in a committed state is committed
                if version.version > self.committed_versions.get(version.template_id, 0):
                    self.committed_versions[version.template_id] = version.version
            self._parser = parser
        return self._parser

    # --- files ---
    def _ingest_all(self, inputs: list[IngestInput], reader: Reader) -> None:
        """Plan each file (where to resume, which format) and hand it to the reader ahead of the file being
        parsed (``reader.ahead`` files), so readers go on to the next files while this one is parsed.

        A file is planned against the sources as this run's submitted batches leave them
        (:class:`SourceIndex`); the file in flight has not submitted all its batches yet, so when the next
        file starts with the same bytes as it (a copy, a rotated file), that file is parsed to its end first
        and the next one planned after: it then resumes where the first one stopped, as when read in turn."""
        inflight: deque[_FilePlan] = deque()
        try:
            for item in inputs:
                try:
                    plan = self._open_plan(item, inflight, reader)
                except Exception:  # e.g. the file vanished: what was read before it is parsed and kept
                    while inflight:
                        self._parse_file(reader, inflight.popleft())
                    raise
                if plan is None:
                    continue
                if self.sources == 1 and reader.concurrent:  # the run's first job: start parsing soon
                    plan.job = replace(plan.job, first_batch_lines=min(FIRST_BATCH_LINES, self.batch_lines))
                reader.submit(plan.job)
                inflight.append(plan)
                if self.sources == 1 and reader.concurrent:
                    _warm_up()  # while the reader starts and reads the first batch
                _ = self.parser  # loaded on first use (and triage.parsing imported)
                if len(inflight) > reader.ahead:
                    self._parse_file(reader, inflight.popleft())
            while inflight:
                self._parse_file(reader, inflight.popleft())
        finally:
            for plan in inflight:
                plan.handle.close()

    def _open_plan(self, item: IngestInput, inflight: deque[_FilePlan], reader: Reader) -> _FilePlan | None:
        """Open and plan one file (None if it has nothing new), after the files in flight when it starts
        with the same bytes as one of them."""
        size = item.path.stat().st_size
        if size == 0:
            self.unchanged += 1
            return None
        handle = open(item.path, "rb")  # noqa: SIM115 (closed when its plan is done)
        try:
            if any(plan.same_head(handle, size) for plan in inflight):
                while inflight:
                    self._parse_file(reader, inflight.popleft())
            plan = self._plan(item, handle, size)
        except BaseException:
            handle.close()
            raise
        if plan is None:
            handle.close()
        return plan

    def _plan(self, item: IngestInput, handle: IO[bytes], size: int) -> _FilePlan | None:
        """Where to read ``item`` from and how; None (counted unchanged) when nothing is new."""
        from triage.features.store import SourceState
        from triage.ingest.readers import sniff_format

        # (this run may have read the same bytes under another name just before: self.known has them)
        same_head: list[SourceState] = []
        source = find_source(self.known, handle, size, seen=same_head)
        new = source is None
        if source is None:
            head_len = min(size, HEAD_BYTES)
            head_sha = _sha(_read_at(handle, 0, head_len))
            spec = self.spec or sniff_format(item.path)
            source = SourceState(
                source_id=new_source_id(self.known, handle, head_sha, same_head=same_head),
                path=item.label,
                format=spec.model_dump_json(exclude_none=True),
                default_year=datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC).year,
                service=self.service,
                head_len=head_len,
                head_sha=head_sha,
                bytes_committed=0,
                lines_committed=0,
                check_sha=None,
            )
        elif self.spec is not None:
            spec = self.spec
        else:
            spec = _stored_format(source.format) or sniff_format(item.path)
        start, line = source.bytes_committed, source.lines_committed
        if self.advance:
            self.advance(min(start, size))
        if start >= size:
            self.unchanged += 1
            return None
        self.sources += 1
        format_json = spec.model_dump_json(exclude_none=True)
        job = ReadJob(
            path=str(item.path),
            label=item.label,
            spec=format_json,
            service=self.service,
            written_at=os.fstat(handle.fileno()).st_mtime,
            start_offset=start,
            start_line=line,
            batch_lines=self.batch_lines,
            batch_seconds=BATCH_SECONDS,
        )
        return _FilePlan(job, source, format_json, handle, new)

    def _parse_file(self, reader: Reader, plan: _FilePlan) -> None:
        """Parse and submit the batches of one planned file, in order."""
        try:
            fallback_service = default_service(plan.job.label)
            offset, new = plan.job.start_offset, plan.new
            for batch in reader.take():
                if batch.start_offset != offset:  # the reader's contract; a gap would lose lines
                    raise IntegrityError(
                        f"{plan.job.label}: a batch starts at byte {batch.start_offset}, expected {offset}; stopping"
                    )
                self._commit(batch, plan, fallback_service, new=new)
                offset, new = batch.end_offset, False
        finally:
            plan.handle.close()

    # --- one batch ---
    def _commit(self, batch: ReadBatch, plan: _FilePlan, fallback_service: str | None, *, new: bool) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from triage.features.store import IngestBatch, RunCounts
        from triage.parsing.parser import NO_TIME

        source, label = plan.source, plan.job.label
        rows = batch.rows
        stamps = rows.column(2)
        micros = pc.fill_null(stamps.cast(pa.int64()), NO_TIME).to_pylist()
        template_ids, params, contents = self.parser.parse_micros(rows.column(1).to_pylist(), micros)
        ids = pa.array(template_ids, pa.string())
        seen = self._note_seen(ids, stamps)
        now = _now()
        events = self._events_table(
            rows, ids, params, contents, source.source_id, label, fallback_service, now
        )
        templates, versions = self._template_tables(seen, now)
        quarantine = self._quarantine_table(batch.quarantined, source.source_id, label, now)
        state = _state_bytes(self.parser)
        counts = RunCounts(batch.lines, len(template_ids), batch.merged, len(batch.quarantined))
        submitted = IngestBatch(
            run_id=self.run_id,
            source_id=source.source_id,
            path=label,
            start_offset=batch.start_offset,
            end_offset=batch.end_offset,
            end_line=batch.end_line,
            check_sha=check_sha(plan.handle, batch.end_offset),
            events=events,
            quarantine=quarantine,
            templates=templates,
            versions=versions,
            counts=counts,
            format=plan.format_json,
            miner_state=state,
            miner_state_sha=_sha(state),
            new_source=source if new else None,
        )
        self.known.advance(submitted, source)
        self.committer.submit(submitted)

    def _note_seen(self, ids: pa.Array, stamps: pa.Array) -> dict[str, BatchSeen]:
        """Each template's first/last seen widened by the earliest and latest stamp of its events in the batch
        (``TemplateParser.parse_micros`` leaves them to the caller). Returns, per template id of the batch,
        its events and their earliest and latest stamp: the batch's share of the ``templates`` row."""
        import pyarrow as pa

        seen = (
            pa.table({"t": ids, "ts": stamps})
            .group_by("t")
            .aggregate([("t", "count"), ("ts", "min"), ("ts", "max")])
        )
        note = self.parser.note_seen
        stats: dict[str, BatchSeen] = {}
        for template_id, n, first, last in zip(
            seen["t"].to_pylist(), seen["t_count"].to_pylist(), seen["ts_min"].to_pylist(),
            seen["ts_max"].to_pylist(), strict=True,
        ):  # fmt: skip
            if first is not None:
                note(template_id, first, last)
            stats[template_id] = (n, first, last)
        return stats

    def _committed(self, batches: list[IngestBatch], seconds: float) -> None:
        """Runs on the commit thread after each commit (one write session, one or more batches)."""
        for batch in batches:
            self.totals = self.totals + batch.counts
        count, total, longest = self.commits
        self.commits = (count + 1, total + seconds, max(longest, seconds))
        if self.advance:
            self.advance(sum(b.end_offset - b.start_offset for b in batches))

    def _redacted(self, value: str | None) -> str | None:
        """A header value (path, host, component, ...) redacted like message text, cached (few distinct values)."""
        if value is None:
            return None
        clean = self._clean.get(value)
        if clean is None:
            if len(self._clean) >= 100_000:
                self._clean.clear()
            clean = self._clean[value] = self.parser.redact(value)
        return clean

    def _redacted_column(self, column: pa.Array, fill: str | None = None) -> pa.Array:
        """A string column with every distinct value redacted once (dictionary-encoded on the way)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if fill is not None:
            column = pc.fill_null(column, fill)
        encoded = column.dictionary_encode()
        distinct = encoded.dictionary.to_pylist()
        cleaned = [self._redacted(v) for v in distinct]
        if cleaned == distinct:
            return column
        return pc.take(pa.array(cleaned, pa.string()), encoded.indices)

    def _events_table(
        self,
        rows: pa.RecordBatch,
        template_ids: pa.Array,
        params: list[tuple[str, ...]],
        contents: list[str],
        source_id: str,
        label: str,
        fallback_service: str | None,
        now: datetime,
    ) -> pa.Table:
        """The events of a batch: the reader's columns (``batches.row_schema``) and the parser's output."""
        import pyarrow as pa

        line_nos, _, timestamps, levels, components, hosts, services, n_lines = rows.columns
        n = len(template_ids)
        string = pa.string()
        return pa.table(
            {
                "source_id": _repeat(source_id, n, string),
                "source": _repeat(self._redacted(label), n, string),
                "line_no": line_nos,
                "ts": timestamps,
                "service": self._redacted_column(services, fallback_service),
                "component": self._redacted_column(components),
                "host": self._redacted_column(hosts),
                "level": levels,
                "template_id": template_ids,
                "params": pa.array(params, pa.list_(string)),
                "content": pa.array(contents, string),
                "n_lines": n_lines,
                "run_id": _repeat(self.run_id, n, string),
                "ingested_at": _repeat(now, n, pa.timestamp("us")),
            }
        )

    def _template_tables(self, in_batch: dict[str, BatchSeen], now: datetime) -> tuple[pa.Table, pa.Table]:
        """Every template in the batch or changed by it (a merge changes templates that have no event in
        the batch), with its current text and the batch's count and first/last stamp of it (``in_batch``, from
        :meth:`_note_seen`: the store adds them up without reading the events again); and the versions the
        store has not seen yet."""
        import pyarrow as pa

        self.template_ids.update(in_batch)
        rows: list[Any] = []
        new_versions: list[Any] = []
        committed = self.committed_versions
        for template in self.parser.templates():
            known = committed.get(template.template_id, 0)
            if template.version > known:
                new_versions.extend(
                    v for v in self.parser.template_versions(template.template_id) if v.version > known
                )
                committed[template.template_id] = template.version
            elif template.template_id not in in_batch:
                continue
            rows.append(template)
        stats = [in_batch.get(t.template_id, (0, None, None)) for t in rows]
        templates = pa.table(
            {
                "template_id": pa.array([t.template_id for t in rows], pa.string()),
                "text": pa.array([t.text for t in rows], pa.string()),
                "version": pa.array([t.version for t in rows], pa.int32()),
                "merged_into": pa.array([getattr(t, "merged_into", None) for t in rows], pa.string()),
                "count": pa.array([n for n, _, _ in stats], pa.int64()),
                "first_seen": pa.array([first for _, first, _ in stats], pa.timestamp("us")),
                "last_seen": pa.array([last for _, _, last in stats], pa.timestamp("us")),
            }
        )
        versions = pa.table(
            {
                "template_id": pa.array([v.template_id for v in new_versions], pa.string()),
                "version": pa.array([v.version for v in new_versions], pa.int32()),
                "text": pa.array([v.text for v in new_versions], pa.string()),
                "created_at": pa.array(
                    [(v.observed_at or now).replace(tzinfo=None) for v in new_versions], pa.timestamp("us")
                ),
                "run_id": pa.array([self.run_id] * len(new_versions), pa.string()),
            }
        )
        return templates, versions

    def _quarantine_table(
        self, lines: list[QuarantinedLine], source_id: str, label: str, now: datetime
    ) -> pa.Table:
        import pyarrow as pa

        n = len(lines)
        return pa.table(
            {
                "source_id": pa.array([source_id] * n, pa.string()),
                "source": pa.array([self._redacted(label) or label] * n, pa.string()),
                "line_no": pa.array([q.line_no for q in lines], pa.int64()),
                "raw": pa.array([self.redact_bytes(q.raw) for q in lines], pa.binary()),
                "raw_sha256": pa.array([_sha(q.raw) for q in lines], pa.string()),
                "reason": pa.array([q.reason for q in lines], pa.string()),
                "run_id": pa.array([self.run_id] * n, pa.string()),
                "quarantined_at": pa.array([now] * n, pa.timestamp("us")),
            }
        )

    def redact_bytes(self, raw: bytes) -> bytes:
        """A quarantined line's bytes with PHI spans redacted; bytes that are not UTF-8 are kept as they are."""
        text = raw.decode("utf-8", "surrogateescape")
        redacted = self.parser.redact(text)
        return raw if redacted == text else redacted.encode("utf-8", "surrogateescape")

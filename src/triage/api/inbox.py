"""The log inbox behind ``POST /v1/logs``: lines on disk before the 202, ingested in the background.

The lines of one request become one file in the inbox (``Settings.inbox_dir``)::

    <UTC time>-<uuid>.<service>.log    the lines, as sent (each ends in a newline)
    <UTC time>-<uuid>.<service>.json   {"service", "format", "lines", "bytes", "received_at"}

Names sort by arrival. Each file is written under a temporary name, fsynced and renamed, then the folder
is fsynced; the sidecar goes first, so a ``.log`` in the inbox always has its sidecar. Only then is the 202
sent. (``<service>`` in the name is a filename-safe form; the sidecar holds the exact one.)

:class:`LogInbox`, started by the Runtime, drains the inbox every few seconds on its own thread: it runs
the exactly-once ingest job (:func:`triage.features.ingest_job.ingest`) over the waiting files, in arrival
order, with each file's service and format, and deletes a file once the job has committed all of it (the
store keeps the redacted events; the raw lines are not kept). Unparseable lines are quarantined and counted
by the job as usual. A failure is logged without the lines and retried later (backing off); another ingest
holding the home's ingest lock (a CLI ``triage ingest``) just means next round. A kill at any point loses
nothing: a file is deleted only after its commit, and ingesting a committed file again adds nothing.

Like ``triage ingest``, the job knows a source by its content: a batch whose bytes begin with all of an
earlier batch's bytes (a retried POST, for one) adds only what is new.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from triage.errors import Conflict, TriageError
from triage.settings import Settings
from triage.storage.database import StorageError
from triage.storage.files import fsync_dir, write_durably
from triage.threads import start_background

log = logging.getLogger("triage.api.logs")

#: Seconds between two inbox rounds.
INTERVAL = 2.0
#: One ingest run takes consecutive files of the same service and format, up to these bounds.
MAX_FILES_PER_RUN = 200
MAX_BYTES_PER_RUN = 64 << 20
#: Longest wait before a failing file is tried again.
MAX_BACKOFF = 60.0
#: Temporary files and sidecars without their log older than this are leftovers of a crash.
STALE_SECONDS = 600.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class InboxBatch:
    """One waiting file and what its sidecar says."""

    batch_id: str
    path: Path  # the .log
    service: str
    format: str | None
    size: int


def _sidecar(log_path: Path) -> Path:
    return log_path.with_suffix(".json")


def _batch_id(log_path: Path) -> str:
    return log_path.name.split(".", 1)[0]


class LogInbox:
    """The inbox folder: ``accept`` writes a batch durably; a background thread ingests and removes them."""

    def __init__(self, settings: Settings, *, interval: float = INTERVAL) -> None:
        self.settings = settings
        self.folder = settings.inbox_dir
        self.interval = interval
        self.ingested = 0  # files ingested and removed since start
        self.last_error: str | None = None
        self._failures: dict[str, tuple[int, float]] = {}  # batch id -> (failures in a row, next try, monotonic)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- writing (request path, on a worker thread) ---
    def accept(self, service: str, format: str | None, data: bytes, lines: int) -> str:
        """Write one batch durably (see the module docstring); returns its id."""
        now = datetime.now(UTC)
        batch_id = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}"
        stem = f"{batch_id}.{_UNSAFE.sub('_', service)[:64]}"
        meta = {"batch": batch_id, "service": service, "format": format, "lines": lines, "bytes": len(data),
                "received_at": now.isoformat()}
        self._ensure_folder()
        write_durably(self.folder / f"{stem}.json", json.dumps(meta).encode())
        fsync_dir(self.folder)  # the sidecar is in before its log can be seen
        write_durably(self.folder / f"{stem}.log", data)  # owner-only (0600): raw lines may hold PHI
        fsync_dir(self.folder)
        return batch_id

    def _ensure_folder(self) -> None:
        if self.folder.is_dir():
            return
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        self.folder.mkdir(parents=True, exist_ok=True)
        for created in missing:  # make the new folders' entries durable too
            fsync_dir(created.parent)

    # --- draining (background thread) ---
    def start(self) -> None:
        self._ensure_folder()
        self._thread = start_background(self._run, "triage-log-inbox")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop after the current ingest (a kill would be safe too: the job resumes exactly)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.drain()
            except Exception as exc:  # e.g. the folder unreadable: keep trying
                self.last_error = type(exc).__name__
                log.warning("log inbox round failed", extra={"error": type(exc).__name__})

    def waiting(self) -> list[Path]:
        """The batches' log files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.log"))

    def drain(self) -> int:
        """One round: ingest what is waiting (and due), remove what was committed. Returns files removed."""
        self._clean_leftovers()
        now = time.monotonic()
        paths = self.waiting()
        present = {_batch_id(p) for p in paths}
        self._failures = {k: v for k, v in self._failures.items() if k in present}
        batches = []
        for path in paths:
            if self._failures.get(_batch_id(path), (0, 0.0))[1] > now:
                continue  # backing off
            try:
                batches.append(_read_batch(path))
            except (OSError, ValueError, KeyError) as exc:  # no or a broken sidecar: left for an operator
                self._failed(_batch_id(path), exc)
        removed = 0
        for group in _groups(batches):
            if self._stopping.is_set():
                break
            try:
                removed += self._ingest(group)
            except Conflict:  # another ingest (a CLI one) holds the lock, or the store is busy: next round
                log.info("log inbox waits: another ingest is running")
                break
        return removed

    def _ingest(self, group: list[InboxBatch]) -> int:
        from triage.features.ingest_job import ingest

        try:
            ingest(self.settings, [b.path for b in group], format=group[0].format, service=group[0].service)
        except Conflict:
            raise
        except Exception as exc:
            if len(group) > 1:  # one at a time, so that one bad file does not hold up the others
                return sum(self._ingest([batch]) for batch in group)
            self._failed(group[0].batch_id, exc)
            return 0
        for batch in group:  # all committed: the store has them
            batch.path.unlink(missing_ok=True)
            _sidecar(batch.path).unlink(missing_ok=True)
            self._failures.pop(batch.batch_id, None)
        self.ingested += len(group)
        return len(group)

    def _failed(self, batch_id: str, exc: BaseException) -> None:
        count = self._failures.get(batch_id, (0, 0.0))[0] + 1
        delay = min(self.interval * 2 ** (count - 1), MAX_BACKOFF)
        self._failures[batch_id] = (count, time.monotonic() + delay)
        self.last_error = type(exc).__name__
        log.warning(
            "log inbox batch not ingested; will retry",
            extra={"batch": batch_id, "error": type(exc).__name__, "detail": _safe_detail(exc), "attempts": count,
                   "retry_in_s": round(delay, 1)},
        )

    def _clean_leftovers(self) -> None:
        """Temporary files and lone sidecars of writes that a crash interrupted (never answered 202)."""
        if not self.folder.is_dir():
            return
        cutoff = time.time() - STALE_SECONDS
        for path in self.folder.iterdir():
            lone_sidecar = path.suffix == ".json" and not path.with_suffix(".log").exists()
            if path.name.endswith(".tmp") or lone_sidecar:
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                except FileNotFoundError:
                    pass

    # --- readiness ---
    def check(self) -> str:
        """For /readyz (public: counts only). Never fails on a backlog: accepting stays possible."""
        paths = self.waiting()
        done = f"{self.ingested} ingested since start"
        if not paths:
            return f"empty; {done}"
        try:
            age = max(0.0, time.time() - paths[0].stat().st_mtime)
        except FileNotFoundError:  # ingested meanwhile
            age = 0.0
        failing = f"; {len(self._failures)} failing ({self.last_error})" if self._failures else ""
        return f"{len(paths)} waiting, oldest {age:.0f} s{failing}; {done}"


def _read_batch(path: Path) -> InboxBatch:
    meta = json.loads(_sidecar(path).read_bytes())
    service = meta["service"]
    format = meta.get("format")
    if not isinstance(service, str) or not (format is None or isinstance(format, str)):
        raise ValueError("malformed sidecar")
    return InboxBatch(_batch_id(path), path, service, format, path.stat().st_size)


def _groups(batches: list[InboxBatch]) -> list[list[InboxBatch]]:
    """Consecutive batches of the same service and format, bounded: one ingest run each."""
    groups: list[list[InboxBatch]] = []
    size = 0
    for batch in batches:
        last = groups[-1] if groups else None
        if (last and (last[0].service, last[0].format) == (batch.service, batch.format)
                and len(last) < MAX_FILES_PER_RUN and size + batch.size <= MAX_BYTES_PER_RUN):
            last.append(batch)
            size += batch.size
        else:
            groups.append([batch])
            size = batch.size
    return groups


def _safe_detail(exc: BaseException) -> str | None:
    """The message of triage's own errors (about paths and offsets); none for others, which may quote data."""
    if isinstance(exc, TriageError) and not isinstance(exc, StorageError):
        return (str(exc).splitlines() or [""])[0][:300]
    return None

"""FeatureStore: the ingest tables and any feature table, over the DuckDB adapter.

Every other domain reads logs through this class; the column names below are a contract.

Reading (each call opens the store read-only for its duration, so it never blocks other readers and
waits at most one ingest batch, well under a second, for a writer)::

    store = FeatureStore(settings)
    store.events(service="HDFS", since="2008-11-09", until=None, columns=None, limit=None)  # DataFrame
    store.templates()                      # template_id, text, version, count, first_seen, last_seen, merged_into
    store.templates(service="HDFS")        # the same, count restricted to that service's events
    store.template_versions(template_id)   # template_id, version, text, created_at, run_id
    store.quarantine()                     # source_id, source, line_no, raw, raw_sha256, reason, ...
    store.ingest_runs() / store.sources()  # run history; one row per distinct log file
    store.read("any_table_or_view", where="level = ?", params=["ERROR"], limit=100)
    store.sql("SELECT service, count(*) FROM events GROUP BY 1")   # any read-only query
    store.write("window_features", frame, mode="replace")          # feature tables of other domains

Tables written by ingest (see ``sql/001_ingest.sql``):

- ``events``: ``source_id, source, line_no, ts, service, component, host, level, template_id, params
  (VARCHAR[]), content, n_lines, run_id, ingested_at``; one row per log record, unique on
  ``(source_id, line_no)``; ``content`` and ``params`` are redacted. ``ts`` is the log's own time.
- ``templates``: ``template_id, text, version, count, first_seen, last_seen, merged_into``;
  ``template_versions`` keeps every text a template has had. Events keep the id their template had
  when they were parsed; a template the parser later merged into another has ``merged_into`` set (and
  that template's text), so group by ``coalesce(merged_into, template_id)`` for the current grouping.
- ``quarantine``: lines that could not become a record, with their bytes (PHI spans redacted), the
  sha256 of the original bytes and the reason.
- ``ingest_runs`` and ``ingest_sources``: what was read, when, and how far each file is committed.

Writing events is the ingest job's business (:meth:`commit_batch`, :meth:`commit_batches`): one
transaction per batch (or per run of consecutive batches) holds the batches' events, quarantine, template
updates, the sources' committed offsets and the miner state, so a killed ingest resumes exactly where its
last commit ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from triage.errors import InvalidInput, NotFound
from triage.settings import Settings
from triage.storage.database import Database, Migration, Session, StorageError, load_migrations

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SQL_DIR = Path(__file__).with_name("sql")
COMPONENT = "features"

#: Tables only ingest writes; ``write`` refuses them so their invariants (offsets, uniqueness) hold.
INGEST_TABLES = frozenset(
    {"events", "templates", "template_versions", "quarantine", "ingest_runs", "ingest_sources", "miner_state"}
)
EVENT_COLUMNS = (
    "source_id", "source", "line_no", "ts", "service", "component", "host", "level",
    "template_id", "params", "content", "n_lines", "run_id", "ingested_at",
)  # fmt: skip
QUARANTINE_COLUMNS = (
    "source_id",
    "source",
    "line_no",
    "raw",
    "raw_sha256",
    "reason",
    "run_id",
    "quarantined_at",
)

SOURCE_COLUMNS = "source_id, path, format, default_year, service, head_len, head_sha, bytes_committed, lines_committed, check_sha"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def migrations() -> list[Migration]:
    """This component's schema steps."""
    return load_migrations(COMPONENT, SQL_DIR)


@dataclass(frozen=True, slots=True)
class SourceState:
    """One row of ``ingest_sources``: how far a file has been committed."""

    source_id: str
    path: str
    format: str | None
    default_year: int | None  # the file's modification year when first seen (kept as a record: reading
    # places year-less stamps by the modification time of each run, see ``ReadJob.written_at``)
    service: str | None
    head_len: int
    head_sha: str
    bytes_committed: int
    lines_committed: int
    check_sha: str | None


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What one batch (or one run) added."""

    lines: int = 0
    events: int = 0
    merged: int = 0
    quarantined: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(
            self.lines + other.lines,
            self.events + other.events,
            self.merged + other.merged,
            self.quarantined + other.quarantined,
        )


@dataclass(frozen=True, slots=True)
class IngestBatch:
    """Everything one ingest transaction commits; built by the ingest job as Arrow tables."""

    run_id: str
    source_id: str
    path: str
    start_offset: int  # the source's bytes_committed this batch continues from
    end_offset: int
    end_line: int  # lines_committed after the batch
    check_sha: str  # sha256 of the bytes just before end_offset
    events: pa.Table  # EVENT_COLUMNS
    quarantine: pa.Table  # QUARANTINE_COLUMNS
    # template_id, text, version, merged_into, and count, first_seen, last_seen of its events in ``events``:
    # every template in ``events`` or changed (a changed one without events: 0, NULL, NULL)
    templates: pa.Table
    versions: pa.Table  # template_id, version, text, created_at, run_id: texts not stored before
    counts: RunCounts
    format: str | None  # the header format these lines were read with
    miner_state: bytes  # the parser state (JSON) right after parsing this batch
    miner_state_sha: str
    new_source: SourceState | None = None  # set on the first batch of a source not yet in the store


class FeatureStore:
    """Typed access to the store file of one home folder. Cheap to construct: it opens nothing."""

    def __init__(
        self,
        settings: Settings,
        *,
        lock_timeout: float = 120.0,
        threads: int = 2,
        keep_engine: bool = False,
        row_group_size: int | None = None,
    ) -> None:
        """``threads``: DuckDB's worker threads per session (ingest commits use 1: its batch inserts gain
        nothing from a second thread that would compete with the parser for the other core).
        ``keep_engine``: one DuckDB instance for all of this object's sessions, the file attached per session;
        for a caller that opens the store many times in a row, such as the ingest job, whose sessions then
        run one at a time. ``row_group_size``: with ``keep_engine``, the row group size of what this object
        writes (see :class:`~triage.storage.database.Database`)."""
        self.settings = settings
        self.db = Database(
            settings.store_path,
            lock_timeout=lock_timeout,
            threads=threads,
            keep_engine=keep_engine,
            row_group_size=row_group_size,
        )

    @property
    def path(self) -> Path:
        return self.db.path

    def migrate(self) -> list[Migration]:
        """Create or upgrade the ingest tables; returns the steps applied (none when up to date)."""
        if self.db.exists() and self._is_current():
            return []
        return self.db.migrate(migrations())

    def _is_current(self) -> bool:
        wanted = {(m.component, m.version) for m in migrations()}
        try:
            with self.db.read() as s:
                if not s.table_exists("schema_migrations"):
                    return False
                done = set(
                    s.execute(
                        "SELECT component, version FROM schema_migrations WHERE component = ?", [COMPONENT]
                    )
                )
        except StorageError:
            return False
        return wanted <= done

    # ------------------------------------------------------------------ reading

    def events(
        self,
        *,
        service: str | Sequence[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        template_id: str | Sequence[str] | None = None,
        level: str | Sequence[str] | None = None,
        source_id: str | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Events in time order (``since`` inclusive, ``until`` exclusive), optionally filtered."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("service", service), ("template_id", template_id), ("level", level)):
            if value is not None:
                values = [value] if isinstance(value, str) else list(value)
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        if source_id is not None:
            clauses.append("source_id = ?")
            params.append(source_id)
        if since is not None:
            clauses.append("ts >= CAST(? AS TIMESTAMP)")
            params.append(_timestamp(since))
        if until is not None:
            clauses.append("ts < CAST(? AS TIMESTAMP)")
            params.append(_timestamp(until))
        cols = _columns(columns, EVENT_COLUMNS)
        sql = f"SELECT {cols} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY ts NULLS LAST, source_id, line_no"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._frame("events", sql, params)

    def templates(self, *, service: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Templates by descending count; with ``service``, counts and first/last seen of its events only."""
        tail = " ORDER BY count DESC, template_id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        if service is None:
            return self._frame(
                "templates",
                "SELECT template_id, text, version, count, first_seen, last_seen, merged_into FROM templates"
                + tail,
            )
        sql = (
            "SELECT t.template_id, t.text, t.version, e.count, e.first_seen, e.last_seen, t.merged_into"
            " FROM templates t"
            " JOIN (SELECT template_id, count(*) AS count, min(ts) AS first_seen, max(ts) AS last_seen"
            "       FROM events WHERE service = ? GROUP BY template_id) e USING (template_id)"
        )
        return self._frame("templates", sql + tail, [service])

    def template_versions(self, template_id: str | None = None) -> pd.DataFrame:
        sql = "SELECT template_id, version, text, created_at, run_id FROM template_versions"
        params: list[Any] = []
        if template_id is not None:
            sql += " WHERE template_id = ?"
            params.append(template_id)
        return self._frame("template_versions", sql + " ORDER BY template_id, version", params)

    def quarantine(self, *, source_id: str | None = None, limit: int | None = None) -> pd.DataFrame:
        sql = f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM quarantine"
        params: list[Any] = []
        if source_id is not None:
            sql += " WHERE source_id = ?"
            params.append(source_id)
        sql += " ORDER BY source_id, line_no" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return self._frame("quarantine", sql, params)

    def ingest_runs(self) -> pd.DataFrame:
        return self._frame("ingest_runs", "SELECT * FROM ingest_runs ORDER BY started_at, run_id")

    def sources(self) -> pd.DataFrame:
        return self._frame("ingest_sources", "SELECT * FROM ingest_sources ORDER BY first_ingested_at, path")

    def read(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        where: str | None = None,
        params: Sequence[Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Any table or view by name (``where``/``order_by`` are SQL fragments with ``?`` parameters)."""
        _check_identifier(name)
        sql = f'SELECT {_columns(columns, None)} FROM "{name}"'
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._frame(name, sql, list(params or []))

    def sql(self, query: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """A read-only query (the connection is opened read-only, so it cannot change anything)."""
        with self.db.read() as s:
            return s.df(query, list(params) if params is not None else None)

    def counts(self) -> dict[str, int]:
        """Row counts of the ingest tables (zeros for a store that does not exist yet)."""
        tables = ("events", "templates", "template_versions", "quarantine", "ingest_runs", "ingest_sources")
        if not self.db.exists():
            return dict.fromkeys(tables, 0)
        with self.db.read() as s:
            return {t: int(s.scalar(f"SELECT count(*) FROM {t}")) if s.table_exists(t) else 0 for t in tables}

    def verify(self) -> list[str]:
        """Problems with the ingest invariants (empty when sound): every committed physical line of every
        source is in exactly one event (``line_no .. line_no + n_lines - 1``) or one quarantine row."""
        with self.db.read() as s:
            if not s.table_exists("events"):
                return []
            rows = s.execute(
                """
                WITH spans AS (
                    SELECT source_id, line_no AS first, line_no + n_lines - 1 AS last FROM events
                    UNION ALL SELECT source_id, line_no, line_no FROM quarantine
                ), ordered AS (
                    SELECT source_id, first, last,
                           lag(last) OVER (PARTITION BY source_id ORDER BY first) AS prev_last
                    FROM spans
                )
                SELECT s.source_id, s.path, s.lines_committed,
                       coalesce(sum(o.last - o.first + 1), 0) AS covered,
                       coalesce(min(o.first), 1) AS first_line,
                       coalesce(max(o.last), 0) AS last_line,
                       count(*) FILTER (WHERE o.prev_last IS NOT NULL AND o.first <> o.prev_last + 1) AS breaks
                FROM ingest_sources s LEFT JOIN ordered o USING (source_id)
                GROUP BY s.source_id, s.path, s.lines_committed
                """
            )
            orphans = s.scalar(
                "SELECT count(*) FROM (SELECT source_id FROM events UNION SELECT source_id FROM quarantine)"
                " WHERE source_id NOT IN (SELECT source_id FROM ingest_sources)"
            )
            counts = s.execute(
                "SELECT t.template_id, t.count, coalesce(e.n, 0) FROM templates t"
                " LEFT JOIN (SELECT template_id, count(*) AS n FROM events GROUP BY 1) e USING (template_id)"
                " WHERE t.count <> coalesce(e.n, 0)"
            )
            unknown = s.scalar(
                "SELECT count(DISTINCT template_id) FROM events WHERE template_id NOT IN (SELECT template_id FROM templates)"
            )
        problems = []
        for source_id, path, committed, covered, first, last, breaks in rows:
            if committed and (covered != committed or first != 1 or last != committed or breaks):
                problems.append(
                    f"{path} ({source_id}): {committed} lines committed but events/quarantine cover"
                    f" {covered} lines from {first} to {last} with {breaks} gaps or overlaps"
                )
            elif not committed and covered:
                problems.append(f"{path} ({source_id}): rows stored but no line committed")
        if orphans:
            problems.append(f"{orphans} sources have rows but no ingest_sources entry")
        for template_id, count, actual in counts:
            problems.append(f"template {template_id}: count {count} but {actual} events")
        if unknown:
            problems.append(f"{unknown} template ids in events are missing from templates")
        return problems

    def _frame(self, table: str, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        with self.db.read() as s:
            if not s.table_exists(table):
                raise NotFound(f"the store has no table {table!r} (ingest something first)")
            return s.df(sql, list(params) if params else None)

    # ------------------------------------------------------------------ writing feature tables

    def write(self, name: str, frame: pd.DataFrame, *, mode: Literal["append", "replace"] = "append") -> int:
        """Write a feature table from a DataFrame: ``replace`` recreates it, ``append`` adds rows by column
        name (creating the table from the frame's types on first write). Returns the rows written."""
        _check_identifier(name)
        if name in INGEST_TABLES or name == "schema_migrations":
            raise InvalidInput(f"{name!r} is written by ingest only")
        if mode not in ("append", "replace"):
            raise InvalidInput(f"mode must be 'append' or 'replace', not {mode!r}")
        with self.db.write() as s, s.registered("_triage_frame", frame):
            if mode == "replace" or not s.table_exists(name):
                s.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _triage_frame')
                return len(frame)
            return s.append_df(name, frame)

    # ------------------------------------------------------------------ ingest side (used by ingest_job)

    def sources_with_head(self, head_sha: Callable[[int], str | None]) -> list[SourceState]:
        """Sources whose head matches a file's: ``head_sha(n)`` is the sha256 of the file's first ``n``
        bytes (None if it is shorter). Longest head first. One read session."""
        if not self.db.exists():
            return []
        with self.db.read() as s:
            lengths = [
                r[0] for r in s.execute("SELECT DISTINCT head_len FROM ingest_sources ORDER BY 1 DESC")
            ]
            heads = [(n, sha) for n in lengths if (sha := head_sha(n)) is not None]
            if not heads:
                return []
            values = ", ".join("(?, ?)" for _ in heads)
            rows = s.execute(
                f"SELECT {SOURCE_COLUMNS} FROM ingest_sources WHERE (head_len, head_sha) IN (VALUES {values})"
                " ORDER BY head_len DESC, bytes_committed DESC",
                [v for pair in heads for v in pair],
            )
        return [SourceState(*row) for row in rows]

    def source_states(self) -> list[SourceState]:
        """Every source (one read session): what an ingest run starts from (see ``ingest_job.SourceIndex``)."""
        if not self.db.exists():
            return []
        with self.db.read() as s:
            if not s.table_exists("ingest_sources"):
                return []
            rows = s.execute(f"SELECT {SOURCE_COLUMNS} FROM ingest_sources ORDER BY source_id")
        return [SourceState(*row) for row in rows]

    def source(self, source_id: str) -> SourceState | None:
        if not self.db.exists():
            return None
        with self.db.read() as s:
            row = s.fetchone(f"SELECT {SOURCE_COLUMNS} FROM ingest_sources WHERE source_id = ?", [source_id])
        return SourceState(*row) if row else None

    def begin_run(self, run_id: str, *, paths: Sequence[str], format: str | None, service: str | None,
                  now: datetime) -> None:  # fmt: skip
        """Record a new run; runs left 'running' by a killed process become 'interrupted'."""
        with self.db.write() as s:
            s.execute("UPDATE ingest_runs SET status = 'interrupted' WHERE status = 'running'")
            s.execute(
                "INSERT INTO ingest_runs (run_id, started_at, status, paths, format, service)"
                " VALUES (?, ?, 'running', ?, ?, ?)",
                [run_id, now, list(paths), format, service],
            )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        sources: int,
        templates: int,
        seconds: float,
        now: datetime,
        commits: tuple[int, float, float] = (0, 0.0, 0.0),
        error: str | None = None,
    ) -> None:
        """Close a run; ``commits`` is (number of batch commits, their total seconds, the longest)."""
        with self.db.write() as s:
            s.execute(
                "UPDATE ingest_runs SET status = ?, finished_at = ?, sources = ?, templates = ?, seconds = ?,"
                " commits = ?, commit_seconds = ?, max_commit_seconds = ?, error = ? WHERE run_id = ?",
                [status, now, sources, templates, seconds, *commits, error, run_id],
            )

    def miner_state(self) -> tuple[str, bytes] | None:
        """(sha256, JSON bytes) of the parser state that produced the committed events; None before any."""
        if not self.db.exists():
            return None
        with self.db.read() as s:
            if not s.table_exists("miner_state"):
                return None
            row = s.fetchone("SELECT sha256, state FROM miner_state WHERE id = 1")
        return None if row is None else (row[0], bytes(row[1]))

    def has_events(self) -> bool:
        if not self.db.exists():
            return False
        with self.db.read() as s:
            return (
                s.table_exists("events")
                and s.scalar("SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)") > 0
            )

    def commit_batch(self, batch: IngestBatch, *, now: datetime) -> None:
        """Commit one batch atomically, after checking that nobody else advanced the source meanwhile.
        The first batch of a new source (``batch.new_source``) registers it in the same transaction."""
        self.commit_batches([batch], now=now)

    def commit_batches(self, batches: Sequence[IngestBatch], *, now: datetime) -> None:
        """Commit consecutive batches (in order, of one source or several) in one transaction: all or
        none. Each is checked and written as by :meth:`commit_batch`; the parser state stored is the last
        batch's (it produced all of them). One write session for several batches costs less than one each
        (DuckDB's open, checkpoint and close are paid once)."""
        if not batches:
            return
        with self.db.write() as s:
            for batch in batches:
                self._write_batch(s, batch, now=now)
            last = batches[-1]
            s.execute(
                "INSERT INTO miner_state (id, sha256, state, run_id, updated_at) VALUES (1, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, state = excluded.state,"
                " run_id = excluded.run_id, updated_at = excluded.updated_at",
                [last.miner_state_sha, last.miner_state, last.run_id, now],
            )

    @staticmethod
    def _write_batch(s: Session, batch: IngestBatch, *, now: datetime) -> None:
        """One batch's rows and offsets, inside the caller's transaction (the parser state is the caller's)."""
        committed = s.fetchone(
            "SELECT bytes_committed, lines_committed FROM ingest_sources WHERE source_id = ?",
            [batch.source_id],
        )
        if committed is None and batch.new_source is not None:
            src = batch.new_source
            s.execute(
                f"INSERT INTO ingest_sources ({SOURCE_COLUMNS}, first_ingested_at, last_ingested_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, NULL, ?, ?)",
                [src.source_id, src.path, src.format, src.default_year, src.service, src.head_len,
                 src.head_sha, now, now],
            )  # fmt: skip
            committed = (0, 0)
        if committed is None:
            raise StorageError(f"unknown source {batch.source_id}")
        if committed[0] != batch.start_offset:
            raise StorageError(
                f"{batch.path}: expected to continue from byte {batch.start_offset}, but the store has"
                f" {committed[0]} committed (was it ingested concurrently?)"
            )
        s.append_arrow("events", batch.events)
        s.append_arrow("quarantine", batch.quarantine)
        if batch.templates.num_rows:
            with s.registered("_batch_templates", batch.templates):
                s.execute(
                    "INSERT INTO templates (template_id, text, version, merged_into, count, first_seen, last_seen)"
                    ' SELECT template_id, text, version, merged_into, "count", first_seen, last_seen'
                    " FROM _batch_templates"
                    " ON CONFLICT (template_id) DO UPDATE SET text = excluded.text, version = excluded.version,"
                    " merged_into = excluded.merged_into, count = templates.count + excluded.count,"
                    " first_seen = least(templates.first_seen, excluded.first_seen),"
                    " last_seen = greatest(templates.last_seen, excluded.last_seen)"
                )
        s.append_arrow("template_versions", batch.versions)
        c = batch.counts
        s.execute(
            "UPDATE ingest_sources SET bytes_committed = ?, lines_committed = ?, check_sha = ?, path = ?,"
            " format = coalesce(?, format), last_ingested_at = ?, last_run_id = ? WHERE source_id = ?",
            [
                batch.end_offset,
                batch.end_line,
                batch.check_sha,
                batch.path,
                batch.format,
                now,
                batch.run_id,
                batch.source_id,
            ],
        )
        s.execute(
            "UPDATE ingest_runs SET lines = lines + ?, events = events + ?, merged = merged + ?,"
            " quarantined = quarantined + ? WHERE run_id = ?",
            [c.lines, c.events, c.merged, c.quarantined, batch.run_id],
        )


def _check_identifier(name: str) -> None:
    if not _IDENTIFIER.match(name):
        raise InvalidInput(f"not a table name: {name!r}")


def _columns(columns: Sequence[str] | None, allowed: Sequence[str] | None) -> str:
    if not columns:
        return ", ".join(allowed) if allowed else "*"
    for column in columns:
        _check_identifier(column)
        if allowed is not None and column not in allowed:
            raise InvalidInput(f"no column {column!r}; choose from {', '.join(allowed)}")
    return ", ".join(f'"{c}"' for c in columns)


def _timestamp(value: datetime | str) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    try:
        return datetime.fromisoformat(value).isoformat(sep=" ")
    except ValueError:
        raise InvalidInput(f"not an ISO date or time: {value!r}") from None

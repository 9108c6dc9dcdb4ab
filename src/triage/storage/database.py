"""The one module that imports duckdb.

DuckDB lets a single process hold a database file read-write, and then no other process may open it,
not even read-only (see ../shared/ENVIRONMENT.md §4). So that the scorer, the CLI and notebooks can work
at the same time, nobody keeps the file open: every unit of work opens it, does its work and closes it
(about 35 ms for a 1M-row file). A cross-process ``flock`` next to the file orders the openers: readers
share it, a writer holds it alone, so DuckDB's own lock is never contended and nobody sees its error.

Opening a DuckDB file creates a whole DuckDB instance (≈ 25–35 ms of CPU, mostly building its catalog of
built-in functions), whatever the file holds. A process that opens the same store many times in a row (the
ingest job: a few sessions per file and one per batch) can ask for ``Database(..., keep_engine=True)``: one
in-memory instance is kept and the file is ``ATTACH``ed for each session and ``DETACH``ed at its end (≈ 2 ms),
which checkpoints and closes the file exactly as closing a connection does, so between sessions nobody holds
it and other processes open it as before.

Written against duckdb 2.0: relations have no ``fetchone``; a pending ``execute`` result must be read
before the next ``sql`` call, so :class:`Session` always fetches eagerly.
"""

from __future__ import annotations

import fcntl
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb

from triage.errors import Conflict, TriageError, summarize

if TYPE_CHECKING:  # pandas is imported by duckdb when a DataFrame is asked for, not at start-up
    import pandas as pd


_TEARDOWN_WAIT = 2.0  # seconds a closing DuckDB instance of the same file may take to go away
_ALIAS = "triage_store"  # the name a kept engine attaches the file under (see Database's keep_engine)


class StorageError(TriageError):
    """The store could not be opened or a statement failed."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step of one component; applied once, in version order, recorded in schema_migrations."""

    component: str
    version: int
    name: str
    sql: str


class Session:
    """A thin wrapper over one DuckDB connection: eager results, DataFrames in and out."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, read_only: bool) -> None:
        self._con = con
        self.read_only = read_only

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        try:
            cursor = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
            return cursor.fetchall() if cursor.description else []
        except duckdb.Error as exc:
            raise StorageError(summarize(exc, limit=None)) from exc

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> tuple | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            cursor = self._con.execute(sql, params) if params is not None else self._con.execute(sql)
            return cursor.df()
        except duckdb.Error as exc:
            raise StorageError(summarize(exc, limit=None)) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Only for a handful of rows: DuckDB's executemany runs ~1.6k rows/s. Use append_df for batches."""
        if rows:
            try:
                self._con.executemany(sql, rows)
            except duckdb.Error as exc:
                raise StorageError(summarize(exc, limit=None)) from exc

    def append_df(self, table: str, frame: pd.DataFrame) -> int:
        """Insert a DataFrame by column name in one vectorised statement; returns rows written."""
        if frame.empty:
            return 0
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        self._con.register("_triage_append", frame)
        try:
            self._con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM _triage_append')
        except duckdb.Error as exc:
            raise StorageError(summarize(exc, limit=None)) from exc
        finally:
            with suppress(duckdb.Error):
                self._con.unregister("_triage_append")
        return len(frame)

    def append_arrow(self, table: str, data: Any) -> int:
        """Insert a ``pyarrow.Table`` by column name in one statement (no pandas object columns on the way)."""
        if data.num_rows == 0:
            return 0
        with self.registered("_triage_append_arrow", data):
            self.execute(
                f'INSERT INTO "{table}" ({_column_list(data.column_names)}) '
                f"SELECT {_column_list(data.column_names)} FROM _triage_append_arrow"
            )
        return data.num_rows

    @contextmanager
    def registered(self, name: str, data: Any) -> Iterator[None]:
        """Make a DataFrame or ``pyarrow.Table`` visible to SQL as the view ``name`` for the block's duration."""
        self._con.register(name, data)
        try:
            yield
        finally:
            # after a failed statement the transaction is aborted and unregister fails; closing cleans up
            with suppress(duckdb.Error):
                self._con.unregister(name)

    def table_exists(self, table: str) -> bool:
        return bool(
            self.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
        )


class Database:
    """A DuckDB file opened per unit of work, with shared/exclusive locking across processes.

    Every migration a process applies is remembered per file; when the file is replaced underneath it (a
    restore swaps in another file: another inode), the next session applies them again first, so a
    snapshot taken before some component first created its tables cannot leave that component broken
    until a restart.
    """

    _schemas: ClassVar[dict[Path, dict[tuple[str, int], Migration]]] = {}
    _schema_inode: ClassVar[dict[Path, int]] = {}
    _schema_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = 120.0,
        threads: int = 2,
        keep_engine: bool = False,
        row_group_size: int | None = None,
    ) -> None:
        """``keep_engine``: keep one in-memory DuckDB instance for this object's sessions and attach the file
        to it per session, instead of opening a new instance per session (see the module docstring). The
        sessions of such an object run one at a time (a lock in this process), like DuckDB's own use of it
        from one connection; the file is open only during a session either way.

        ``row_group_size`` (with ``keep_engine``; a multiple of 2,048): the most rows DuckDB puts in one row
        group of what this object's write sessions append (DuckDB's default: 122,880). It is not stored in
        the file: other writers append with their own."""
        if row_group_size is not None and (not keep_engine or row_group_size <= 0 or row_group_size % 2048):
            raise ValueError("row_group_size needs keep_engine and a positive multiple of 2048")
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout
        self.threads = threads
        self.keep_engine = keep_engine
        self.row_group_size = row_group_size
        self._engine: duckdb.DuckDBPyConnection | None = None
        self._engine_lock = threading.Lock()

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        """Let go of the kept engine, if any (the file itself is open only during sessions anyway)."""
        with self._engine_lock:
            engine, self._engine = self._engine, None
            if engine is not None:
                with suppress(duckdb.Error):
                    engine.close()

    @contextmanager
    def write(self, *, after_close: Callable[[], None] | None = None) -> Iterator[Session]:
        """An exclusive read-write session in one transaction: committed on success, rolled back on error.

        ``after_close`` runs after a successful commit, once DuckDB has closed (and checkpointed) the file,
        while the exclusive lock is still held: recovery uses it to note the file's state after a journaled
        write, knowing no other writer can have touched it in between.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._one_session(), self._flock(fcntl.LOCK_EX):
            con = self._open(read_only=False)
            try:
                self._reapply_if_replaced(con)
                con.execute("BEGIN TRANSACTION")
                yield Session(con, read_only=False)
                con.execute("COMMIT")
            except BaseException:
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            finally:
                self._close(con)
            if after_close is not None:
                after_close()

    @contextmanager
    def locked(self, *, exclusive: bool = False) -> Iterator[None]:
        """Hold the cross-process lock without opening DuckDB.

        Shared: no writer is mid-transaction while held (a consistent copy of the file). Exclusive: nobody
        has the file open (swapping it during a restore). Inside an exclusive hold, do not call ``read`` or
        ``write`` of the same store: they wait for the lock this holds.

        Like sessions, this waits in the kernel (see ``_flock``), so a busy writer that re-locks within a
        millisecond cannot starve it.
        """
        with self._flock(fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH):
            yield

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A shared read-only session. The file must exist (call ``migrate`` first)."""
        if not self.path.exists():
            raise StorageError(f"store not found: {self.path} (ingest something first)")
        if self._replaced():
            with self.write():  # a read-only session cannot create tables: bring the schema back first
                pass
        with self._one_session(), self._flock(fcntl.LOCK_SH):
            con = self._open(read_only=True)
            try:
                yield Session(con, read_only=True)
            finally:
                self._close(con)

    def migrate(self, migrations: Sequence[Migration]) -> list[Migration]:
        """Apply the migrations not yet recorded; returns those applied. Safe to call on every start."""
        with self.write() as session:
            applied = _apply(session, migrations)
        with self._schema_lock:  # remembered for a file that replaces this one (see the class docstring)
            self._schemas.setdefault(self._key, {}).update({(m.component, m.version): m for m in migrations})
        return applied

    @property
    def _key(self) -> Path:
        return self.path.absolute()

    def inode(self) -> int | None:
        """Which file is at the path now (a restore swaps in another one); None when there is none."""
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _replaced(self) -> bool:
        """True when this process migrated the file and the file at the path is another one now."""
        key = self._key
        seen = self._schema_inode.get(key)
        return seen is not None and bool(self._schemas.get(key)) and self.inode() != seen

    def _reapply_if_replaced(self, con: duckdb.DuckDBPyConnection) -> None:
        """Inside a write session's lock: re-apply this process's migrations to a file that replaced the one
        they were applied to (and note the file they now hold for)."""
        key, inode = self._key, self.inode()
        if inode is None or self._schema_inode.get(key) == inode:
            return
        with self._schema_lock:
            migrations = list(self._schemas.get(key, {}).values())
        if migrations:
            con.execute("BEGIN TRANSACTION")
            try:
                _apply(Session(con, read_only=False), migrations)
                con.execute("COMMIT")
            except BaseException:
                with suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
        self._schema_inode[key] = inode

    @contextmanager
    def _one_session(self) -> Iterator[None]:
        """With a kept engine, one session at a time (the engine attaches the file under one name)."""
        if not self.keep_engine:
            yield
            return
        with self._engine_lock:
            yield

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A connection to the file for one session (lock held): a new instance, or the kept engine with
        the file attached (and made the default catalog, so statements name tables as usual)."""
        if not self.keep_engine:
            return self._connect(read_only=read_only)
        if self._engine is None:
            # Every session of a kept engine ends in a checkpoint (the DETACH). A zero threshold moves that
            # checkpoint into the COMMIT, which then skips writing the transaction to the WAL first (still all
            # or nothing: a checkpoint publishes its blocks last): ≈ 15% less CPU per ingest commit.
            self._engine = duckdb.connect(
                ":memory:", config={"threads": self.threads, "checkpoint_threshold": "0b"}
            )
        con = self._engine.cursor()
        path = str(self.path).replace("'", "''")
        if read_only:
            options = " (READ_ONLY)"
        else:
            options = f" (ROW_GROUP_SIZE {self.row_group_size})" if self.row_group_size else ""
        deadline = time.monotonic() + _TEARDOWN_WAIT
        collected = False
        while True:
            try:
                con.execute(f"ATTACH '{path}' AS {_ALIAS}{options}")
                con.execute(f"USE {_ALIAS}")
                return con
            except duckdb.Error as exc:
                # As in _connect: another instance of the file in this process (a plain session's, in
                # teardown or held by garbage) refuses the attach for a moment after its session ended.
                if "Unique file handle conflict" not in str(exc) or time.monotonic() >= deadline:
                    self._close(con)
                    raise StorageError(f"cannot open {self.path}: {exc}".splitlines()[0]) from exc
                if not collected:
                    gc.collect()
                    collected = True
                time.sleep(0.005)

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        """End a session's connection: close it, or detach the file from the kept engine (which checkpoints
        and closes the file as closing an instance does). If detaching fails, the engine itself is closed,
        which closes the file all the same; the next session makes a new one."""
        if not self.keep_engine:
            con.close()
            return
        try:
            con.execute("USE memory")
            with suppress(duckdb.BinderException):  # not attached (ATTACH failed)
                con.execute(f"DETACH {_ALIAS}")
            con.close()
        except BaseException:
            engine, self._engine = self._engine, None
            if engine is not None:
                with suppress(duckdb.Error):
                    engine.close()
            raise

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the file (lock held). DuckDB refuses a read-only and a read-write instance of one file in one
        process at once; the lock rules out two sessions overlapping, but the previous session's instance
        can outlive its close for a moment (in teardown, or held by garbage not yet collected: the server
        collects rarely), so that refusal is retried briefly, after one collection."""
        deadline = time.monotonic() + _TEARDOWN_WAIT
        collected = False
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config={"threads": self.threads})
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc) or time.monotonic() >= deadline:
                    raise StorageError(f"cannot open {self.path}: {exc}".splitlines()[0]) from exc
                if not collected:
                    gc.collect()
                    collected = True
                time.sleep(0.005)
            except duckdb.Error as exc:
                raise StorageError(f"cannot open {self.path}: {exc}".splitlines()[0]) from exc

    @contextmanager
    def _flock(self, mode: int) -> Iterator[None]:
        """Take the store lock (shared or exclusive) within ``lock_timeout``.

        A busy lock is waited for in the kernel (a blocking flock on a helper thread), never by polling:
        the kernel wakes the waiter the moment the lock is released, so a writer that commits batch after
        batch cannot starve readers the way a poll-and-sleep loop lets it (it re-locks between two polls).
        """
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        fd = _acquire_flock(self.lock_path, mode, deadline, self.lock_timeout, f"store {self.path} is busy")
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock


def _acquire_flock(path: Path, mode: int, deadline: float, timeout: float, busy: str) -> int:
    """A descriptor of ``path`` holding ``mode``: at once if free, else by a kernel wait until ``deadline``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Conflict(f"{busy} (lock not acquired in {timeout:.0f} s)")
    try:
        return _blocking_flock(path, mode, remaining, busy)
    except Conflict:
        raise Conflict(f"{busy} (lock not acquired in {timeout:.0f} s)") from None


def _blocking_flock(path: Path, mode: int, timeout: float, busy: str) -> int:
    """A flock taken by a blocking call on a helper thread; returns the locked descriptor.

    A thread blocked in flock cannot be cancelled, so on timeout it is abandoned: when it finally gets the
    lock it lets go at once instead of handing it over.
    """
    import threading

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    done = threading.Event()
    state = {"abandoned": False, "error": None}
    guard = threading.Lock()

    def wait() -> None:
        try:
            fcntl.flock(fd, mode)
        except OSError as exc:  # pragma: no cover - flock on a local file does not fail
            state["error"] = exc
        with guard:
            if state["abandoned"]:
                os.close(fd)
            done.set()

    threading.Thread(target=wait, daemon=True, name="flock-wait").start()
    if not done.wait(timeout):
        with guard:
            if not done.is_set():
                state["abandoned"] = True
                raise Conflict(f"{busy} (lock not acquired in {timeout:.0f} s)")
    if state["error"] is not None:  # pragma: no cover
        os.close(fd)
        raise state["error"]
    return fd


def _apply(session: Session, migrations: Sequence[Migration]) -> list[Migration]:
    """Run the migrations the file has not recorded, in (component, version) order; returns them."""
    session.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component VARCHAR NOT NULL, version INTEGER NOT NULL, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
    )
    done = set(session.execute("SELECT component, version FROM schema_migrations"))
    applied: list[Migration] = []
    for migration in sorted(migrations, key=lambda m: (m.component, m.version)):
        if (migration.component, migration.version) in done:
            continue
        for statement in _split_sql(migration.sql):
            session.execute(statement)
        session.execute(
            "INSERT INTO schema_migrations (component, version, name) VALUES (?, ?, ?)",
            [migration.component, migration.version, migration.name],
        )
        applied.append(migration)
    return applied


def load_migrations(component: str, folder: Path) -> list[Migration]:
    """Migrations from ``NNN_name.sql`` files in a package folder."""
    found = []
    for file in sorted(folder.glob("[0-9][0-9][0-9]_*.sql")):
        version = int(file.name[:3])
        found.append(Migration(component, version, file.stem[4:], file.read_text(encoding="utf-8")))
    return found


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _split_sql(script: str) -> list[str]:
    """Statements of a migration script (no semicolons inside string literals in our migrations)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]

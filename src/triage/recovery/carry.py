"""What a store restore keeps: governance records are carried forward, only data is rewound.

The DuckDB store holds *data* (events, templates, features, diagnoses, incidents, …) and *governance
records*: the hash-chained audit trail, change requests with their approvals, alerts and their deliveries,
API keys. A restore or point-in-time rollback swaps in an older file; without care, every record of what
people did after the snapshot would vanish with it (and the shorter audit chain would still verify). So,
inside the exclusive-lock window that already holds the swap, the current contents of the tables declared
in :data:`CARRIED_FORWARD` are copied from the live file into the restored one before it goes live:

* append-only tables (the audit log): the live rows are a superset of the snapshot's. That is checked
  (a live trail that does not contain the snapshot's means the live store is not a descendant of the
  snapshot, and the restore is refused rather than erase either trail);
* mutable tables (changes, alerts, keys, the chain head): the live rows are the latest state.

Each carried table is recreated with the live file's definition (so a snapshot from before a domain's
migration gets the table, and one from an older schema gets the new columns), and the owning component's
``schema_migrations`` rows follow it, so a later ``migrate`` does not re-run what the copy already has.
A component's tables are judged together. A table the live file lacks keeps the snapshot's contents, and so do a
component's tables when the live file holds none of their rows while the snapshot does (a store re-created
from nothing has no records to carry); each with a note in the restore report. When the live file is
missing there is nothing to carry; when it is unreadable, the restore goes ahead with the snapshot's
records and the old file is kept aside for forensics (the executor does that).

Recovery records (snapshots taken, restores, rollbacks, recovery approvals and steps) are audit entries,
so they ride with the audit log. Journal entries of ``KEEP_KINDS`` (:mod:`.records`: audit events written
through the journal) that the live store never applied (a crash between append and apply) are applied
after the carried chain, so nothing is appended twice and nothing is lost.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from triage.errors import Conflict
from triage.recovery.errors import RestoreRefused
from triage.storage.database import Database, Session, StorageError


@dataclass(frozen=True, slots=True)
class CarriedTable:
    """One governance table a store restore copies from the live file into the restored one."""

    name: str
    #: The migration component that creates it (``schema_migrations.component``).
    component: str
    #: ``append-only``: live ⊇ snapshot is checked; ``mutable``: live is the latest state.
    kind: Literal["append-only", "mutable"]
    what: str


#: The governance tables, read from each domain's ``sql/`` migrations. A component is carried whole (its
#: ``schema_migrations`` rows follow its tables), so declare every table of a component or none:
#: ``tests/recovery/test_carry.py`` checks the list against what the migrations create. Everything else is
#: data and is rewound: events, templates, quarantine, miner state, incidents and their timeline, diagnoses
#: and feedback, knowledge, status samples, updates and maintenance windows (these reference incidents and
#: diagnoses that the rewind removes), the journal position.
CARRIED_FORWARD: tuple[CarriedTable, ...] = (
    CarriedTable(
        "audit_log", "audit", "append-only", "the hash-chained audit trail (incl. recovery records)"
    ),
    CarriedTable("audit_head", "audit", "mutable", "the audit chain's head, moved with every append"),
    CarriedTable("changes", "changes", "mutable", "change requests, their approvals, milestones, history"),
    CarriedTable("alerts", "alerting", "mutable", "alerts: state, acknowledgements, escalation"),
    CarriedTable("alert_deliveries", "alerting", "mutable", "the alert delivery outbox and its outcomes"),
    CarriedTable("api_keys", "access", "mutable", "API keys and their revocations"),
)


class LiveStoreUnreadable(StorageError):
    """The live store file cannot be opened (damaged, not a DuckDB file): nothing can be carried from it."""


@dataclass(frozen=True, slots=True)
class CarryReport:
    """What was carried: rows per table copied from the live file, and notes for what was not."""

    carried: dict[str, int] = field(default_factory=dict)
    kept_from_snapshot: tuple[str, ...] = ()
    live_positions: dict[str, int] = field(default_factory=dict)
    live_unreadable: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """The live file was read (its governance tables, where it has them, are now in the restored one)."""
        return self.live_unreadable is None


def carry_forward(
    session: Session,
    live_path: Path,
    tables: Sequence[CarriedTable] = CARRIED_FORWARD,
    *,
    prefix_rows: Mapping[str, int] | None = None,
) -> CarryReport:
    """Copy ``tables`` from the live store file into the store ``session`` writes (the restored one).

    Runs inside the caller's write transaction on the restored file while the caller holds the live
    store's exclusive lock (nobody has the live file open, so it is attached read-only here, not through
    ``Database.read``, whose lock that hold would block). Raises :class:`LiveStoreUnreadable` when the live
    file cannot be attached (the transaction is then aborted: the caller retries without carrying),
    :class:`RestoreRefused` when an append-only table of the restored file holds rows the live one lacks.
    ``prefix_rows`` limits that check to the first rows of each table (the snapshot's own, before a journal
    replay appended re-chained copies of entries the live file holds at other positions).
    """
    with _attached(session, live_path) as live:
        carried: dict[str, int] = {}
        kept: list[str] = []
        notes: list[str] = []
        whole: list[str] = []  # components whose every table now comes from the live file
        for component, group in _by_component(tables):
            live_ddl = {t.name: _table_sql(session, live, t.name) for t in group}
            in_live = {name: ddl for name, ddl in live_ddl.items() if ddl is not None}
            in_snapshot = [t.name for t in group if _table_sql(session, None, t.name) is not None]
            live_empty = all(_rows(session, live, name) == 0 for name in in_live)
            if in_snapshot and live_empty and any(_rows(session, None, name) for name in in_snapshot):
                # a live store re-created from nothing holds no records to carry; keep the snapshot's
                kept.extend(in_snapshot)
                notes.append(f"the live store holds no {component} records ({', '.join(in_snapshot)}): "
                             "the snapshot's are kept")  # fmt: skip
                continue
            for table in group:
                ddl = in_live.get(table.name)
                if ddl is None:
                    if table.name in in_snapshot:
                        kept.append(table.name)
                        notes.append(f"the live store has no {table.name}: the snapshot's is kept")
                    continue
                if table.kind == "append-only":
                    first = None if prefix_rows is None else prefix_rows.get(table.name, 0)
                    _check_superset(session, live, table.name, first)
                session.execute(f'DROP TABLE IF EXISTS main."{table.name}"')
                session.execute(ddl)
                session.execute(
                    f'INSERT INTO main."{table.name}" SELECT * FROM {live}."{table.name}" ORDER BY rowid'
                )
                carried[table.name] = _rows(session, None, table.name)
            if len(in_live) == len(group):
                whole.append(component)
        _sync_migrations(session, live, whole)
        positions = _positions(session, live)
    return CarryReport(carried, tuple(kept), positions, None, tuple(notes))


def _by_component(tables: Sequence[CarriedTable]) -> list[tuple[str, list[CarriedTable]]]:
    """The tables grouped by the component that owns them (a component's tables move together)."""
    groups: dict[str, list[CarriedTable]] = {}
    for table in tables:
        groups.setdefault(table.component, []).append(table)
    return list(groups.items())


def _rows(session: Session, database: str | None, table: str) -> int:
    return int(session.scalar(f'SELECT count(*) FROM {database or "main"}."{table}"'))


def carried_row_counts(db: Database, tables: Sequence[CarriedTable] = CARRIED_FORWARD) -> dict[str, int]:
    """Rows of each carried table ``db`` has (none of a table it lacks; {} when the file does not exist)."""
    if not db.exists():
        return {}
    with db.read() as session:
        present = {t for t in (x.name for x in tables) if _table_sql(session, None, t) is not None}
        return {t: int(session.scalar(f'SELECT count(*) FROM main."{t}"')) for t in sorted(present)}


def unreadable(reason: str) -> CarryReport:
    return CarryReport(
        live_unreadable=reason,
        notes=(f"the live store could not be read ({reason}): governance records written after the "
               "snapshot could not be carried forward; the old file is kept aside",),
    )  # fmt: skip


@contextmanager
def _attached(session: Session, path: Path) -> Iterator[str]:
    alias = f"triage_live_{secrets.token_hex(4)}"
    quoted = str(path).replace("'", "''")
    try:
        session.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
    except StorageError as exc:
        if "could not set lock" in str(exc).lower():  # held open outside triage: not a reason to lose records
            raise Conflict(
                f"the live store {path} is held open by another program; close it and retry"
            ) from exc
        raise LiveStoreUnreadable(str(exc)) from exc
    try:
        yield alias
    finally:
        # in an aborted transaction DETACH fails; closing the connection drops the attachment anyway
        with suppress(StorageError):
            session.execute(f"DETACH {alias}")


def _table_sql(session: Session, database: str | None, table: str) -> str | None:
    """The CREATE statement of ``table`` in the attached ``database`` (None: the restored file)."""
    where = "database_name = ?" if database else "database_name = current_database()"
    params = [database, table] if database else [table]
    return session.scalar(
        f"SELECT sql FROM duckdb_tables() WHERE {where} AND schema_name = 'main' AND table_name = ?", params
    )


def _columns(session: Session, database: str | None, table: str) -> list[str]:
    where = "database_name = ?" if database else "database_name = current_database()"
    params = [database, table] if database else [table]
    rows = session.execute(
        f"SELECT column_name FROM duckdb_columns() WHERE {where} AND schema_name = 'main' AND table_name = ? "
        "ORDER BY column_index",
        params,
    )
    return [r[0] for r in rows]


def _check_superset(session: Session, live: str, table: str, first_rows: int | None) -> None:
    """Refuse when the restored file holds rows of an append-only table (its first ``first_rows``, None:
    all) that the live one lacks."""
    if _table_sql(session, None, table) is None or first_rows == 0:
        return
    live_columns = set(_columns(session, live, table))
    common = [c for c in _columns(session, None, table) if c in live_columns]
    if not common:
        return
    cols = ", ".join(f'"{c}"' for c in common)
    limit = "" if first_rows is None else f" LIMIT {int(first_rows)}"
    missing = session.scalar(
        f'SELECT count(*) FROM (SELECT {cols} FROM (SELECT * FROM main."{table}" ORDER BY rowid{limit}) '
        f'EXCEPT ALL SELECT {cols} FROM {live}."{table}")'
    )
    if missing:
        raise RestoreRefused(
            f"the live store's {table} lacks {missing} row(s) the snapshot has: the live store is not a "
            "descendant of this snapshot, and restoring would erase one of the two records. Move the live "
            "store aside (it keeps its records) and restore again, or export both trails first"
        )


def _sync_migrations(session: Session, live: str, components: Sequence[str]) -> None:
    """The restored file's migration records of ``components`` become the live file's (their tables are)."""
    if not components or _table_sql(session, live, "schema_migrations") is None:
        return
    if _table_sql(session, None, "schema_migrations") is None:
        session.execute(_table_sql(session, live, "schema_migrations"))
    marks = ", ".join("?" for _ in components)
    session.execute(f"DELETE FROM main.schema_migrations WHERE component IN ({marks})", list(components))
    session.execute(
        "INSERT INTO main.schema_migrations (component, version, name, applied_at) "
        f"SELECT component, version, name, applied_at FROM {live}.schema_migrations WHERE component IN ({marks})",
        list(components),
    )


def _positions(session: Session, live: str) -> dict[str, int]:
    """The live store's journal positions (what it has applied), per stream."""
    if _table_sql(session, live, "recovery_journal_position") is None:
        return {}
    return {
        str(s): int(q)
        for s, q in session.execute(f"SELECT stream, seq FROM {live}.recovery_journal_position")
    }

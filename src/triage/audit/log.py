"""The audit log: append-only and hash-chained, kept in the DuckDB store.

Each entry's hash is ``sha256(canonical_json(fields + prev_hash))`` where the fields include its position
(``seq``), so editing, deleting, inserting or reordering entries directly in the table breaks the chain at
the first entry touched, and :func:`verify_chain` names it. A one-row ``audit_head`` table, moved in the
same transaction as every append, catches a deleted tail. Someone who can rewrite the whole table can
recompute every hash; against that, an auditor keeps an *anchor* (``triage audit head`` prints
``SEQ:HASH``) outside the store and passes it to ``verify`` later.

Appends read the head and insert inside one ``Database.write()`` transaction, which holds an exclusive
cross-process lock, so appends from several processes keep the chain linear. Domain services that change
state call :func:`append_events` with their own write session, so the state change and its audit entries
commit together or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from triage.audit.schemas import (
    GENESIS_HASH,
    AuditEntry,
    AuditEvent,
    ChainHead,
    VerifyReport,
    canonical_json,
    entry_fields,
    iso,
    utc,
)
from triage.errors import InvalidInput
from triage.storage.database import Database, Session, load_migrations

MIGRATIONS = load_migrations("audit", Path(__file__).parent / "sql")
_EXECUTEMANY_MAX = 20
EXPORT_FORMAT = "triage-audit/1"
EXPORT_COLUMNS = (
    "seq",
    "at",
    "actor",
    "actor_role",
    "action",
    "subject_kind",
    "subject_id",
    "reason",
    "before",
    "after",
    "details",
    "prev_hash",
    "hash",
)

_COLUMNS = (
    "seq, occurred_at, actor, actor_role, action, subject_kind, subject_id, before_json, after_json, reason,"
    " details_json, prev_hash, hash"
)


def compute_hash(seq: int, event: AuditEvent, prev_hash: str) -> str:
    return _digest(entry_fields(seq, event, prev_hash))


def _digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def append_events(session: Session, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    """Chain ``events`` after the current head inside the caller's write session (no commit here)."""
    if session.read_only:
        raise InvalidInput("audit events need a write session")
    head = session.fetchone("SELECT seq, hash FROM audit_head LIMIT 1")
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
    entries: list[AuditEntry] = []
    for event in events:
        seq += 1
        digest = compute_hash(seq, event, prev)
        entries.append(AuditEntry(seq=seq, event=event, prev_hash=prev, hash=digest))
        prev = digest
    if not entries:
        return entries
    rows = [_row_of(entry) for entry in entries]
    if len(rows) <= _EXECUTEMANY_MAX:
        session.executemany(
            f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
    else:  # DuckDB's executemany runs ~1.6k rows/s; a DataFrame goes in one vectorised statement
        import pandas as pd

        frame = pd.DataFrame(rows, columns=[c.strip() for c in _COLUMNS.split(",")])
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[us]")
        session.append_df("audit_log", frame)
    session.execute("DELETE FROM audit_head")
    session.execute("INSERT INTO audit_head (seq, hash) VALUES (?, ?)", [entries[-1].seq, entries[-1].hash])
    return entries


def _row_of(entry: AuditEntry) -> list[Any]:
    e = entry.event
    return [
        entry.seq,
        utc(e.at).replace(tzinfo=None),
        e.actor,
        e.actor_role,
        e.action,
        e.subject_kind,
        e.subject_id,
        None if e.before is None else canonical_json(e.before),
        None if e.after is None else canonical_json(e.after),
        e.reason,
        canonical_json(e.details),
        entry.prev_hash,
        entry.hash,
    ]


class AuditLog:
    """Append, read, verify and export the audit trail of one store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._migrated = False

    def ensure_schema(self) -> None:
        if not self._migrated:
            self.db.migrate(MIGRATIONS)
            self._migrated = True

    def append(self, event: AuditEvent) -> AuditEntry:
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        self.ensure_schema()
        with self.db.write() as session:
            return append_events(session, events)

    def head(self) -> ChainHead | None:
        if not self.db.exists():
            return None
        self.ensure_schema()
        with self.db.read() as session:
            row = session.fetchone("SELECT seq, hash FROM audit_head LIMIT 1")
        return ChainHead(seq=int(row[0]), hash=str(row[1])) if row else None

    def entries(
        self,
        *,
        subject_kind: str | None = None,
        subject_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in chain order, filtered. A row whose JSON no longer parses is left out here;
        :meth:`verify` is the place that reports it."""
        if not self.db.exists():
            return []
        self.ensure_schema()
        where, params = _filters(subject_kind, subject_id, action, actor, since, until)
        sql = f"SELECT {_COLUMNS} FROM audit_log{where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.db.read() as session:
            rows = session.execute(sql, params)
        out = []
        for row in rows:
            entry = _entry_of(row)
            if entry is not None:
                out.append(entry)
        return out

    def verify(self, *, anchors: Iterable[ChainHead] = ()) -> VerifyReport:
        """Check the whole chain as stored; the report names the first bad entry."""
        if not self.db.exists():
            return VerifyReport(ok=True, entries=0)
        self.ensure_schema()
        with self.db.read() as session:
            rows = session.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq, rowid")
            head_row = session.fetchone("SELECT seq, hash FROM audit_head LIMIT 1")
            head_count = session.scalar("SELECT count(*) FROM audit_head")
        head = ChainHead(seq=int(head_row[0]), hash=str(head_row[1])) if head_row else None
        if head_count and head_count > 1:
            return VerifyReport(
                ok=False,
                entries=len(rows),
                first_bad_seq=head.seq if head else None,
                problem="the chain head table holds more than one row",
            )
        return verify_chain(
            (_flat_of_row(row) for row in rows), head=head, anchors=anchors, head_required=True
        )

    def export(self, out: TextIO, *, fmt: Literal["csv", "json"], **filters: Any) -> int:
        """Write entries (with their hashes) for an auditor; returns how many were written."""
        entries = self.entries(**filters)
        write_export(out, entries, fmt=fmt, head=self.head())
        return len(entries)


def write_export(
    out: TextIO, entries: Sequence[AuditEntry], *, fmt: Literal["csv", "json"], head: ChainHead | None
) -> None:
    if fmt == "json":
        doc = {
            "format": EXPORT_FORMAT,
            "head": None if head is None else {"seq": head.seq, "hash": head.hash},
            "entries": [entry.flat() for entry in entries],
        }
        out.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for entry in entries:
            flat = entry.flat()
            for key in ("before", "after", "details"):
                flat[key] = "" if flat[key] is None else canonical_json(flat[key])
            writer.writerow({k: "" if v is None else v for k, v in flat.items()})
    else:
        raise InvalidInput(f"unknown export format {fmt!r}; use csv or json")


def read_export(path: Path) -> tuple[list[dict[str, Any]], ChainHead | None]:
    """Flat rows (and the head, for JSON) from an exported file, for offline verification."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not a triage audit export (not UTF-8 text)") from None
    if not text.strip():
        raise InvalidInput(f"{path}: empty file, not a triage audit export")
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
            raise InvalidInput(f"{path}: not a triage audit export (format {EXPORT_FORMAT})")
        head = doc.get("head")
        return list(doc.get("entries") or []), (ChainHead(**head) if head else None)
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        if set(raw) != set(EXPORT_COLUMNS):
            raise InvalidInput(f"{path}: CSV columns must be {', '.join(EXPORT_COLUMNS)}")
        row: dict[str, Any] = {k: (v if v != "" else None) for k, v in raw.items()}
        for key in ("before", "after", "details"):
            row[key] = _loads_or_marker(row[key])
        rows.append(row)
    return rows, None


class _Malformed:
    """Stands for a JSON column that no longer parses; hashing it can never match."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return f"<malformed {self.text!r}>"


def _loads_or_marker(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return _Malformed(str(text))


def _flat_of_row(row: Sequence[Any]) -> dict[str, Any]:
    (
        seq,
        at,
        actor,
        actor_role,
        action,
        subject_kind,
        subject_id,
        before,
        after,
        reason,
        details,
        prev_hash,
        digest,
    ) = row
    return {
        "seq": seq,
        "at": iso(at) if isinstance(at, datetime) else at,
        "actor": actor,
        "actor_role": actor_role,
        "action": action,
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "reason": reason,
        "before": _loads_or_marker(before),
        "after": _loads_or_marker(after),
        "details": _loads_or_marker(details),
        "prev_hash": prev_hash,
        "hash": digest,
    }


def _entry_of(row: Sequence[Any]) -> AuditEntry | None:
    flat = _flat_of_row(row)
    if any(isinstance(flat[k], _Malformed) for k in ("before", "after", "details")):
        return None
    event = AuditEvent(
        actor=flat["actor"],
        actor_role=flat["actor_role"],
        action=flat["action"],
        subject_kind=flat["subject_kind"],
        subject_id=flat["subject_id"],
        at=utc(row[1]),
        before=flat["before"],
        after=flat["after"],
        reason=flat["reason"],
        details=flat["details"] or {},
    )
    return AuditEntry(seq=int(flat["seq"]), event=event, prev_hash=flat["prev_hash"], hash=flat["hash"])


def verify_chain(
    rows: Iterable[Mapping[str, Any]],
    *,
    head: ChainHead | None = None,
    anchors: Iterable[ChainHead] = (),
    head_required: bool = False,
) -> VerifyReport:
    """Walk flat rows (storage order by seq) and report the first entry that breaks the chain.

    Pure: used on the live store and on exported files alike.
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    count = 0
    seen: dict[int, str] = {}
    for row in rows:
        count += 1
        try:
            seq = int(row["seq"])
        except (TypeError, ValueError, KeyError):
            return _bad(count, expected_seq, f"entry at position {count} has no valid seq")
        if seq < expected_seq:
            return _bad(
                count,
                seq,
                f"entry {seq} appears again after entry {expected_seq - 1} (duplicated or reordered)",
            )
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
            return _bad(
                count, expected_seq, f"entry {missing} is missing (deleted); next stored entry is {seq}"
            )
        if row.get("prev_hash") != prev_hash:
            return _bad(
                count,
                seq,
                f"entry {seq} does not follow entry {seq - 1}: its prev_hash does not "
                "match (an entry was inserted, deleted, reordered or rewritten)",
            )
        fields = {k: row.get(k) for k in EXPORT_COLUMNS if k != "hash"}
        fields["seq"] = seq
        if _digest(fields) != row.get("hash"):
            return _bad(count, seq, f"entry {seq} was modified: its content does not match its hash")
        seen[seq] = str(row["hash"])
        prev_hash = str(row["hash"])
        expected_seq += 1
    last = ChainHead(seq=expected_seq - 1, hash=prev_hash) if count else None
    if head is not None:
        if last is None or head.seq > last.seq:
            after = 0 if last is None else last.seq
            return _bad(
                count,
                after + 1,
                f"entries {after + 1}–{head.seq} are missing (deleted tail); "
                f"the head points at entry {head.seq}",
            )
        if head.seq < last.seq:
            return _bad(
                count,
                head.seq + 1,
                f"entry {head.seq + 1} was added outside the audit log (the head points at entry {head.seq})",
            )
        if head.hash != last.hash:
            return _bad(count, last.seq, f"entry {last.seq} does not match the chain head")
    elif head_required and last is not None:
        return _bad(count, last.seq, "the chain head is missing (the head row was deleted)")
    for anchor in anchors:
        if anchor.seq not in seen:
            return _bad(count, anchor.seq, f"anchored entry {anchor.seq} is no longer in the chain")
        if seen[anchor.seq] != anchor.hash:
            return _bad(
                count,
                anchor.seq,
                f"entry {anchor.seq} differs from the anchor taken earlier (history was rewritten)",
            )
    return VerifyReport(ok=True, entries=count, head=last)


def _bad(count: int, seq: int, problem: str) -> VerifyReport:
    return VerifyReport(ok=False, entries=count, first_bad_seq=seq, problem=problem)


def _filters(
    subject_kind: str | None,
    subject_id: str | None,
    action: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("subject_kind", subject_kind), ("subject_id", subject_id), ("actor", actor)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if action is not None:
        if action.endswith("*"):
            clauses.append("action LIKE ?")
            params.append(action[:-1] + "%")
        else:
            clauses.append("action = ?")
            params.append(action)
    if since is not None:
        clauses.append("occurred_at >= ?")
        params.append(utc(since).replace(tzinfo=None))
    if until is not None:
        clauses.append("occurred_at < ?")
        params.append(utc(until).replace(tzinfo=None))
    return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), params

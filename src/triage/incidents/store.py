"""Incidents, their timeline, diagnoses and feedback in the DuckDB store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from triage.diagnosis.schemas import RootCause, Severity
from triage.errors import Conflict, InvalidInput, NotFound
from triage.incidents.grouping import OpenIncident
from triage.incidents.schemas import (
    FeedbackRequest,
    Incident,
    IncidentDetail,
    IncidentStatus,
    Resolution,
    ResolveRequest,
    TimelineEntry,
)
from triage.storage.database import Database, Session, load_migrations

MIGRATIONS = load_migrations("incidents", Path(__file__).parent / "sql")

_INCIDENT_COLUMNS = (
    "incident_id, title, status, severity, category, services, root_service, root_issue, root_confidence,"
    " error_count, first_seen, last_seen, resolved_at, resolved_by, resolution"
)


@dataclass(frozen=True, slots=True)
class DiagnosisRow:
    """A diagnosis as the store keeps it (the API writer batches these)."""

    error_id: str
    incident_id: str | None
    detected_at: datetime
    event_ts: datetime
    service: str
    level: str | None
    severity: str
    category: str
    template_id: str | None
    content: str
    body: str
    journal_seq: int | None = None


@dataclass(frozen=True, slots=True)
class IncidentState:
    """The live part of an incident that error traffic updates (never its status or resolution)."""

    incident_id: str
    title: str
    severity: str
    category: str
    services: tuple[str, ...]
    root_cause: RootCause | None
    error_count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class TimelineRow:
    incident_id: str
    at: datetime
    kind: str
    summary: str
    actor: str | None = None
    details: dict[str, Any] | None = None


#: A journal payload's diagnosis as Arrow columns (times as the ISO 8601 text the payload holds).
_PAYLOAD_SCHEMA = pa.schema([(name, pa.int64() if name == "journal_seq" else pa.string())
                             for name in DiagnosisRow.__slots__])
#: DiagnosisRow's columns from a batch table, its times cast whether they are timestamps or ISO 8601 text.
_DIAGNOSIS_SELECT = ", ".join(f"CAST({name} AS TIMESTAMPTZ)" if name in ("detected_at", "event_ts") else name
                              for name in DiagnosisRow.__slots__)


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(MIGRATIONS)

    # --- writes from the scorer ------------------------------------------------------------------
    def write_batch(
        self,
        *,
        diagnoses: Sequence[DiagnosisRow] | pa.Table = (),
        incidents: Sequence[IncidentState] = (),
        timeline: Sequence[TimelineRow] = (),
        session: Session | None = None,
    ) -> None:
        """Persist a batch in one transaction (or inside the caller's ``session``). ``diagnoses``: rows, or a
        table of DiagnosisRow's columns whose times may be ISO 8601 text (see ``apply_diagnosis_entries``)."""
        if session is None:
            with self.db.write() as own:
                self._write(own, diagnoses, incidents, timeline)
        else:
            self._write(session, diagnoses, incidents, timeline)

    def _write(self, s: Session, diagnoses, incidents, timeline) -> None:
        now = datetime.now(UTC)
        if len(diagnoses):
            # Arrow, column by column: DuckDB scans it without the GIL (a pandas frame of strings is scanned
            # holding it, which stalls the scorer's event loop for the whole insert), and a frame from row
            # dicts costs several times more.
            frame = diagnoses if isinstance(diagnoses, pa.Table) else pa.table(
                {k: [getattr(d, k) for d in diagnoses] for k in DiagnosisRow.__slots__})
            with s.registered("_diagnosis_batch", frame):  # idempotent: a journal replay may resend rows
                s.execute(
                    f"INSERT INTO diagnoses ({', '.join(DiagnosisRow.__slots__)}) SELECT {_DIAGNOSIS_SELECT}"
                    " FROM _diagnosis_batch ON CONFLICT (error_id) DO NOTHING"
                )
        if incidents:
            frame = pa.table(
                {
                    "incident_id": [i.incident_id for i in incidents],
                    "title": [i.title for i in incidents],
                    "status": [IncidentStatus.INVESTIGATING.value] * len(incidents),
                    "severity": [i.severity for i in incidents],
                    "category": [i.category for i in incidents],
                    "services": [list(i.services) for i in incidents],
                    "root_service": [i.root_cause.service if i.root_cause else None for i in incidents],
                    "root_issue": [i.root_cause.issue if i.root_cause else None for i in incidents],
                    "root_confidence": [i.root_cause.confidence if i.root_cause else None for i in incidents],
                    "error_count": [i.error_count for i in incidents],
                    "first_seen": [i.first_seen for i in incidents],
                    "last_seen": [i.last_seen for i in incidents],
                    "updated_at": [now] * len(incidents),
                }
            )
            with s.registered("_incident_batch", frame):
                s.execute(
                    "INSERT INTO incidents (incident_id, title, status, severity, category, services, root_service,"
                    " root_issue, root_confidence, error_count, first_seen, last_seen, updated_at)"
                    " SELECT incident_id, title, status, severity, category, services::VARCHAR[], root_service,"
                    " root_issue, root_confidence, error_count, first_seen, last_seen, updated_at FROM _incident_batch"
                    " ON CONFLICT (incident_id) DO UPDATE SET title = excluded.title, severity = excluded.severity,"
                    " category = excluded.category, services = excluded.services,"
                    " root_service = excluded.root_service, root_issue = excluded.root_issue,"
                    " root_confidence = excluded.root_confidence, error_count = excluded.error_count,"
                    " first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
                    " updated_at = excluded.updated_at"
                )
        if timeline:
            frame = pa.table(
                {
                    "incident_id": [t.incident_id for t in timeline],
                    "occurred_at": [t.at for t in timeline],
                    "kind": [t.kind for t in timeline],
                    "actor": [t.actor for t in timeline],
                    "summary": [t.summary for t in timeline],
                    "details": [json.dumps(t.details or {}, default=str) for t in timeline],
                }
            )
            s.append_arrow("incident_timeline", frame)

    # --- reads for analysts ----------------------------------------------------------------------
    def list(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        severity: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Incident]:
        where, params = ["1=1"], []
        if status == "open":
            where.append("status <> 'resolved'")
        elif status:
            where.append("status = ?")
            params.append(status)
        if service:
            where.append("list_contains(services, ?)")
            params.append(service)
        if severity:
            where.append("severity = ?")
            params.append(severity.upper())
        if category:
            where.append("category = ?")
            params.append(category.upper())
        if since:
            where.append("last_seen >= ?")
            params.append(since)
        if until:
            where.append("first_seen <= ?")
            params.append(until)
        if text:
            where.append("(title ILIKE ? OR root_issue ILIKE ? OR CAST(resolution AS VARCHAR) ILIKE ?)")
            params += [f"%{text}%"] * 3
        sql = (
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE {' AND '.join(where)}"
            " ORDER BY last_seen DESC LIMIT ? OFFSET ?"
        )
        with self.db.read() as s:
            rows = s.execute(sql, [*params, limit, offset])
        return [_incident(r) for r in rows]

    def get(self, incident_id: str) -> IncidentDetail:
        with self.db.read() as s:
            row = s.fetchone(f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE incident_id = ?", [incident_id])
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            timeline = s.execute(
                "SELECT occurred_at, kind, actor, summary, details FROM incident_timeline WHERE incident_id = ?"
                " ORDER BY occurred_at",
                [incident_id],
            )
            diagnoses = s.execute(
                "SELECT body FROM diagnoses WHERE incident_id = ? ORDER BY detected_at LIMIT 500", [incident_id]
            )
        incident = _incident(row)
        return IncidentDetail(
            **incident.model_dump(),
            timeline=[
                TimelineEntry(at=t[0], kind=t[1], actor=t[2], summary=t[3], details=json.loads(t[4] or "{}"))
                for t in timeline
            ],
            diagnoses=[json.loads(d[0]) for d in diagnoses],
        )

    def open_incidents(self) -> list[OpenIncident]:
        """Unresolved incidents, to rebuild the grouper after a restart."""
        with self.db.read() as s:
            rows = s.execute(
                "SELECT incident_id, first_seen, last_seen, services, severity, error_count, category"
                " FROM incidents WHERE status <> 'resolved'"
            )
        return [
            OpenIncident(r[0], r[1], r[2], set(r[3]), Severity(r[4]), error_count=r[5], category_counts={r[6]: r[5]})
            for r in rows
        ]

    def diagnosis(self, error_id: str) -> dict[str, Any]:
        with self.db.read() as s:
            row = s.fetchone("SELECT body FROM diagnoses WHERE error_id = ?", [error_id])
        if row is None:
            raise NotFound(f"no diagnosis {error_id}")
        return json.loads(row[0])

    # --- analyst actions -------------------------------------------------------------------------
    def set_status(self, incident_id: str, status: IncidentStatus, *, actor: str, note: str, now: datetime) -> None:
        if status is IncidentStatus.RESOLVED:
            raise InvalidInput("use resolve to close an incident")
        with self.db.write() as s:
            current = s.scalar("SELECT status FROM incidents WHERE incident_id = ?", [incident_id])
            if current is None:
                raise NotFound(f"no incident {incident_id}")
            if current == IncidentStatus.RESOLVED.value:
                raise Conflict(f"incident {incident_id} is resolved")
            s.execute("UPDATE incidents SET status = ?, updated_at = ? WHERE incident_id = ?", [status.value, now, incident_id])
            self._write(s, [], [], [TimelineRow(incident_id, now, "status", f"{status.value}: {note}", actor)])

    def resolve(self, incident_id: str, request: ResolveRequest, *, actor: str, now: datetime) -> Incident:
        resolution = Resolution(
            fix_id=request.fix_id, action=request.action,
            suggested_fix_worked=request.suggested_fix_worked, notes=request.notes,
        )
        with self.db.write() as s:
            row = s.fetchone("SELECT status FROM incidents WHERE incident_id = ?", [incident_id])
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            if row[0] == IncidentStatus.RESOLVED.value:
                raise Conflict(f"incident {incident_id} is already resolved")
            s.execute(
                "UPDATE incidents SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ?,"
                " updated_at = ? WHERE incident_id = ?",
                [now, actor, resolution.model_dump_json(), now, incident_id],
            )
            what = request.fix_id or request.action or "unspecified fix"
            self._write(
                s, [], [],
                [TimelineRow(incident_id, now, "resolution", f"resolved with {what}", actor, resolution.model_dump())],
            )
            final = s.fetchone(f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE incident_id = ?", [incident_id])
        return _incident(final)

    def add_feedback(self, error_id: str, request: FeedbackRequest, *, actor: str, now: datetime) -> str | None:
        """Record feedback; returns the diagnosis' incident id (if any)."""
        with self.db.write() as s:
            row = s.fetchone("SELECT incident_id FROM diagnoses WHERE error_id = ?", [error_id])
            if row is None:
                raise NotFound(f"no diagnosis {error_id}")
            s.execute(
                "INSERT INTO diagnosis_feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    error_id, now, actor, request.category_correct,
                    request.correct_category.upper() if request.correct_category else None,
                    request.severity_correct,
                    request.correct_severity.value if request.correct_severity else None,
                    request.root_cause_correct, request.correct_root_service, request.notes,
                ],
            )
            if row[0]:
                self._write(s, [], [], [TimelineRow(row[0], now, "feedback", f"feedback on {error_id}", actor,
                                                    request.model_dump(exclude_none=True))])
        return row[0]

    def labelled_feedback(self) -> pd.DataFrame:
        """Diagnoses with an analyst's verdict, as training rows: content, template, service, level, labels.

        The label is the corrected value when given, else the diagnosed value confirmed as correct.
        """
        with self.db.read() as s:
            return s.df(
                "SELECT d.error_id, d.event_ts AS ts, d.service, d.level, d.template_id, d.content,"
                " CASE WHEN f.correct_category IS NOT NULL THEN f.correct_category"
                "      WHEN f.category_correct THEN d.category END AS category,"
                " CASE WHEN f.correct_severity IS NOT NULL THEN f.correct_severity"
                "      WHEN f.severity_correct THEN d.severity END AS severity,"
                " f.occurred_at AS feedback_at, f.actor"
                " FROM diagnosis_feedback f JOIN diagnoses d USING (error_id)"
                " QUALIFY row_number() OVER (PARTITION BY f.error_id ORDER BY f.occurred_at DESC) = 1"
            )

    def diagnosed_seq_high_water(self) -> int:
        """The highest journal sequence number whose diagnosis is stored (for replay after a crash)."""
        with self.db.read() as s:
            value = s.scalar("SELECT max(journal_seq) FROM diagnoses")
        return int(value) if value is not None else 0


# --- the journal form of a diagnosis: written (fsync'd) before the API answers, applied by the writer ---
JOURNAL_KIND = "diagnosis"


def diagnosis_payload(
    diagnosis: DiagnosisRow, incident: IncidentState | None, timeline: Sequence[TimelineRow]
) -> dict[str, Any]:
    """A JSON-able journal payload holding everything one diagnosis writes to the store (on the request
    path: written out field by field, which is several times faster than a generic conversion)."""
    d = diagnosis
    payload: dict[str, Any] = {"diagnosis": {
        "error_id": d.error_id, "incident_id": d.incident_id, "detected_at": d.detected_at.isoformat(),
        "event_ts": d.event_ts.isoformat(), "service": d.service, "level": d.level, "severity": d.severity,
        "category": d.category, "template_id": d.template_id, "content": d.content, "body": d.body,
        "journal_seq": d.journal_seq,
    }}
    if incident is not None:
        i = incident
        root = i.root_cause
        payload["incident"] = {
            "incident_id": i.incident_id, "title": i.title, "severity": i.severity, "category": i.category,
            "services": list(i.services), "error_count": i.error_count,
            "first_seen": i.first_seen.isoformat(), "last_seen": i.last_seen.isoformat(),
            "root_cause": {"service": root.service, "issue": root.issue, "confidence": root.confidence}
            if root else None,
        }
    if timeline:
        payload["timeline"] = [
            {"incident_id": t.incident_id, "at": t.at.isoformat(), "kind": t.kind, "summary": t.summary,
             "actor": t.actor, "details": t.details}
            for t in timeline
        ]
    return payload


def apply_diagnosis_entries(store: IncidentStore, session: Session, entries: Sequence[Any]) -> None:
    """Write journal entries of kind ``diagnosis`` (objects with ``.seq`` and ``.payload``) in ``session``.

    Used by the live writer and by replay after a crash: diagnoses are idempotent by error id, an
    incident's state is its latest in the batch, timeline rows are appended.
    """
    latest, timeline = {}, []
    # The payloads' diagnoses become one Arrow table in C (their ISO times are cast by DuckDB): on the scorer
    # this runs beside the event loop, and Python work per row here is GIL time taken from the requests.
    diagnoses = pa.Table.from_pylist([entry.payload["diagnosis"] for entry in entries], schema=_PAYLOAD_SCHEMA)
    diagnoses = diagnoses.set_column(diagnoses.schema.get_field_index("journal_seq"), "journal_seq",
                                     pa.array([entry.seq for entry in entries], pa.int64()))
    for entry in entries:
        p = entry.payload
        if p.get("incident"):
            latest[p["incident"]["incident_id"]] = p["incident"]  # only the latest state is written
        for t in p.get("timeline", ()):
            timeline.append(TimelineRow(**{**t, "at": datetime.fromisoformat(t["at"])}))
    incidents = []
    for raw in latest.values():  # an incident's state is converted once per batch, not once per diagnosis
        i = dict(raw)
        i["root_cause"] = RootCause(**i["root_cause"]) if i.get("root_cause") else None
        i["services"] = tuple(i["services"])
        for key in ("first_seen", "last_seen"):
            i[key] = datetime.fromisoformat(i[key])
        incidents.append(IncidentState(**i))
    store.write_batch(diagnoses=diagnoses, incidents=incidents, timeline=timeline, session=session)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _incident(row: tuple) -> Incident:
    root = RootCause(service=row[6], issue=row[7] or "", confidence=row[8] or 0.0) if row[6] else None
    resolution = Resolution(**json.loads(row[14])) if row[14] else None
    return Incident(
        incident_id=row[0], title=row[1], status=IncidentStatus(row[2]), severity=Severity(row[3]),
        category=row[4], services=list(row[5]), root_cause=root, error_count=row[9],
        first_seen=row[10], last_seen=row[11], resolved_at=row[12], resolved_by=row[13], resolution=resolution,
    )

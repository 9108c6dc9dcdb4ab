"""Search past incidents in the store (SQL lives here; the analytics over the results are pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.incidents.store import MIGRATIONS as INCIDENT_MIGRATIONS
from triage.storage.database import Database

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
STATUSES = ("open", "investigating", "identified", "monitoring", "resolved")

#: The columns of a history row, in export order.
COLUMNS = (
    "incident_id", "title", "status", "severity", "category", "services", "root_service", "root_issue",
    "root_confidence", "error_count", "first_seen", "last_seen", "resolved_at", "resolved_by", "fix",
    "minutes_to_resolve",
)


class HistoryFilter(BaseModel):
    """What an analyst filters on; every field optional, all given fields must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = Field(default=None, max_length=128)
    category: str | None = Field(default=None, max_length=64)
    severity: str | None = None
    root_cause: str | None = Field(default=None, max_length=200,
                                   description="root-cause service (exact) or words of the root-cause issue")
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = Field(default=None, max_length=200,
                             description="words in the title, root cause, resolution or error messages")

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.upper() not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        return value.upper()

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value.lower() not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        return value.lower()

    @field_validator("service", "category", "root_cause", "text")
    @classmethod
    def _blank(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["1=1"], []
        if self.service:
            clauses.append("list_contains(i.services, ?)")
            params.append(self.service)
        if self.category:
            clauses.append("i.category = ?")
            params.append(self.category.upper())
        if self.severity:
            clauses.append("i.severity = ?")
            params.append(self.severity)
        if self.root_cause:
            clauses.append("(i.root_service = ? OR i.root_issue ILIKE ? ESCAPE '\\')")
            params += [self.root_cause, f"%{_like(self.root_cause)}%"]
        if self.status == "open":
            clauses.append("i.status <> 'resolved'")
        elif self.status:
            clauses.append("i.status = ?")
            params.append(self.status)
        if self.since:
            clauses.append("i.last_seen >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("i.first_seen <= ?")
            params.append(self.until)
        if self.text:
            pattern = f"%{_like(self.text)}%"
            clauses.append(
                "(i.title ILIKE ? ESCAPE '\\' OR i.root_issue ILIKE ? ESCAPE '\\' OR i.category ILIKE ? ESCAPE '\\'"
                " OR CAST(i.resolution AS VARCHAR) ILIKE ? ESCAPE '\\'"
                " OR array_to_string(i.services, ' ') ILIKE ? ESCAPE '\\'"
                " OR EXISTS (SELECT 1 FROM diagnoses d WHERE d.incident_id = i.incident_id"
                " AND d.content ILIKE ? ESCAPE '\\'))"
            )
            params += [pattern] * 6
        return " AND ".join(clauses), params


def _like(text: str) -> str:
    """Literal text inside an ILIKE pattern whose ESCAPE character is the backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SELECT = (
    "SELECT i.incident_id, i.title, i.status, i.severity, i.category, i.services, i.root_service, i.root_issue,"
    " i.root_confidence, i.error_count, i.first_seen, i.last_seen, i.resolved_at, i.resolved_by,"
    " coalesce(json_extract_string(i.resolution, '$.fixId'), json_extract_string(i.resolution, '$.action')) AS fix,"
    " CASE WHEN i.resolved_at IS NOT NULL"
    "      THEN date_diff('second', i.first_seen, i.resolved_at) / 60.0 END AS minutes_to_resolve"
    " FROM incidents i"
)


class IncidentHistory:
    """Read-only queries over the incident store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(INCIDENT_MIGRATIONS)

    def search(self, where: HistoryFilter, *, limit: int = 100, offset: int = 0) -> tuple[pd.DataFrame, int]:
        """One page of matching incidents (newest first) and the number matching in all."""
        sql, params = where.where()
        with self.db.read() as s:
            total = int(s.scalar(f"SELECT count(*) FROM incidents i WHERE {sql}", params) or 0)
            page = s.df(f"{_SELECT} WHERE {sql} ORDER BY i.first_seen DESC, i.incident_id LIMIT ? OFFSET ?",
                        [*params, int(limit), int(offset)])
        return _typed(page), total

    def frame(self, where: HistoryFilter | None = None, *, limit: int = 100_000) -> pd.DataFrame:
        """All matching incidents (up to ``limit``), newest first: the input of analytics and exports."""
        sql, params = (where or HistoryFilter()).where()
        with self.db.read() as s:
            return _typed(s.df(f"{_SELECT} WHERE {sql} ORDER BY i.first_seen DESC, i.incident_id LIMIT ?",
                               [*params, int(limit)]))

    def lifecycles(self, *, resolved_since: datetime) -> list[dict[str, Any]]:
        """Open incidents and those resolved since ``resolved_since``, each with its status changes
        (status, at) oldest first: what the public status page follows."""
        with self.db.read() as s:
            rows = s.execute(
                "SELECT incident_id, services, severity, status, first_seen, resolved_at FROM incidents"
                " WHERE status <> 'resolved' OR resolved_at >= ? ORDER BY first_seen DESC LIMIT 500",
                [resolved_since],
            )
            ids = [r[0] for r in rows]
            changes = s.execute(
                "SELECT incident_id, kind, summary, occurred_at FROM incident_timeline"
                " WHERE kind IN ('opened', 'status', 'resolution') AND list_contains(?, incident_id)"
                " ORDER BY occurred_at",
                [ids],
            ) if ids else []
        steps: dict[str, list[tuple[str, datetime]]] = {}
        for incident_id, kind, summary, at in changes:
            status = _status_of(kind, summary)
            if status is not None and status != "open":
                steps.setdefault(incident_id, []).append((status, at))
        return [
            {"incident_id": r[0], "services": list(r[1]), "severity": r[2], "status": r[3], "first_seen": r[4],
             "resolved_at": r[5], "history": steps.get(r[0], [])}
            for r in rows
        ]

    def feedback(self, incident_id: str) -> list[dict[str, Any]]:
        """Analysts' verdicts on the incident's diagnoses, oldest first (camelCase keys)."""
        with self.db.read() as s:
            rows = s.execute(
                "SELECT f.error_id, f.occurred_at, f.actor, f.category_correct, f.correct_category,"
                " f.severity_correct, f.correct_severity, f.root_cause_correct, f.correct_root_service, f.notes"
                " FROM diagnosis_feedback f JOIN diagnoses d USING (error_id) WHERE d.incident_id = ?"
                " ORDER BY f.occurred_at",
                [incident_id],
            )
        keys = ("errorId", "at", "actor", "categoryCorrect", "correctCategory", "severityCorrect",
                "correctSeverity", "rootCauseCorrect", "correctRootService", "notes")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def templates(self, incident_id: str, *, limit: int = 10) -> list[dict[str, Any]]:
        """The incident's error templates, most frequent first, with the services that logged them."""
        with self.db.read() as s:
            rows = s.execute(
                "SELECT coalesce(template_id, '?'), any_value(json_extract_string(body, '$.evidence.template')),"
                " count(*) AS n, list(DISTINCT service ORDER BY service), max(detected_at)"
                " FROM diagnoses WHERE incident_id = ? GROUP BY 1 ORDER BY n DESC, 5 DESC LIMIT ?",
                [incident_id, int(limit)],
            )
        return [{"templateId": r[0], "template": r[1], "count": int(r[2]), "services": list(r[3])} for r in rows]

    def similar(self, *, incident_id: str, root_service: str | None, category: str, limit: int = 5) -> pd.DataFrame:
        """Past incidents with the same root-cause service or category, resolved ones first, newest first."""
        with self.db.read() as s:
            return _typed(s.df(
                f"{_SELECT} WHERE i.incident_id <> ? AND (i.root_service = ? OR i.category = ?)"
                " ORDER BY (i.root_service = ?) DESC NULLS LAST, (i.status = 'resolved') DESC, i.first_seen DESC"
                " LIMIT ?",
                [incident_id, root_service, category, root_service, int(limit)],
            ))

    def facets(self) -> dict[str, list[str]]:
        """The values the filters can take, for the history page's pickers."""
        with self.db.read() as s:
            services = [r[0] for r in s.execute("SELECT DISTINCT unnest(services) AS s FROM incidents ORDER BY s")]
            categories = [r[0] for r in s.execute("SELECT DISTINCT category FROM incidents ORDER BY 1")]
            roots = [r[0] for r in s.execute(
                "SELECT DISTINCT root_service FROM incidents WHERE root_service IS NOT NULL ORDER BY 1")]
        return {"services": services, "categories": categories, "severities": list(SEVERITIES),
                "rootServices": roots, "statuses": list(STATUSES)}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Times in UTC, services as lists, whatever DuckDB's session time zone was."""
    frame = frame.reindex(columns=list(COLUMNS))
    for column in ("first_seen", "last_seen", "resolved_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["services"] = [list(v) if v is not None else [] for v in frame["services"]]
    return frame


def _status_of(kind: str, summary: str) -> str | None:
    """The incident status a timeline row records (``opened``, ``status: <s>: note``, ``resolution``)."""
    if kind == "opened":
        return "investigating"
    if kind == "resolution":
        return "resolved"
    head = summary.split(":", 1)[0].strip().lower()
    return head if head in STATUSES else None

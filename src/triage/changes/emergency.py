"""The emergency fast track: what opens it, its deadlines, and which of them are breached. Pure.

Deadlines run from the incident's detection (the diagnosis' ``detectedAt``): declared < 2 min, request
< 3, impact analysis < 5, approval < 10, implementation < 30, validation < 45, post-incident review within
24 h (configurable in ``ChangeConfig.deadlines``). A milestone met late counts as breached too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.audit.schemas import utc
from triage.changes.schemas import ChangeRequest, ChangeType, Milestone
from triage.errors import InvalidInput


class EmergencyTrigger(BaseModel):
    """The incident summary an emergency change is opened from.

    :meth:`from_diagnosis` reads the seed's diagnosis JSON (``errorId``, ``detectedAt``, ``severity``,
    ``category``, ``affectedServices``, ``rootCause{service, issue, confidence}``, ``incidentId``)."""

    model_config = ConfigDict(frozen=True)

    incident_id: str = Field(min_length=1, max_length=200)
    severity: str
    detected_at: datetime
    services: tuple[str, ...] = Field(min_length=1)
    summary: str = Field(min_length=1, max_length=2000)
    category: str | None = None
    root_cause_service: str | None = None
    phi: bool = False

    @field_validator("detected_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    @field_validator("severity")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @classmethod
    def from_diagnosis(cls, diagnosis: Mapping[str, Any]) -> EmergencyTrigger:
        root = diagnosis.get("rootCause") or {}
        services = list(diagnosis.get("affectedServices") or [])
        if root.get("service") and root["service"] not in services:
            services.insert(0, root["service"])
        category = diagnosis.get("category")
        summary = root.get("issue") or diagnosis.get("summary") or f"{category or 'unknown'} failure"
        try:
            return cls(
                incident_id=str(diagnosis.get("incidentId") or diagnosis.get("errorId") or ""),
                severity=str(diagnosis.get("severity", "")),
                detected_at=diagnosis.get("detectedAt"),  # type: ignore[arg-type]
                services=tuple(services),
                summary=str(summary),
                category=category,
                root_cause_service=root.get("service"),
                phi=bool(diagnosis.get("phi", False)),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(
                f"diagnosis: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
            ) from None


class DeadlineState(StrEnum):
    MET = "met"
    PENDING = "pending"
    BREACHED = "breached"  # not met and past due
    MET_LATE = "met_late"


class DeadlineStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    milestone: Milestone
    due_at: datetime
    met_at: datetime | None
    state: DeadlineState

    @property
    def breached(self) -> bool:
        return self.state in (DeadlineState.BREACHED, DeadlineState.MET_LATE)


class DeadlineBreach(BaseModel):
    """Handed to the escalation hook (the CLI/API wire it to alerting)."""

    model_config = ConfigDict(frozen=True)

    change_id: str
    incident_id: str | None
    milestone: Milestone
    due_at: datetime
    detected_at: datetime
    observed_at: datetime
    services: tuple[str, ...]
    title: str

    @property
    def overdue(self) -> timedelta:
        return self.observed_at - self.due_at

    def message(self) -> str:
        minutes = self.overdue.total_seconds() / 60
        return (
            f"emergency change {self.change_id} missed its {self.milestone.replace('_', ' ')} deadline "
            f"(due {self.due_at:%H:%M:%S} UTC, {minutes:.1f} min over) for incident {self.incident_id}"
        )


def deadline_status(
    cr: ChangeRequest, deadlines: Mapping[Milestone, timedelta], now: datetime
) -> list[DeadlineStatus]:
    if cr.type is not ChangeType.EMERGENCY or cr.detected_at is None:
        return []
    now = utc(now)
    out = []
    for milestone in Milestone:
        due = cr.detected_at + deadlines[milestone]
        met = cr.milestones.get(milestone)
        if met is not None:
            state = DeadlineState.MET if met <= due else DeadlineState.MET_LATE
        else:
            state = DeadlineState.BREACHED if now > due else DeadlineState.PENDING
        out.append(DeadlineStatus(milestone=milestone, due_at=due, met_at=met, state=state))
    return out


def new_breaches(
    cr: ChangeRequest, deadlines: Mapping[Milestone, timedelta], now: datetime
) -> list[DeadlineBreach]:
    """Breached milestones not escalated yet (each breach escalates once)."""
    assert cr.detected_at is not None or cr.type is not ChangeType.EMERGENCY
    out = []
    for status in deadline_status(cr, deadlines, now):
        if status.breached and status.milestone not in cr.breaches_escalated:
            out.append(
                DeadlineBreach(
                    change_id=cr.id,
                    incident_id=cr.incident_id,
                    milestone=status.milestone,
                    due_at=status.due_at,
                    detected_at=cr.detected_at,
                    observed_at=utc(now),  # type: ignore[arg-type]
                    services=cr.services,
                    title=cr.title,
                )
            )
    return out

"""Incident records (camelCase on the wire, like the diagnosis)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from triage.diagnosis.schemas import RootCause, Severity, _Wire
from triage.modeling.taxonomy import DEFAULT_TAXONOMY


class IncidentStatus(StrEnum):
    """Statuspage's incident states; only `resolved` closes an incident."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class TimelineEntry(_Wire):
    at: datetime
    kind: str
    actor: str | None = None
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)


class Resolution(_Wire):
    fix_id: str | None = None
    action: str | None = None  # free text when the fix was not in the catalogue
    suggested_fix_worked: bool
    notes: str | None = Field(default=None, max_length=4000)


class Incident(_Wire):
    incident_id: str
    title: str
    status: IncidentStatus
    severity: Severity
    category: str
    services: list[str]
    root_cause: RootCause | None = None
    error_count: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: Resolution | None = None


class IncidentDetail(Incident):
    timeline: list[TimelineEntry] = Field(default_factory=list)
    diagnoses: list[dict[str, Any]] = Field(default_factory=list)


class ResolveRequest(_Wire):
    model_config = ConfigDict(extra="forbid")

    fix_id: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=500)
    suggested_fix_worked: bool
    notes: str | None = Field(default=None, max_length=4000)


class FeedbackRequest(_Wire):
    """An analyst's verdict on one diagnosis; becomes labelled data for the next retraining."""

    model_config = ConfigDict(extra="forbid")

    category_correct: bool | None = None
    correct_category: str | None = Field(default=None, max_length=64)
    severity_correct: bool | None = None
    correct_severity: Severity | None = None
    root_cause_correct: bool | None = None
    correct_root_service: str | None = Field(default=None, max_length=128)
    fix_id: str | None = Field(default=None, max_length=64, description="a suggested fix that was tried")
    fix_worked: bool | None = Field(default=None, description="whether that fix resolved the error")
    notes: str | None = Field(default=None, max_length=4000)

    @field_validator("correct_category")
    @classmethod
    def _known_category(cls, value: str | None) -> str | None:
        # a verdict becomes a training label: a typo must not become a new class
        if value is None:
            return None
        name = value.strip().upper()
        if name not in DEFAULT_TAXONOMY:
            raise ValueError(f"not a category of the taxonomy ({', '.join(DEFAULT_TAXONOMY.names)})")
        return name

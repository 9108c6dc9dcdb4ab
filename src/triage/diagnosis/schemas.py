"""The diagnosis contract: what services post, and the JSON they get back (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from triage.modeling.taxonomy import Severity

SEVERITY_RANK = {s: s.rank for s in Severity}


class _Wire(BaseModel):
    """camelCase JSON, snake_case Python; accepts either on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must include a timezone (e.g. 2026-11-27T06:00:00Z)")
    return value


ServiceName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]


class ErrorEvent(_Wire):
    """One error a service posts for diagnosis."""

    model_config = ConfigDict(extra="forbid")

    service: ServiceName
    timestamp: Annotated[datetime, AfterValidator(_aware)]
    level: Annotated[str, Field(min_length=1, max_length=16)] = "ERROR"
    message: Annotated[str, Field(min_length=1, max_length=8192)]
    stack_trace: Annotated[str | None, Field(max_length=65536)] = None
    trace_id: Annotated[str | None, Field(max_length=128)] = None
    host: Annotated[str | None, Field(max_length=255)] = None
    attributes: Annotated[dict[str, str], Field(max_length=50)] = Field(default_factory=dict)


class RootCause(_Wire):
    service: str
    issue: str
    confidence: float = Field(ge=0.0, le=1.0)


class SuggestedFix(_Wire):
    action: str
    priority: int = Field(ge=1)
    estimated_time: str  # e.g. "10 minutes"
    risk: str  # LOW | MEDIUM | HIGH
    fix_id: str | None = None
    success_rate: float | None = None


class RelatedIncident(_Wire):
    incident_id: str
    title: str
    similarity: float
    status: str | None = None
    resolution: str | None = None


class ArticleRef(_Wire):
    article_id: str
    title: str
    kind: str
    score: float
    link: str | None = None


class Evidence(_Wire):
    template_id: str | None = None
    template: str | None = None
    known_pattern: str | None = None
    similar_events: list[dict[str, Any]] = Field(default_factory=list)
    model_scores: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Diagnosis(_Wire):
    """One JSON per error: the seed's fields plus the evidence and model versions behind them."""

    error_id: str
    detected_at: datetime
    severity: Severity
    category: str
    affected_services: list[str]
    root_cause: RootCause
    suggested_fixes: list[SuggestedFix]
    related_incidents: list[RelatedIncident]
    knowledge_base_articles: list[ArticleRef]
    incident_id: str | None = None
    evidence: Evidence = Field(default_factory=Evidence)
    model_versions: dict[str, str] = Field(default_factory=dict)


class DiagnosisNotice(NamedTuple):
    """What reactions (alerts, emergency changes) read of a stored diagnosis: a few flat fields and the JSON
    body that was answered.

    Under load thousands of diagnoses wait 1-3 s for the store writer and the reactions. A model waiting
    there is ~26 objects the cyclic GC tracks (models, their ``__dict__`` and fields-set, lists) and every
    collection walks them with the GIL held: young-generation pauses of 8-48 ms in the fixed-rate tail. This
    is one tuple.
    """

    error_id: str
    incident_id: str | None
    detected_at: datetime
    severity: str
    category: str
    affected_services: tuple[str, ...]
    root_service: str
    root_issue: str
    root_confidence: float
    body: str

    @classmethod
    def of(cls, diagnosis: Diagnosis, body: str) -> DiagnosisNotice:
        """``body`` is ``diagnosis`` as JSON (as answered)."""
        d, root = diagnosis, diagnosis.root_cause
        return cls(d.error_id, d.incident_id, d.detected_at, d.severity.value, d.category,
                   tuple(d.affected_services), root.service, root.issue, root.confidence, body)

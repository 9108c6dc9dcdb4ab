"""Change requests and what hangs off them: approvals, risk assessments, schedule windows, milestones."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.audit.schemas import utc
from triage.errors import Conflict, InvalidInput, PermissionDenied


class ChangeType(StrEnum):
    STANDARD = "standard"  # pre-approved template from the catalogue, no board
    NORMAL = "normal"  # impact analysis, then approvals
    EMERGENCY = "emergency"  # fast track from a CRITICAL diagnosis


class ChangeState(StrEnum):
    NEW = "new"
    ASSESS = "assess"
    AUTHORIZE = "authorize"
    SCHEDULED = "scheduled"
    IMPLEMENT = "implement"
    REVIEW = "review"
    CLOSED = "closed"
    CANCELED = "canceled"
    REJECTED = "rejected"
    ROLLED_BACK = "rolled_back"


TERMINAL_STATES = frozenset({ChangeState.CLOSED, ChangeState.CANCELED, ChangeState.REJECTED})


class Role(StrEnum):
    """The API key roles (same values as ``triage.access.keys.Role``)."""

    SERVICE = "service"
    ANALYST = "analyst"
    ENGINEER = "engineer"
    APPROVER = "approver"
    ADMIN = "admin"


class Authority(StrEnum):
    """Who must sign off, by function. Which users and roles hold each is configuration."""

    ON_CALL_ENGINEER = "on_call_engineer"  # the initial response
    TECHNICAL_LEAD = "technical_lead"  # implementation
    CTO = "cto"  # major system changes
    COMPLIANCE_OFFICER = "compliance_officer"  # anything touching PHI or HIPAA controls


class RiskLevel(StrEnum):
    LOW = "LOW"  # 1–3: one service
    MEDIUM = "MEDIUM"  # 4–6: limited impact with a workaround
    HIGH = "HIGH"  # 7–8: major disruption or security risk
    CRITICAL = "CRITICAL"  # 9–10: system-wide outage or data-loss risk


class RollbackComplexity(StrEnum):
    AUTOMATED = "automated"  # one command, tested (e.g. move a model alias back)
    SIMPLE = "simple"  # a documented manual step
    COMPLEX = "complex"  # several coordinated steps or a data restore
    IRREVERSIBLE = "irreversible"  # cannot be undone without data loss


class UserImpact(StrEnum):
    NONE = "none"
    INTERNAL = "internal"  # staff / operators only
    PARTIAL = "partial"  # some patients or clinicians
    ALL = "all"  # every user


class CloseCode(StrEnum):
    SUCCESSFUL = "successful"
    UNSUCCESSFUL = "unsuccessful"
    ROLLED_BACK = "rolled_back"


class InvalidTransition(Conflict):
    """The change cannot move to that state from where it is (or a guard of the move fails)."""


class ApprovalRequired(InvalidTransition):
    """The move needs approvals the change does not have yet."""


class SelfApproval(PermissionDenied):
    """A requester may never approve (or reject) their own change."""


class ScheduleConflict(Conflict):
    """The window overlaps another change on the same or dependent services, or a blackout window."""


class Actor(BaseModel):
    """The acting person (or service) and the role of the API key / CLI identity they act with."""

    model_config = ConfigDict(frozen=True)

    user: str = Field(min_length=1, max_length=200)
    role: Role

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ScheduleWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleWindow:
        if self.end <= self.start:
            raise ValueError("a schedule window must end after it starts")
        return self

    def overlaps(self, other: ScheduleWindow) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True)

    authority: Authority
    user: str
    role: Role
    at: datetime
    comment: str | None = None


class RiskFactor(BaseModel):
    """One input of the risk score, its value and how many points it added."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    points: int
    note: str


class RiskAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: int = Field(ge=1, le=10)
    level: RiskLevel
    disruption_score: int | None = Field(
        default=None,
        ge=1,
        le=10,
        description="The score without the PHI/security floor: how big the change is.",
    )
    factors: tuple[RiskFactor, ...]
    impacted_services: tuple[str, ...]
    floor_reason: str | None = None
    assessed_at: datetime
    assessed_by: str

    def explain(self) -> str:
        lines = [f"risk {self.score}/10 ({self.level})"]
        lines += [f"  {f.points:+d}  {f.name} = {f.value}: {f.note}" for f in self.factors]
        if self.floor_reason:
            lines.append(f"  floor: {self.floor_reason}")
        return "\n".join(lines)


class ImpactInput(BaseModel):
    """What the requester states about a change, used by the impact analysis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rollback_complexity: RollbackComplexity = RollbackComplexity.SIMPLE
    estimated_downtime_minutes: float = Field(default=0.0, ge=0, le=7 * 24 * 60)
    user_impact: UserImpact = UserImpact.NONE
    phi: bool = Field(default=False, description="Touches PHI or HIPAA controls.")
    data_loss_risk: bool = Field(default=False, description="Could lose or corrupt stored data.")
    security_risk: bool = Field(default=False, description="Changes authentication, keys or exposure.")


class Milestone(StrEnum):
    """The emergency fast track's checkpoints, each with a deadline from the incident's detection."""

    DECLARED = "declared"
    REQUESTED = "requested"
    IMPACT_ANALYSIS = "impact_analysis"
    APPROVAL = "approval"
    IMPLEMENTATION = "implementation"
    VALIDATION = "validation"
    POST_INCIDENT_REVIEW = "post_incident_review"


class ChangeRequest(BaseModel):
    """A change request. Immutable: every step returns a new one (``model_copy(update=...)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: ChangeType
    state: ChangeState = ChangeState.NEW
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    requester: str = Field(min_length=1, max_length=200)
    justification: str = Field(default="", max_length=20_000)
    services: tuple[str, ...] = Field(min_length=1)
    implementation_plan: str = Field(default="", max_length=20_000)
    rollback_procedure: str = Field(default="", max_length=20_000)
    validation_plan: str = Field(default="", max_length=20_000)
    window: ScheduleWindow | None = None
    impact: ImpactInput = Field(default_factory=ImpactInput)
    risk: RiskAssessment | None = None
    approvals: tuple[Approval, ...] = ()
    template_id: str | None = Field(default=None, description="Catalogue entry of a standard change.")
    incident_id: str | None = None
    subject: str | None = Field(default=None, description="What is changed, as kind:id (e.g. model:diag@3).")
    detected_at: datetime | None = Field(
        default=None, description="Emergency: when the incident was detected."
    )
    milestones: dict[Milestone, datetime] = Field(default_factory=dict)
    breaches_escalated: tuple[Milestone, ...] = ()
    snapshot_id: str | None = Field(default=None, description="Snapshot taken before implementation.")
    validation_passed: bool | None = None
    validation_notes: str | None = None
    rollback_reason: str | None = None
    close_code: CloseCode | None = None
    review_notes: str | None = None
    warnings: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime
    version: int = 1

    @field_validator("services")
    @classmethod
    def _services(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(s.strip() for s in value if s.strip()))
        if not cleaned:
            raise ValueError("a change must name at least one affected service")
        return cleaned

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def audit_view(self) -> dict[str, Any]:
        """The small slice of state recorded as before/after in audit entries."""
        return {
            "state": str(self.state),
            "approvals": [f"{a.authority}:{a.user}" for a in self.approvals],
            "window": None if self.window is None else self.window.model_dump(mode="json"),
            "risk": None if self.risk is None else self.risk.score,
            "version": self.version,
        }


def parse_services(text: str) -> tuple[str, ...]:
    services = tuple(s.strip() for s in text.split(",") if s.strip())
    if not services:
        raise InvalidInput("name at least one service (--services a,b)")
    return services

"""Change-control configuration: who holds each approval authority, the approval policy, the dependency map,
blackout windows, extra standard-change templates and the emergency deadlines.

Read from YAML (default ``<home>/config/changes.yaml``; absent file = the defaults below). Example::

    authorities:
      on_call_engineer: {roles: [engineer, approver, admin], users: [alice, bob]}
      technical_lead:   {roles: [approver, admin], users: [carol]}
      cto:              {roles: [approver, admin], users: [dan]}
      compliance_officer: {roles: [approver, admin], users: [erin]}
    policy:
      major_risk_score: 7          # at or above: the CTO must approve too
    dependencies:                  # service -> the services it depends on
      api-gateway: [auth, scheduling]
      scheduling: [postgres]
    blackouts:
      - {name: month-end billing, start: 2025-03-31T00:00:00Z, end: 2025-04-01T06:00:00Z, services: [billing]}
      - {name: clinic hours, weekdays: [0, 1, 2, 3, 4], from_time: "08:00", to_time: "18:00"}

An actor holds an authority when their role is one of its ``roles`` and, if ``users`` is not empty, their
user name is listed. The defaults name no users (any holder of the role qualifies), which suits a single
developer's machine; a deployment names its people.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.audit.schemas import utc
from triage.changes.schemas import (
    Actor,
    Authority,
    ChangeType,
    Milestone,
    Role,
    RollbackComplexity,
    ScheduleWindow,
)
from triage.config_files import load_yaml_model


class AuthorityHolders(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: tuple[Role, ...]
    users: tuple[str, ...] = ()

    def held_by(self, actor: Actor) -> bool:
        return actor.role in self.roles and (not self.users or actor.user in self.users)


DEFAULT_AUTHORITIES: dict[Authority, AuthorityHolders] = {
    Authority.ON_CALL_ENGINEER: AuthorityHolders(roles=(Role.ENGINEER, Role.APPROVER, Role.ADMIN)),
    Authority.TECHNICAL_LEAD: AuthorityHolders(roles=(Role.APPROVER, Role.ADMIN)),
    Authority.CTO: AuthorityHolders(roles=(Role.ADMIN,)),
    Authority.COMPLIANCE_OFFICER: AuthorityHolders(roles=(Role.ADMIN,)),
}


class ApprovalPolicy(BaseModel):
    """Which authorities must approve a change, by type, size and PHI involvement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base: dict[ChangeType, tuple[Authority, ...]] = {
        ChangeType.STANDARD: (),
        ChangeType.NORMAL: (Authority.TECHNICAL_LEAD,),
        ChangeType.EMERGENCY: (Authority.ON_CALL_ENGINEER, Authority.TECHNICAL_LEAD),
    }
    major_risk_score: int = Field(default=7, ge=1, le=10, description="From this score the CTO approves too.")
    major_authority: Authority = Authority.CTO
    phi_authority: Authority = Authority.COMPLIANCE_OFFICER
    distinct_approvers: bool = Field(default=True, description="One person fills at most one authority.")
    standard_max_score: int = Field(
        default=3, ge=1, le=10, description="Above this a standard change is refused."
    )


class BlackoutWindow(BaseModel):
    """No planned change may run in it: either one absolute period or a weekly recurring one (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    start: datetime | None = None
    end: datetime | None = None
    weekdays: tuple[int, ...] = Field(default=(), description="0 = Monday … 6 = Sunday")
    from_time: time | None = None
    to_time: time | None = None
    services: tuple[str, ...] = Field(default=(), description="Empty: every service.")

    @model_validator(mode="after")
    def _one_form(self) -> BlackoutWindow:
        absolute = self.start is not None and self.end is not None
        weekly = bool(self.weekdays) and self.from_time is not None and self.to_time is not None
        if absolute == weekly:
            raise ValueError(f"blackout {self.name!r}: give either start+end or weekdays+from_time+to_time")
        if absolute and utc(self.end) <= utc(self.start):  # type: ignore[arg-type]
            raise ValueError(f"blackout {self.name!r} ends before it starts")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError(f"blackout {self.name!r}: weekdays are 0 (Monday) to 6 (Sunday)")
        return self

    def applies_to(self, services: Iterable[str]) -> bool:
        return not self.services or bool(set(self.services) & set(services))

    def periods(self, around: ScheduleWindow) -> list[ScheduleWindow]:
        """The concrete blackout periods that could touch ``around``."""
        if self.start is not None and self.end is not None:
            return [ScheduleWindow(start=self.start, end=self.end)]
        assert self.from_time is not None and self.to_time is not None
        out = []
        day = (around.start - timedelta(days=1)).date()
        while day <= around.end.date():
            if day.weekday() in self.weekdays:
                start = datetime.combine(day, self.from_time, tzinfo=UTC)
                end = datetime.combine(day, self.to_time, tzinfo=UTC)
                if end <= start:  # crosses midnight
                    end += timedelta(days=1)
                out.append(ScheduleWindow(start=start, end=end))
            day += timedelta(days=1)
        return out

    def overlaps(self, window: ScheduleWindow) -> bool:
        return any(period.overlaps(window) for period in self.periods(window))


#: The seed's emergency fast-track deadlines, measured from the incident's detection.
DEFAULT_DEADLINES: dict[Milestone, timedelta] = {
    Milestone.DECLARED: timedelta(minutes=2),
    Milestone.REQUESTED: timedelta(minutes=3),
    Milestone.IMPACT_ANALYSIS: timedelta(minutes=5),
    Milestone.APPROVAL: timedelta(minutes=10),
    Milestone.IMPLEMENTATION: timedelta(minutes=30),
    Milestone.VALIDATION: timedelta(minutes=45),
    Milestone.POST_INCIDENT_REVIEW: timedelta(hours=24),
}


class StandardChangeTemplate(BaseModel):
    """A pre-approved, repeatable change: known steps, known rollback, low risk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    description: str
    implementation_plan: str
    rollback_procedure: str
    validation_plan: str
    rollback_complexity: RollbackComplexity = RollbackComplexity.AUTOMATED
    estimated_downtime_minutes: float = 0.0


class ChangeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    authorities: dict[Authority, AuthorityHolders] = Field(default_factory=lambda: dict(DEFAULT_AUTHORITIES))
    policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    dependencies: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    blackouts: tuple[BlackoutWindow, ...] = ()
    catalogue: tuple[StandardChangeTemplate, ...] = ()
    deadlines: dict[Milestone, timedelta] = Field(default_factory=lambda: dict(DEFAULT_DEADLINES))

    @field_validator("authorities")
    @classmethod
    def _all_authorities(cls, value: dict[Authority, AuthorityHolders]) -> dict[Authority, AuthorityHolders]:
        return {**DEFAULT_AUTHORITIES, **value}

    @field_validator("deadlines")
    @classmethod
    def _all_deadlines(cls, value: dict[Milestone, timedelta]) -> dict[Milestone, timedelta]:
        return {**DEFAULT_DEADLINES, **value}

    def holders(self, authority: Authority) -> AuthorityHolders:
        return self.authorities[authority]

    def authorities_of(self, actor: Actor) -> list[Authority]:
        return [a for a in Authority if self.authorities[a].held_by(actor)]

    def graph(self) -> DependencyGraph:
        return DependencyGraph(self.dependencies)


class DependencyGraph:
    """``service -> services it depends on``. A change to X reaches every service that depends on X,
    directly or through others (reverse edges, transitively)."""

    def __init__(self, depends_on: dict[str, Iterable[str]] | None = None) -> None:
        self.depends_on: dict[str, frozenset[str]] = {s: frozenset(d) for s, d in (depends_on or {}).items()}
        dependents: dict[str, set[str]] = {}
        for service, deps in self.depends_on.items():
            for dep in deps:
                dependents.setdefault(dep, set()).add(service)
        self.dependents = {s: frozenset(d) for s, d in dependents.items()}

    @property
    def services(self) -> frozenset[str]:
        return frozenset(self.depends_on) | frozenset(self.dependents)

    def impacted_by(self, services: Iterable[str]) -> list[str]:
        """The changed services and everything that depends on them, transitively, in BFS order."""
        start = list(dict.fromkeys(services))
        seen = set(start)
        order = list(start)
        queue = deque(start)
        while queue:
            for dependent in sorted(self.dependents.get(queue.popleft(), ())):
                if dependent not in seen:
                    seen.add(dependent)
                    order.append(dependent)
                    queue.append(dependent)
        return order

    def related(self, a: Iterable[str], b: Iterable[str]) -> bool:
        """Do two sets of services touch: the same service, or one depends (transitively) on the other?"""
        set_a, set_b = set(a), set(b)
        return bool(set(self.impacted_by(set_a)) & set_b or set(self.impacted_by(set_b)) & set_a)


def load_change_config(path: Path | None) -> ChangeConfig:
    """The configuration in ``path`` (YAML), or the defaults when there is no such file."""
    return load_yaml_model(path, ChangeConfig)

"""Records of the status page: component states, health samples, incident impacts, updates, maintenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel


class ComponentState(StrEnum):
    """Statuspage's component states, from best to worst (maintenance is planned, not a failure)."""

    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        return _STATE_ORDER.index(self)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


_STATE_ORDER = tuple(ComponentState)


def worst(states: list[ComponentState] | tuple[ComponentState, ...]) -> ComponentState:
    return max(states, key=lambda s: s.rank) if states else ComponentState.OPERATIONAL


class UpdateStatus(StrEnum):
    """The public life of an incident (the same words the incident store uses)."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One health check or probe result for a component (``detail`` is internal only)."""

    name: str
    ok: bool
    latency_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Impact:
    """An internal incident as far as the status page needs it: which services, how bad, where it stands.

    ``history`` is the incident's status changes (status, at), oldest first, beginning with its opening.
    """

    incident_id: str
    services: tuple[str, ...]
    severity: str  # CRITICAL | HIGH | MEDIUM | LOW
    status: UpdateStatus
    started_at: datetime
    resolved_at: datetime | None = None
    history: tuple[tuple[UpdateStatus, datetime], ...] = ()

    @property
    def open(self) -> bool:
        return self.status is not UpdateStatus.RESOLVED


@dataclass(frozen=True, slots=True)
class Sample:
    """A component's effective state at one recorder tick."""

    component: str
    at: datetime
    state: ComponentState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UptimeDay:
    """One bar of the 90-day strip: the share of measured time up, and the worst state seen that day."""

    day: date
    uptime: float | None  # None: no measurement (or maintenance only)
    worst: ComponentState | None
    samples: int = 0
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComponentView:
    component_id: str
    name: str
    description: str
    state: ComponentState
    uptime: float | None  # over the window
    days: tuple[UptimeDay, ...]


@dataclass(frozen=True, slots=True)
class PublicUpdate:
    status: UpdateStatus
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PublicIncident:
    """An incident as the public sees it: a stable public id, a title, components and updates (newest first)."""

    public_id: str
    title: str
    impact: ComponentState
    status: UpdateStatus
    components: tuple[str, ...]  # component names
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]


class _Wire(BaseModel):
    """camelCase JSON like the rest of the API; snake_case (or camelCase) accepted on input."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must include a timezone (e.g. 2026-11-27T06:00:00Z)")
    return value.astimezone(UTC)


class MaintenanceCreate(_Wire):
    """A planned maintenance window, as an engineer schedules it (public text: no internal detail)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    components: list[str] = Field(min_length=1, max_length=50)
    starts_at: datetime
    ends_at: datetime

    _aware = field_validator("starts_at", "ends_at")(_utc)

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Maintenance(_Wire):
    model_config = ConfigDict(frozen=True)

    maintenance_id: str
    title: str
    description: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    canceled_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.canceled_at is None and self.starts_at <= now < self.ends_at

    def upcoming(self, now: datetime) -> bool:
        return self.canceled_at is None and now < self.starts_at


class UpdateCreate(_Wire):
    """A public update on an internal incident, written by a person for the public."""

    model_config = ConfigDict(extra="forbid")

    status: UpdateStatus
    message: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(default=None, max_length=200)
    components: list[str] | None = Field(default=None, max_length=50,
                                         description="component ids; default: those the incident affects")


class StoredUpdate(_Wire):
    model_config = ConfigDict(frozen=True)

    update_id: str
    incident_id: str
    status: UpdateStatus
    title: str | None
    message: str
    components: tuple[str, ...]
    posted_at: datetime
    posted_by: str

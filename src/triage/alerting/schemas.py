"""Alerts, the signals that raise them, and their deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.audit.schemas import utc
from triage.errors import InvalidInput


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def rank(self) -> int:
        return {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}[self.value]


class AlertType(StrEnum):
    SYSTEM_OUTAGE = "system_outage"
    DATABASE = "database"
    SECURITY = "security"
    HIPAA = "hipaa"
    AI_SERVICE = "ai_service"
    CHANGE_DEADLINE = "change_deadline"  # an emergency change missed a fast-track deadline


class Channel(StrEnum):
    SMS = "sms"
    PHONE = "phone"
    EMAIL = "email"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"

    @property
    def per_person(self) -> bool:
        """Email, SMS and phone reach each person; Slack, PagerDuty and webhooks reach the team once."""
        return self in (Channel.SMS, Channel.PHONE, Channel.EMAIL)


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryKind(StrEnum):
    NEW = "new"
    UPDATE = "update"  # severity went up
    ESCALATION = "escalation"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the configured attempts
    SKIPPED = "skipped"  # no address for this channel


class AlertSignal(BaseModel):
    """Something that may deserve an alert: from a diagnosis, a change deadline breach, or a caller."""

    model_config = ConfigDict(frozen=True)

    type: AlertType
    severity: Severity
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=4000)
    services: tuple[str, ...] = ()
    incident_id: str | None = Field(default=None, max_length=200)
    source: str = Field(default="diagnosis", max_length=200, description="kind:id of what raised it")
    dedup_key: str | None = Field(default=None, max_length=400, description="Default: incident + type.")
    occurred_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    def key(self) -> str:
        if self.dedup_key:
            return self.dedup_key
        if self.incident_id:
            return f"{self.incident_id}:{self.type}"
        return f"{self.type}:{','.join(sorted(self.services))}:{self.title.lower()}"


class DiagnosisSummary(BaseModel):
    """The fields of the seed's diagnosis JSON that alerting reads (camelCase keys accepted)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    error_id: str = Field(alias="errorId", min_length=1)
    incident_id: str | None = Field(default=None, alias="incidentId")
    detected_at: datetime = Field(alias="detectedAt")
    severity: Severity
    category: str = ""
    affected_services: tuple[str, ...] = Field(default=(), alias="affectedServices")
    root_cause_service: str | None = None
    root_cause_issue: str | None = None
    confidence: float | None = None
    phi: bool = False

    @field_validator("severity", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DiagnosisSummary:
        root = raw.get("rootCause") or {}
        try:
            return cls.model_validate(
                {
                    **raw,
                    "root_cause_service": root.get("service"),
                    "root_cause_issue": root.get("issue"),
                    "confidence": root.get("confidence"),
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(
                f"diagnosis: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
            ) from None


class Alert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    dedup_key: str
    type: AlertType
    severity: Severity
    title: str
    summary: str = ""
    services: tuple[str, ...] = ()
    incident_id: str | None = None
    source: str = "diagnosis"
    state: AlertState = AlertState.OPEN
    first_seen: datetime
    last_seen: datetime
    occurrences: int = 1
    team: str = Field(description="The team the routing table sent it to.")
    escalation_level: int = Field(default=0, description="0 = routed team; n = n-th escalation step.")
    escalated_to: tuple[str, ...] = ()
    next_escalation_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    channels_used: tuple[Channel, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Recipient(BaseModel):
    """A person (or a shared address) in a team, with how to reach them on each channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    email: str | None = None
    phone: str | None = None

    def address(self, channel: Channel) -> str | None:
        if channel is Channel.EMAIL:
            return self.email
        if channel in (Channel.SMS, Channel.PHONE):
            return self.phone
        return None


class Delivery(BaseModel):
    """One message to send (the outbox row): to a person for email/SMS/phone, to a team otherwise."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    alert_id: str
    incident_id: str | None
    channel: Channel
    team: str
    recipient: str | None
    address: str | None
    kind: DeliveryKind
    escalation_level: int
    due_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    sent_at: datetime | None = None
    error: str | None = None

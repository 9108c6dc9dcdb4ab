"""Alerting configuration: levels and channels, the routing table, teams, escalation, notifier endpoints.

Read from YAML (default ``<home>/config/alerting.yaml``; absent file = the seed's defaults below, with no
endpoints configured, so nothing leaves the machine until you say where). Example::

    teams:
      on_call_engineer: [{name: Olga, email: olga@example.org, phone: "+15550100"}]
      database_admin:   [{name: Dev, email: dba@example.org}]
    channels:
      email:     {kind: smtp, host: smtp.example.org, port: 587, sender: triage@example.org, starttls: true}
      slack:     {kind: slack, url: "https://hooks.slack.com/services/…"}
      pagerduty: {kind: pagerduty, routing_key: "…"}          # Events API v2
      sms:       {kind: sms_gateway, url: "https://sms-gateway.example.org/send"}
      phone:     {kind: voice_gateway, url: "https://voice-gateway.example.org/call"}
      webhook:   {kind: webhook, url: "https://ops.example.org/hooks/triage"}

Levels (the seed): CRITICAL at once to SMS, phone, email, Slack and PagerDuty; HIGH within 5 min; MEDIUM
within 15; LOW within an hour. ``group_wait`` holds a level's first notification that long (never past
``within``) so that alerts of the same incident go out as one message. Unacknowledged alerts escalate
every ``escalate_after`` (15 min) along the escalation chain; a step with ``types`` applies only to them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from triage.alerting.schemas import AlertType, Channel, Recipient, Severity
from triage.config_files import load_yaml_model


class LevelPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    within: timedelta
    group_wait: timedelta = timedelta(0)
    channels: tuple[Channel, ...]

    @model_validator(mode="after")
    def _wait_within(self) -> LevelPolicy:
        if self.group_wait > self.within:
            raise ValueError("group_wait may not exceed within")
        return self


DEFAULT_LEVELS: dict[Severity, LevelPolicy] = {
    Severity.CRITICAL: LevelPolicy(
        within=timedelta(0),
        channels=(Channel.SMS, Channel.PHONE, Channel.EMAIL, Channel.SLACK, Channel.PAGERDUTY),
    ),
    Severity.HIGH: LevelPolicy(
        within=timedelta(minutes=5), channels=(Channel.EMAIL, Channel.SLACK, Channel.PAGERDUTY)
    ),
    Severity.MEDIUM: LevelPolicy(
        within=timedelta(minutes=15), group_wait=timedelta(minutes=5), channels=(Channel.EMAIL, Channel.SLACK)
    ),
    Severity.LOW: LevelPolicy(
        within=timedelta(hours=1), group_wait=timedelta(minutes=15), channels=(Channel.EMAIL,)
    ),
}

DEFAULT_ROUTES: dict[AlertType, str] = {
    AlertType.SYSTEM_OUTAGE: "on_call_engineer",
    AlertType.DATABASE: "database_admin",
    AlertType.SECURITY: "security_team",
    AlertType.HIPAA: "compliance_officer",
    AlertType.AI_SERVICE: "ai_team_lead",
    AlertType.CHANGE_DEADLINE: "technical_lead",
}


class EscalationStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    team: str
    types: tuple[AlertType, ...] = Field(default=(), description="Empty: every alert type.")

    def applies_to(self, alert_type: AlertType) -> bool:
        return not self.types or alert_type in self.types


DEFAULT_CHAIN: tuple[EscalationStep, ...] = (
    EscalationStep(team="technical_lead"),
    EscalationStep(
        team="infrastructure_lead",
        types=(AlertType.SYSTEM_OUTAGE, AlertType.DATABASE, AlertType.AI_SERVICE, AlertType.CHANGE_DEADLINE),
    ),
    EscalationStep(team="ciso", types=(AlertType.SECURITY, AlertType.HIPAA)),
    EscalationStep(team="legal", types=(AlertType.HIPAA,)),
    EscalationStep(team="cto"),
)


class Escalation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    after: timedelta = timedelta(minutes=15)
    chain: tuple[EscalationStep, ...] = DEFAULT_CHAIN
    channels: tuple[Channel, ...] | None = Field(
        default=None, description="Channels for escalations; default: the alert level's channels."
    )


class SmtpConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["smtp"]
    host: str
    port: int = 25
    sender: str
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 10.0


class HttpConfig(BaseModel):
    """A JSON-over-HTTP endpoint: generic webhook, Slack-compatible webhook, SMS or voice gateway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["webhook", "slack", "sms_gateway", "voice_gateway"]
    url: str
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="e.g. Authorization for a gateway"
    )
    timeout_s: float = 10.0


class PagerDutyConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["pagerduty"]
    routing_key: SecretStr
    url: str = "https://events.pagerduty.com/v2/enqueue"
    source: str = "triage"
    timeout_s: float = 10.0


NotifierConfig = SmtpConfig | HttpConfig | PagerDutyConfig


class AlertRule(BaseModel):
    """Classify a diagnosis: the first rule whose pattern matches its text (category, root cause, services)
    gives the alert type. Patterns are case-insensitive regular expressions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: AlertType
    pattern: str


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(type=AlertType.HIPAA, pattern=r"\b(hipaa|phi|patient[ _-]?data|pii|consent|ehr[ _-]?export)\b"),
    AlertRule(
        type=AlertType.SECURITY,
        pattern=r"\b(security|auth\w*|unauthori[sz]ed|forbidden|intrusion|brute[ -]?force|certificate|tls|ssl"
        r"|credential\w*|token|csrf|xss|injection|malware|ddos)\b",
    ),
    AlertRule(
        type=AlertType.DATABASE,
        pattern=r"\b(database|db|sql|postgres\w*|mysql|mongo\w*|redis|duckdb|deadlock|connection[ _-]?pool"
        r"|replica\w*|query timeout)\b",
    ),
    AlertRule(
        type=AlertType.AI_SERVICE,
        pattern=r"\b(model|inference|ml|ai|llm|prediction|scorer|embedding|mlflow|drift)\b",
    ),
)


class AlertingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: dict[Severity, LevelPolicy] = Field(default_factory=lambda: dict(DEFAULT_LEVELS))
    routes: dict[AlertType, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    teams: dict[str, tuple[Recipient, ...]] = Field(default_factory=dict)
    escalation: Escalation = Field(default_factory=Escalation)
    channels: dict[Channel, NotifierConfig] = Field(default_factory=dict)
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    fallback_type: AlertType = AlertType.SYSTEM_OUTAGE
    min_severity: Severity = Severity.LOW
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_after: timedelta = timedelta(minutes=1)

    @field_validator("levels")
    @classmethod
    def _all_levels(cls, value: dict[Severity, LevelPolicy]) -> dict[Severity, LevelPolicy]:
        return {**DEFAULT_LEVELS, **value}

    @field_validator("routes")
    @classmethod
    def _all_routes(cls, value: dict[AlertType, str]) -> dict[AlertType, str]:
        return {**DEFAULT_ROUTES, **value}

    def team(self, name: str) -> tuple[Recipient, ...]:
        return self.teams.get(name, ())


def load_alerting_config(path: Path | None) -> AlertingConfig:
    """The configuration in ``path`` (YAML), or the defaults when there is no such file."""
    return load_yaml_model(path, AlertingConfig)

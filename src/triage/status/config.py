"""Status page configuration: the public components, what decides their state, and the recorder's pace.

Read from YAML (default ``<home>/config/status.yaml``; absent file = the defaults below). Example::

    title: Example Health status
    interval_s: 30                 # how often the recorder checks and records every component
    components:
      - id: diagnosis-api
        name: Diagnosis API
        checks: [store, writer]    # readiness checks of this server (see /readyz)
      - id: patient-portal
        name: Patient portal
        description: Appointments, results and messages
        services: [portal-*, ts-order-service]   # incidents on these internal services affect it
        probes:                                  # HTTP health checks of the component itself
          - {url: "http://127.0.0.1:9000/healthz", degraded_ms: 800}

A component's state is the worst of: its checks and probes (all failing: major outage; some: partial
outage; slower than ``degraded_ms``: degraded performance), and the open incidents on its services
(severity CRITICAL: major outage, HIGH: partial outage, MEDIUM: degraded performance). An active planned
maintenance shows as under maintenance instead. Internal names (checks, services, URLs) never appear on
the public page: only ``name`` and ``description`` do.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.config_files import load_yaml_model
from triage.errors import InvalidInput
from triage.status.schemas import ComponentState


class ProbeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=500)
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    degraded_ms: float | None = Field(default=None, gt=0, description="default: the page's degraded_ms")


class ComponentConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=300)
    checks: tuple[str, ...] = ()
    services: tuple[str, ...] = Field(default=(), description="fnmatch patterns of internal service names")
    probes: tuple[ProbeConfig, ...] = ()


#: Without a configuration: this server itself, and everything it diagnoses as one platform component.
DEFAULT_COMPONENTS: tuple[ComponentConfig, ...] = (
    ComponentConfig(id="diagnosis-api", name="Diagnosis API", description="Error diagnosis and incident tracking",
                    checks=("store", "writer")),
    ComponentConfig(id="platform", name="Platform services", description="The services triage watches",
                    services=("*",)),
)

#: What an open incident of each severity does to its components.
DEFAULT_SEVERITY_IMPACT: dict[str, ComponentState] = {
    "CRITICAL": ComponentState.MAJOR_OUTAGE,
    "HIGH": ComponentState.PARTIAL_OUTAGE,
    "MEDIUM": ComponentState.DEGRADED_PERFORMANCE,
    "LOW": ComponentState.OPERATIONAL,
}

#: Share of a sample counted as downtime (Statuspage's convention: a partial outage counts 30 %).
DEFAULT_DOWNTIME_WEIGHTS: dict[ComponentState, float] = {
    ComponentState.OPERATIONAL: 0.0,
    ComponentState.DEGRADED_PERFORMANCE: 0.0,
    ComponentState.PARTIAL_OUTAGE: 0.3,
    ComponentState.MAJOR_OUTAGE: 1.0,
}


class StatusConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(default="Service status", max_length=100)
    interval_s: float = Field(default=60.0, ge=0.2, le=3600)
    degraded_ms: float = Field(default=1000.0, gt=0)
    days: int = Field(default=90, ge=1, le=366, description="uptime window shown (and samples kept)")
    past_incident_days: int = Field(default=14, ge=0, le=90)
    components: tuple[ComponentConfig, ...] = DEFAULT_COMPONENTS
    severity_impact: dict[str, ComponentState] = Field(default_factory=lambda: dict(DEFAULT_SEVERITY_IMPACT))
    downtime_weights: dict[ComponentState, float] = Field(default_factory=lambda: dict(DEFAULT_DOWNTIME_WEIGHTS))

    @field_validator("severity_impact")
    @classmethod
    def _severities(cls, value: dict[str, ComponentState]) -> dict[str, ComponentState]:
        return {**DEFAULT_SEVERITY_IMPACT, **{k.upper(): v for k, v in value.items()}}

    @field_validator("downtime_weights")
    @classmethod
    def _weights(cls, value: dict[ComponentState, float]) -> dict[ComponentState, float]:
        merged = {**DEFAULT_DOWNTIME_WEIGHTS, **value}
        if any(not 0 <= w <= 1 for w in merged.values()):
            raise ValueError("downtime weights lie between 0 and 1")
        return merged

    @model_validator(mode="after")
    def _unique(self) -> StatusConfig:
        ids = [c.id for c in self.components]
        if len(ids) != len(set(ids)):
            raise ValueError("component ids must be unique")
        if not ids:
            raise ValueError("name at least one component")
        return self

    def component(self, component_id: str) -> ComponentConfig:
        for c in self.components:
            if c.id == component_id:
                return c
        known = ", ".join(c.id for c in self.components)
        raise InvalidInput(f"unknown component {component_id!r}; known: {known}")


def load_status_config(path: Path | None) -> StatusConfig:
    """The configuration in ``path`` (YAML), or the defaults when there is no such file."""
    return load_yaml_model(path, StatusConfig)

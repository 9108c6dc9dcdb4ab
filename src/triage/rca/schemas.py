"""The result of a root-cause analysis: what the CLI prints and the diagnosis service returns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RootCause(_Public):
    service: str
    issue: str = Field(description="What is wrong, in words, from the strongest evidence.")
    confidence: float = Field(ge=0.0, le=1.0, description="Probability that this service is the origin.")


class RankedService(_Public):
    service: str
    score: float = Field(ge=0.0, le=1.0, description="Probability of being the origin (sums to 1 over all).")


class Evidence(_Public):
    service: str
    kind: str
    modality: str
    signal: str
    strength: float = Field(description="How unusual against the baseline, as a z-score equivalent.")
    detail: str


class RcaResult(_Public):
    """Everything the analysis concluded, with camelCase names on the wire."""

    root_cause: RootCause = Field(alias="rootCause")
    ranking: list[RankedService]
    affected_services: list[str] = Field(alias="affectedServices")
    evidence: list[Evidence]
    modalities: list[str] = Field(default_factory=list, description="Which data the bundle held.")
    detection_time: float | None = Field(default=None, alias="detectionTime")

    def public(self) -> dict[str, object]:
        """The documented output document: rootCause, ranking, affectedServices, evidence."""
        return self.model_dump(by_alias=True, include={"root_cause", "ranking", "affected_services", "evidence"})

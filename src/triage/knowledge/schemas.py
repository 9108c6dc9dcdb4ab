"""Knowledge-base records."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Risk(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Fix(BaseModel):
    """A remediation an engineer can take, with what history says about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fix_id: str
    action: str
    estimated_minutes: int = Field(ge=1, le=24 * 60)
    risk: Risk = Risk.MEDIUM
    automated: bool = False  # the recovery orchestrator may run it without a human at CRITICAL/HIGH


class RunbookSection(StrEnum):
    """The nine parts every runbook article has, in order."""

    OVERVIEW = "overview"
    SYMPTOMS = "symptoms"
    IMPACT = "impact"
    IMMEDIATE_ACTIONS = "immediate_actions"
    DIAGNOSIS = "diagnosis"
    RESOLUTION = "resolution"
    ROLLBACK = "rollback"
    VERIFICATION = "verification"
    FOLLOW_UP = "follow_up"


class Article(BaseModel):
    """A knowledge-base article: a runbook we wrote, or a past incident imported from a post-mortem."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    article_id: str
    kind: str = Field(pattern="^(runbook|postmortem|incident)$")
    title: str
    category: str | None = None
    summary: str = ""
    services: tuple[str, ...] = ()
    root_cause: str = ""
    root_cause_labels: tuple[str, ...] = ()
    symptoms: str = ""
    mitigations: tuple[str, ...] = ()
    sections: dict[str, str] = Field(default_factory=dict)  # RunbookSection value -> markdown
    fixes: tuple[str, ...] = ()  # fix ids
    link: str | None = None

    def search_text(self) -> str:
        parts = [self.title, self.summary, self.root_cause, self.symptoms, " ".join(self.mitigations)]
        parts += [self.category or "", " ".join(self.root_cause_labels), " ".join(self.services)]
        parts += list(self.sections.values())
        return "\n".join(p for p in parts if p)


class KnownPattern(BaseModel):
    """A signature of a known error (regex over the redacted message or template) and what it means."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pattern_id: str
    signature: str  # a Python regex, case-insensitive
    category: str
    severity: str | None = None  # CRITICAL/HIGH/MEDIUM/LOW when the pattern implies one
    probable_cause: str
    fixes: tuple[str, ...] = ()  # fix ids, in the pack's preferred order
    runbook: str | None = None  # article id


class FixStats(BaseModel):
    """How a fix has fared when applied (updated when incidents are resolved)."""

    model_config = ConfigDict(frozen=True)

    fix_id: str
    attempts: int = 0
    successes: int = 0
    total_minutes: float = 0.0  # summed time to resolution over the successes whose time is known
    timed_successes: int = 0

    @property
    def success_rate(self) -> float:
        # Laplace-smoothed so an untried fix ranks between proven and failed ones.
        return (self.successes + 1) / (self.attempts + 2)

    @property
    def mean_minutes(self) -> float | None:
        return self.total_minutes / self.timed_successes if self.timed_successes else None

"""The restoration orchestrator: the seed's decision tree as a pure planner, plus an executor.

Decision tree::

    known issue?  ── yes → targeted fix ─┐
        │                                ├─ healthy? → monitor, done
        no → AI diagnosis confident? ─ yes → suggested fix ─┘
                 │                              │ not healthy
                 no ───────────────────────────→ progressive rollback: undo recent changes newest first,
                                                 validating after each, stop once healthy
                                                  │ still not healthy
                                                  → full restore from the last good snapshot (last resort)
                                                  │ still not healthy
                                                  → escalate to people

The plan is a list of *stages*; each stage acts, then validates. The executor runs them in order and stops
at the first stage after which the system is healthy (then monitors). Whether stages run by themselves is
the rollback decision matrix: CRITICAL and HIGH severities run automatically; MEDIUM and LOW need an
approval for every acting stage. Inputs are typed records so the incident/diagnosis layer can fill them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triage.errors import TriageError
from triage.recovery.health import CheckLevel, HealthReport
from triage.recovery.records import STEP, AuditSink, RecoveryRecord, no_audit


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class DiagnosisSummary:
    """What the diagnosis layer concluded about an incident, as far as recovery needs it."""

    incident_id: str
    severity: Severity
    category: str
    known_issue: str | None = None  # id of the matched known issue, if any
    targeted_fix: str | None = None  # the fix the knowledge base prescribes for it
    confidence: float = 0.0  # of the AI diagnosis, 0..1
    suggested_fix: str | None = None


@dataclass(frozen=True, slots=True)
class RecentChange:
    """A change applied before the incident that can be undone (config, model alias, store, code…)."""

    change_id: str
    kind: str
    applied_at: datetime
    description: str = ""


@dataclass(frozen=True, slots=True)
class LastGoodSnapshot:
    snapshot_id: str
    created_at: datetime


class RecoveryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    high_confidence: float = Field(default=0.8, ge=0, le=1)
    automatic: frozenset[Severity] = frozenset({Severity.CRITICAL, Severity.HIGH})
    max_rollback_steps: int = Field(default=5, ge=0)
    validation_level: CheckLevel = CheckLevel.IMMEDIATE
    monitor_level: CheckLevel = CheckLevel.EXTENDED


StageKind = Literal["targeted_fix", "suggested_fix", "rollback_change", "full_restore", "escalate"]


@dataclass(frozen=True, slots=True)
class Stage:
    kind: StageKind
    target: str  # fix id, change id, snapshot id, or why we escalate
    description: str
    needs_approval: bool
    change: RecentChange | None = None


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    incident_id: str
    branch: Literal["known_issue", "confident_diagnosis", "uncertain_diagnosis"]
    automatic: bool
    stages: tuple[Stage, ...]
    validation_level: CheckLevel
    monitor_level: CheckLevel

    def describe(self) -> list[str]:
        mode = "runs automatically" if self.automatic else "each step waits for approval"
        lines = [f"incident {self.incident_id}: {self.branch.replace('_', ' ')} ({mode})"]
        for i, stage in enumerate(self.stages, 1):
            tail = "" if stage.kind == "escalate" else f", then {self.validation_level.value} health checks"
            lines.append(f"  {i}. {stage.description}{tail}")
        lines.append(f"  once healthy: monitor with {self.monitor_level.value} checks")
        return lines


def plan_recovery(
    diagnosis: DiagnosisSummary,
    changes: Sequence[RecentChange],
    last_good: LastGoodSnapshot | None,
    policy: RecoveryPolicy | None = None,
) -> RecoveryPlan:
    """The decision tree; pure."""
    policy = policy or RecoveryPolicy()
    automatic = diagnosis.severity in policy.automatic
    approval = not automatic
    stages: list[Stage] = []
    if diagnosis.known_issue and diagnosis.targeted_fix:
        branch: Literal["known_issue", "confident_diagnosis", "uncertain_diagnosis"] = "known_issue"
        stages.append(Stage("targeted_fix", diagnosis.targeted_fix,
                            f"apply the known fix {diagnosis.targeted_fix} for {diagnosis.known_issue}", approval))  # fmt: skip
    elif diagnosis.confidence >= policy.high_confidence and diagnosis.suggested_fix:
        branch = "confident_diagnosis"
        stages.append(Stage("suggested_fix", diagnosis.suggested_fix,
                            f"apply the suggested fix {diagnosis.suggested_fix} "
                            f"({diagnosis.category}, confidence {diagnosis.confidence:.0%})", approval))  # fmt: skip
    else:
        branch = "uncertain_diagnosis"
    newest_first = sorted(changes, key=lambda c: c.applied_at, reverse=True)[: policy.max_rollback_steps]
    for change in newest_first:
        stages.append(Stage("rollback_change", change.change_id,
                            f"roll back {change.kind} change {change.change_id}"
                            + (f" ({change.description})" if change.description else ""), approval, change))  # fmt: skip
    if last_good is not None:
        stages.append(Stage("full_restore", last_good.snapshot_id,
                            f"restore the full system from snapshot {last_good.snapshot_id}", approval))  # fmt: skip
    stages.append(Stage("escalate", diagnosis.incident_id, "escalate to the on-call engineers", False))
    return RecoveryPlan(
        diagnosis.incident_id, branch, automatic, tuple(stages), policy.validation_level, policy.monitor_level
    )


# -- executing -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepRunners:
    """How each kind of stage is carried out; injected by the layer that can (incidents/changes/CLI)."""

    apply_fix: Callable[[str], None]
    rollback_change: Callable[[RecentChange], None]
    full_restore: Callable[[str], None]
    health: Callable[[CheckLevel], HealthReport]
    escalate: Callable[[str, str], None] = lambda incident, why: None
    approve: Callable[[Stage], bool] = lambda stage: False


@dataclass(frozen=True, slots=True)
class StepLog:
    stage: int
    kind: str
    target: str
    outcome: Literal["healthy", "unhealthy", "failed", "awaiting_approval", "escalated", "monitored"]
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class RecoveryOutcome:
    incident_id: str
    status: Literal["recovered", "escalated", "awaiting_approval"]
    resolved_by: str | None
    steps: tuple[StepLog, ...]
    monitor: HealthReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id,
            "status": self.status,
            "resolved_by": self.resolved_by,
            "steps": [
                {
                    "stage": s.stage,
                    "kind": s.kind,
                    "target": s.target,
                    "outcome": s.outcome,
                    "detail": s.detail,
                }
                for s in self.steps
            ],
            "monitor": self.monitor.as_dict() if self.monitor else None,
        }


def execute_recovery(
    plan: RecoveryPlan,
    runners: StepRunners,
    *,
    actor: str = "orchestrator",
    audit: AuditSink = no_audit,
    start_stage: int = 1,
) -> RecoveryOutcome:
    """Run the plan's stages until the system is healthy; every step is logged and audited.

    ``start_stage`` resumes a plan that stopped awaiting approval, at the stage that waited.
    """
    steps: list[StepLog] = []

    def log(entry: StepLog) -> None:
        steps.append(entry)
        audit(RecoveryRecord(STEP, "incident", plan.incident_id, actor, None,
                             details={"stage": entry.stage, "kind": entry.kind, "target": entry.target,
                                      "outcome": entry.outcome, "detail": entry.detail}))  # fmt: skip

    for number, stage in enumerate(plan.stages, 1):
        if number < start_stage:
            continue
        if stage.kind == "escalate":
            why = "; ".join(f"{s.kind} {s.target}: {s.outcome}" for s in steps) or "no automatic remedy"
            runners.escalate(plan.incident_id, why)
            log(StepLog(number, stage.kind, stage.target, "escalated", why))
            return RecoveryOutcome(plan.incident_id, "escalated", None, tuple(steps))
        if stage.needs_approval and not runners.approve(stage):
            log(StepLog(number, stage.kind, stage.target, "awaiting_approval", stage.description))
            return RecoveryOutcome(plan.incident_id, "awaiting_approval", None, tuple(steps))
        try:
            if stage.kind in ("targeted_fix", "suggested_fix"):
                runners.apply_fix(stage.target)
            elif stage.kind == "rollback_change":
                assert stage.change is not None
                runners.rollback_change(stage.change)
            else:
                runners.full_restore(stage.target)
        except TriageError as exc:
            log(StepLog(number, stage.kind, stage.target, "failed", str(exc)))
            continue
        report = runners.health(plan.validation_level)
        if not report.healthy:
            log(StepLog(number, stage.kind, stage.target, "unhealthy", "; ".join(report.failures())))
            continue
        log(StepLog(number, stage.kind, stage.target, "healthy"))
        monitor = runners.health(plan.monitor_level)
        log(StepLog(number, "monitor", plan.monitor_level.value, "monitored",
                    "healthy" if monitor.healthy else "; ".join(monitor.failures())))  # fmt: skip
        if not monitor.healthy:
            continue  # relapsed while monitored: keep going down the tree
        return RecoveryOutcome(
            plan.incident_id, "recovered", f"{stage.kind} {stage.target}", tuple(steps), monitor
        )
    return RecoveryOutcome(
        plan.incident_id, "escalated", None, tuple(steps)
    )  # pragma: no cover - plans end in escalate

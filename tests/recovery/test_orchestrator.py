"""Every branch of the decision tree, run against a scripted environment.

The environment is a small state machine: each action may cure the fault; health checks report whether it
is cured. No mocks: the executor sees only the runners a real caller would inject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from triage.errors import Conflict
from triage.recovery.health import CheckLevel, CheckResult, HealthReport
from triage.recovery.orchestrator import (
    DiagnosisSummary,
    LastGoodSnapshot,
    RecentChange,
    Severity,
    StepRunners,
    execute_recovery,
    plan_recovery,
)
from triage.recovery.records import RecoveryRecord

T0 = datetime(2026, 5, 27, 6, 0, tzinfo=UTC)
CHANGES = [
    RecentChange("CHG-1", "config", T0 - timedelta(hours=3), "raise pool size"),
    RecentChange("CHG-3", "model", T0 - timedelta(minutes=20), "promote v7"),
    RecentChange("CHG-2", "config", T0 - timedelta(hours=1), "new routing"),
]
GOOD = LastGoodSnapshot("20260527T050000Z-abcdef", T0 - timedelta(hours=1))


@dataclass
class Environment:
    """Healthy once the action named in ``cure`` has run; ``fails`` actions raise; ``relapse`` once."""

    cure: str | None
    fails: set[str] = field(default_factory=set)
    relapse_after_first_cure: bool = False
    actions: list[str] = field(default_factory=list)
    healthy: bool = False
    approvals: list[str] = field(default_factory=list)
    approve_all: bool = False
    escalated: list[str] = field(default_factory=list)

    def act(self, name: str) -> None:
        self.actions.append(name)
        if name in self.fails:
            raise Conflict(f"{name} could not be applied")
        if name == self.cure:
            self.healthy = True

    def health(self, level: CheckLevel) -> HealthReport:
        status = "pass" if self.healthy else "fail"
        if level is CheckLevel.EXTENDED and self.relapse_after_first_cure and self.healthy:
            self.healthy = False
            self.relapse_after_first_cure = False
            self.cure = "full_restore:" + GOOD.snapshot_id
            status = "fail"
        check = CheckResult(
            "api_error_rate",
            status,
            0.0 if status == "pass" else 0.2,
            "< 0.10%",
            "" if status == "pass" else "20% errors",
        )
        return HealthReport(level, status == "pass", (check,))

    def runners(self) -> StepRunners:
        return StepRunners(
            apply_fix=lambda fix: self.act(f"fix:{fix}"),
            rollback_change=lambda change: self.act(f"rollback:{change.change_id}"),
            full_restore=lambda snap: self.act(f"full_restore:{snap}"),
            health=self.health,
            escalate=lambda incident, why: self.escalated.append(why),
            approve=lambda stage: self.approvals.append(stage.kind) is None and self.approve_all,
        )


def diagnosis(**kw) -> DiagnosisSummary:
    base = {"incident_id": "INC-7", "severity": Severity.CRITICAL, "category": "database"}
    return DiagnosisSummary(**{**base, **kw})


def test_known_issue_targeted_fix_succeeds_then_monitors() -> None:
    plan = plan_recovery(diagnosis(known_issue="KI-12", targeted_fix="restart-pool"), CHANGES, GOOD)
    assert plan.branch == "known_issue" and plan.automatic
    assert [s.kind for s in plan.stages] == [
        "targeted_fix",
        "rollback_change",
        "rollback_change",
        "rollback_change",
        "full_restore",
        "escalate",
    ]
    env = Environment(cure="fix:restart-pool")
    records: list[RecoveryRecord] = []
    outcome = execute_recovery(plan, env.runners(), audit=records.append)
    assert outcome.status == "recovered" and outcome.resolved_by == "targeted_fix restart-pool"
    assert env.actions == ["fix:restart-pool"]
    assert [s.outcome for s in outcome.steps] == ["healthy", "monitored"]
    assert outcome.monitor is not None and outcome.monitor.level is CheckLevel.EXTENDED
    assert [r.details["outcome"] for r in records] == ["healthy", "monitored"]  # every step audited


def test_known_issue_fix_fails_then_progressive_rollback_newest_first_stops_when_healthy() -> None:
    plan = plan_recovery(diagnosis(known_issue="KI-12", targeted_fix="restart-pool"), CHANGES, GOOD)
    env = Environment(cure="rollback:CHG-2")
    outcome = execute_recovery(plan, env.runners())
    assert env.actions == ["fix:restart-pool", "rollback:CHG-3", "rollback:CHG-2"]  # CHG-1 never touched
    assert outcome.status == "recovered" and outcome.resolved_by == "rollback_change CHG-2"
    assert [s.outcome for s in outcome.steps] == ["unhealthy", "unhealthy", "healthy", "monitored"]


def test_unknown_issue_confident_diagnosis_applies_suggested_fix() -> None:
    plan = plan_recovery(diagnosis(confidence=0.93, suggested_fix="increase-timeout"), CHANGES, GOOD)
    assert plan.branch == "confident_diagnosis"
    env = Environment(cure="fix:increase-timeout")
    assert execute_recovery(plan, env.runners()).resolved_by == "suggested_fix increase-timeout"


def test_unknown_issue_uncertain_diagnosis_goes_straight_to_progressive_rollback() -> None:
    plan = plan_recovery(diagnosis(confidence=0.55, suggested_fix="increase-timeout"), CHANGES, GOOD)
    assert plan.branch == "uncertain_diagnosis"
    assert plan.stages[0].kind == "rollback_change" and plan.stages[0].target == "CHG-3"
    env = Environment(cure="rollback:CHG-1")
    outcome = execute_recovery(plan, env.runners())
    assert env.actions == ["rollback:CHG-3", "rollback:CHG-2", "rollback:CHG-1"]
    assert outcome.status == "recovered"


def test_full_restore_is_the_last_resort() -> None:
    plan = plan_recovery(diagnosis(), CHANGES, GOOD)
    env = Environment(cure=f"full_restore:{GOOD.snapshot_id}")
    outcome = execute_recovery(plan, env.runners())
    assert env.actions[-1] == f"full_restore:{GOOD.snapshot_id}"
    assert outcome.resolved_by == f"full_restore {GOOD.snapshot_id}"


def test_nothing_helps_escalates_with_the_history() -> None:
    plan = plan_recovery(diagnosis(known_issue="KI-1", targeted_fix="f"), CHANGES[:1], GOOD)
    env = Environment(cure=None, fails={"rollback:CHG-1"})
    outcome = execute_recovery(plan, env.runners())
    assert outcome.status == "escalated"
    assert [s.outcome for s in outcome.steps] == ["unhealthy", "failed", "unhealthy", "escalated"]
    assert "CHG-1: failed" in env.escalated[0]


def test_no_changes_and_no_snapshot_escalates_after_the_fix() -> None:
    plan = plan_recovery(diagnosis(known_issue="KI-1", targeted_fix="f"), [], None)
    assert [s.kind for s in plan.stages] == ["targeted_fix", "escalate"]


def test_medium_and_low_wait_for_approval_critical_and_high_do_not() -> None:
    for severity, automatic in (
        (Severity.CRITICAL, True),
        (Severity.HIGH, True),
        (Severity.MEDIUM, False),
        (Severity.LOW, False),
    ):
        plan = plan_recovery(diagnosis(severity=severity), CHANGES, GOOD)
        assert plan.automatic is automatic
        assert all(s.needs_approval is not automatic for s in plan.stages if s.kind != "escalate")
    plan = plan_recovery(diagnosis(severity=Severity.MEDIUM), CHANGES, GOOD)
    env = Environment(cure="rollback:CHG-3")
    outcome = execute_recovery(plan, env.runners())
    assert (
        outcome.status == "awaiting_approval" and env.actions == [] and env.approvals == ["rollback_change"]
    )
    env.approve_all = True
    resumed = execute_recovery(plan, env.runners(), start_stage=outcome.steps[-1].stage)
    assert resumed.status == "recovered" and env.actions == ["rollback:CHG-3"]


def test_relapse_during_monitoring_continues_down_the_tree() -> None:
    plan = plan_recovery(diagnosis(known_issue="KI-1", targeted_fix="f"), [], GOOD)
    env = Environment(cure="fix:f", relapse_after_first_cure=True)
    outcome = execute_recovery(plan, env.runners())
    assert env.actions == ["fix:f", f"full_restore:{GOOD.snapshot_id}"]
    assert outcome.status == "recovered"
    assert [s.outcome for s in outcome.steps] == ["healthy", "monitored", "healthy", "monitored"]


def test_plan_describes_itself_for_dry_runs() -> None:
    lines = plan_recovery(diagnosis(severity=Severity.LOW), CHANGES, GOOD).describe()
    assert "waits for approval" in lines[0]
    assert "roll back model change CHG-3 (promote v7)" in lines[1]

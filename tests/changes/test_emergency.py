from __future__ import annotations

from datetime import timedelta

import pytest

from triage.audit.log import AuditLog
from triage.changes.emergency import DeadlineState, EmergencyTrigger
from triage.changes.schemas import Actor, ChangeState, ChangeType, Milestone, Role
from triage.changes.service import ChangeService
from triage.errors import InvalidInput

ONCALL = Actor(user="olga", role=Role.ENGINEER)
LEAD = Actor(user="carol", role=Role.APPROVER)
CTO = Actor(user="dan", role=Role.ADMIN)


def diagnosis(clock, severity: str = "CRITICAL", ago_s: float = 60) -> dict:
    """The seed's diagnosis JSON, as the scorer returns it."""
    return {
        "errorId": "err-8f2c",
        "incidentId": "INC-0042",
        "detectedAt": (clock.now - timedelta(seconds=ago_s)).isoformat(),
        "severity": severity,
        "category": "database",
        "affectedServices": ["api", "records"],
        "rootCause": {"service": "postgres", "issue": "connection pool exhausted", "confidence": 0.87},
        "suggestedFixes": [{"action": "raise pool size", "priority": 1, "estimatedTime": "5m", "risk": "LOW"}],
    }


@pytest.fixture
def breaches(service: ChangeService) -> list:
    seen: list = []
    service.on_breach = seen.append
    return seen


def test_a_critical_diagnosis_opens_an_emergency_change_with_its_deadlines(service, clock, breaches) -> None:
    trigger = EmergencyTrigger.from_diagnosis(diagnosis(clock))
    cr = service.open_emergency_change(trigger=trigger)
    assert cr.type is ChangeType.EMERGENCY and cr.state is ChangeState.AUTHORIZE
    assert cr.services == ("postgres", "api", "records") and cr.incident_id == "INC-0042"
    assert cr.title == "Emergency: connection pool exhausted" and cr.requester == "triage"
    assert cr.detected_at == clock.now - timedelta(minutes=1)
    assert {m: cr.milestones[m] for m in cr.milestones} == {
        Milestone.DECLARED: clock.now, Milestone.REQUESTED: clock.now, Milestone.IMPACT_ANALYSIS: clock.now}
    assert cr.risk is not None and len(cr.risk.impacted_services) == 8 and cr.risk.score == 7
    due = {s.milestone: s.due_at - cr.detected_at for s in service.deadlines(change_id=cr.id)}
    assert due == {
        Milestone.DECLARED: timedelta(minutes=2), Milestone.REQUESTED: timedelta(minutes=3),
        Milestone.IMPACT_ANALYSIS: timedelta(minutes=5), Milestone.APPROVAL: timedelta(minutes=10),
        Milestone.IMPLEMENTATION: timedelta(minutes=30), Milestone.VALIDATION: timedelta(minutes=45),
        Milestone.POST_INCIDENT_REVIEW: timedelta(hours=24),
    }
    states = {s.milestone: s.state for s in service.deadlines(change_id=cr.id)}
    assert states[Milestone.DECLARED] is DeadlineState.MET and states[Milestone.APPROVAL] is DeadlineState.PENDING
    assert breaches == []
    # once per incident
    assert service.open_emergency_change(trigger=trigger).id == cr.id
    assert len(service.list(type=ChangeType.EMERGENCY)) == 1


def test_only_critical_opens_and_bad_diagnoses_are_refused(service, clock) -> None:
    with pytest.raises(InvalidInput, match="CRITICAL"):
        service.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(diagnosis(clock, "HIGH")))
    bad = diagnosis(clock)
    del bad["detectedAt"]
    with pytest.raises(InvalidInput, match="detected_at"):
        EmergencyTrigger.from_diagnosis(bad)


def test_a_missed_approval_deadline_escalates_once(service, clock, breaches) -> None:
    cr = service.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(diagnosis(clock)))
    clock.advance(minutes=8)  # 9 min after detection: still in time
    assert service.check_deadlines() == []
    clock.advance(minutes=2)  # 11 min: approval is late
    found = service.check_deadlines()
    assert [b.milestone for b in found] == [Milestone.APPROVAL] and breaches == found
    assert found[0].change_id == cr.id and found[0].incident_id == "INC-0042"
    assert found[0].overdue == timedelta(minutes=1) and "approval deadline" in found[0].message()
    assert service.check_deadlines() == []  # not twice
    logged = AuditLog(service.db).entries(action="change.deadline_breached")
    assert len(logged) == 1 and logged[0].event.details["milestone"] == "approval"
    # late approvals still count; the next deadline is implementation at 30 min
    service.approve(change_id=cr.id, actor=ONCALL)
    service.approve(change_id=cr.id, actor=LEAD)
    service.approve(change_id=cr.id, actor=CTO)  # postgres reaches every service: a major change
    service.implement(change_id=cr.id, actor=ONCALL)
    clock.advance(minutes=20)  # 31 min
    assert [b.milestone for b in service.check_deadlines()] == [Milestone.IMPLEMENTATION]
    states = {s.milestone: s.state for s in service.deadlines(change_id=cr.id)}
    assert states[Milestone.APPROVAL] is DeadlineState.MET_LATE
    assert states[Milestone.IMPLEMENTATION] is DeadlineState.BREACHED


def test_a_late_declaration_escalates_at_once(service, clock, breaches) -> None:
    service.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(diagnosis(clock, ago_s=150)))
    assert [b.milestone for b in breaches] == [Milestone.DECLARED]


def test_an_emergency_handled_in_time_breaches_nothing(service, clock, breaches) -> None:
    cr = service.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(diagnosis(clock)))
    clock.advance(minutes=4)
    service.approve(change_id=cr.id, actor=ONCALL)
    service.approve(change_id=cr.id, actor=LEAD)
    service.approve(change_id=cr.id, actor=CTO)  # postgres reaches every service: a major change
    clock.advance(minutes=3)
    service.implement(change_id=cr.id, actor=ONCALL)
    clock.advance(minutes=15)
    service.review(change_id=cr.id, actor=ONCALL)
    clock.advance(minutes=10)
    service.review(change_id=cr.id, actor=ONCALL, validation=True, notes="error rate at baseline")
    clock.advance(hours=20)
    assert service.check_deadlines() == []
    with pytest.raises(InvalidInput, match="post-incident review"):
        service.close(change_id=cr.id, actor=LEAD)
    cr = service.close(change_id=cr.id, actor=LEAD, notes="pool sized from peak load; alert added")
    assert all(s.state is DeadlineState.MET for s in service.deadlines(change_id=cr.id))
    clock.advance(hours=10)
    assert service.check_deadlines() == [] and breaches == []  # closed changes are not watched

from __future__ import annotations

from datetime import timedelta

import pytest

from triage.audit.log import AuditLog
from triage.changes.config import BlackoutWindow
from triage.changes.schemas import (
    Actor,
    ChangeState,
    ChangeType,
    CloseCode,
    ImpactInput,
    InvalidTransition,
    RiskLevel,
    Role,
    RollbackComplexity,
    ScheduleConflict,
    ScheduleWindow,
    SelfApproval,
)
from triage.changes.service import ChangeService
from triage.errors import InvalidInput, NotFound

ALICE = Actor(user="alice", role=Role.ENGINEER)
CAROL = Actor(user="carol", role=Role.APPROVER)
DAN = Actor(user="dan", role=Role.ADMIN)


def window(clock, start_h: float, end_h: float) -> ScheduleWindow:
    return ScheduleWindow(start=clock.now + timedelta(hours=start_h), end=clock.now + timedelta(hours=end_h))


def normal(service: ChangeService, services=("records",), **kw):
    fields = dict(type=ChangeType.NORMAL, title="Add index to records", services=services, requester="alice",
                  actor=ALICE, rollback_procedure="drop the index", justification="slow queries")
    fields.update(kw)
    return service.create(**fields)


def actions(service: ChangeService, change_id: str) -> list[str]:
    return [e.event.action for e in AuditLog(service.db).entries(subject_id=change_id)]


def test_normal_change_from_request_to_close(service: ChangeService, clock) -> None:
    snapshots = []
    service.snapshot = lambda cr: snapshots.append(cr.state) or "snap-42"
    cr = normal(service)
    assert (cr.id, cr.state) == ("CHG-000001", ChangeState.NEW)
    cr = service.assess(change_id=cr.id, actor=ALICE, impact=ImpactInput(user_impact="partial"))
    assert cr.state is ChangeState.AUTHORIZE and cr.risk.level is RiskLevel.MEDIUM
    cr = service.schedule(change_id=cr.id, actor=ALICE, window=window(clock, 1, 2))
    assert cr.state is ChangeState.AUTHORIZE  # still waiting for the technical lead
    cr = service.approve(change_id=cr.id, actor=CAROL, comment="looks safe")
    assert cr.state is ChangeState.SCHEDULED
    with pytest.raises(InvalidTransition, match="window"):
        service.implement(change_id=cr.id, actor=ALICE)  # too early
    assert snapshots == []
    clock.advance(minutes=65)
    cr = service.implement(change_id=cr.id, actor=ALICE)
    assert cr.state is ChangeState.IMPLEMENT and cr.snapshot_id == "snap-42" and snapshots == [ChangeState.SCHEDULED]
    cr = service.review(change_id=cr.id, actor=ALICE, validation=True, notes="p99 back to 40 ms")
    cr = service.close(change_id=cr.id, actor=CAROL, notes="done")
    assert (cr.state, cr.close_code) == (ChangeState.CLOSED, CloseCode.SUCCESSFUL)
    assert service.get(change_id=cr.id) == cr
    assert actions(service, cr.id) == [
        "change.created", "change.transitioned", "change.assessed", "change.transitioned", "change.scheduled",
        "change.approved", "change.transitioned", "change.transitioned", "change.transitioned",
        "change.validated", "change.transitioned",
    ]
    implement = AuditLog(service.db).entries(subject_id=cr.id)[7].event
    assert implement.details["snapshot_id"] == "snap-42" and implement.before["state"] == "scheduled"
    assert AuditLog(service.db).verify().ok


def test_refused_steps_change_nothing(service: ChangeService) -> None:
    cr = service.assess(change_id=normal(service).id, actor=ALICE)
    count = len(AuditLog(service.db).entries())
    with pytest.raises(SelfApproval):
        service.approve(change_id=cr.id, actor=Actor(user="alice", role=Role.ADMIN))
    with pytest.raises(InvalidTransition):
        service.close(change_id=cr.id, actor=DAN)
    assert service.get(change_id=cr.id) == cr
    assert len(AuditLog(service.db).entries()) == count


def test_ids_and_lookups(service: ChangeService) -> None:
    a, b = normal(service), normal(service, services=("web",))
    assert (a.id, b.id) == ("CHG-000001", "CHG-000002")
    assert [c.id for c in service.list(service="web")] == ["CHG-000002"]
    assert len(service.list(state=ChangeState.NEW, type=ChangeType.NORMAL, open_only=True)) == 2
    with pytest.raises(NotFound):
        service.get(change_id="CHG-000099")
    with pytest.raises(InvalidInput):
        service.get(change_id="../etc")
    with pytest.raises(InvalidInput):
        normal(service, services=(" ",))


def test_overlapping_windows_on_dependent_services_are_refused(service: ChangeService, clock) -> None:
    first = normal(service, services=("postgres",), window=window(clock, 1, 3))
    with pytest.raises(ScheduleConflict, match=first.id):
        normal(service, services=("web",), window=window(clock, 2, 4))
    second = normal(service, services=("web",))
    with pytest.raises(ScheduleConflict, match="dependent"):
        service.schedule(change_id=second.id, actor=ALICE, window=window(clock, 2.5, 5))
    assert service.schedule(change_id=second.id, actor=ALICE, window=window(clock, 3, 5)).window is not None
    assert [c.ref for c in service.conflicts(change_id=second.id, window=window(clock, 0, 9))] == [first.id]
    service.cancel(change_id=first.id, actor=ALICE, reason="superseded")
    assert service.conflicts(change_id=second.id, window=window(clock, 0, 9)) == []


def test_blackouts_refuse_planned_changes_but_only_warn_emergencies(service: ChangeService, clock) -> None:
    service.config = service.config.model_copy(update={"blackouts": (
        BlackoutWindow(name="EHR migration", start=clock.now, end=clock.now + timedelta(hours=6)),)})
    with pytest.raises(ScheduleConflict, match="EHR migration"):
        normal(service, window=window(clock, 1, 2))
    emergency = service.create(type=ChangeType.EMERGENCY, title="fix", services=("records",), requester="alice",
                               actor=ALICE, window=window(clock, 0, 1))
    assert emergency.state is ChangeState.AUTHORIZE and "EHR migration" in emergency.warnings[0]


def test_standard_change_from_the_catalogue(service: ChangeService, clock) -> None:
    cr = service.create(type=ChangeType.STANDARD, template_id="service-restart", title="Restart web-3",
                        services=("web",), requester="alice", actor=ALICE, window=window(clock, 0, 1))
    assert cr.state is ChangeState.SCHEDULED and cr.risk.level is RiskLevel.LOW and cr.approvals == ()
    assert "Health check" in cr.validation_plan
    with pytest.raises(InvalidTransition, match="too high for a standard change"):
        service.create(type=ChangeType.STANDARD, template_id="service-restart", title="Restart postgres",
                       services=("postgres",), requester="alice", actor=ALICE, window=window(clock, 2, 3))
    with pytest.raises(NotFound, match="catalogue"):
        service.create(type=ChangeType.STANDARD, template_id="nope", title="x", services=("web",),
                       requester="alice", actor=ALICE)
    with pytest.raises(InvalidInput, match="template"):
        service.create(type=ChangeType.STANDARD, title="x", services=("web",), requester="alice", actor=ALICE)


def test_rollback_reverts_records_why_and_feeds_history(service: ChangeService, clock) -> None:
    reverted = []
    service.revert = lambda cr: reverted.append(cr.id) or "restored snap-1"
    cr = normal(service, window=window(clock, 0, 1))
    service.assess(change_id=cr.id, actor=ALICE)
    service.approve(change_id=cr.id, actor=CAROL)
    service.implement(change_id=cr.id, actor=ALICE)
    cr = service.rollback(change_id=cr.id, actor=ALICE, reason="error rate doubled")
    assert cr.state is ChangeState.ROLLED_BACK and reverted == [cr.id] and cr.rollback_reason == "error rate doubled"
    event = AuditLog(service.db).entries(action="change.rolled_back")[0].event
    assert event.reason == "error rate doubled" and event.details["reverted"] == "restored snap-1"
    service.review(change_id=cr.id, actor=ALICE, notes="index locked the table")
    assert service.close(change_id=cr.id, actor=CAROL).close_code is CloseCode.ROLLED_BACK
    nxt = service.assess(change_id=normal(service).id, actor=ALICE)
    history = next(f for f in nxt.risk.factors if f.name == "history")
    assert history.value == "1/1 failed" and history.points == 2


def test_model_promotion_goes_through_change_control(service: ChangeService) -> None:
    cr = service.request_model_promotion(model="diag_lgbm", challenger_version="7", champion_version="6",
                                         evaluation_passed=True, requester="mlops", metrics={"macro_f1": 0.91})
    assert cr.type is ChangeType.STANDARD and cr.state is ChangeState.SCHEDULED
    assert cr.template_id == "model-promotion" and cr.subject == "model:diag_lgbm@7" and "0.91" in cr.description
    moved = []
    done = service.carry_out(change_id=cr.id, actor=Actor(user="mlops", role=Role.ENGINEER),
                             apply=lambda c: moved.append(c.subject) or {"champion": "7"}, validate=lambda c: True)
    assert moved == ["model:diag_lgbm@7"] and done.state is ChangeState.CLOSED
    assert done.close_code is CloseCode.SUCCESSFUL

    gated = service.request_model_promotion(model="diag_lgbm", challenger_version="8", evaluation_passed=False,
                                            requester="mlops")
    assert gated.type is ChangeType.NORMAL and gated.state is ChangeState.AUTHORIZE
    with pytest.raises(SelfApproval):
        service.approve(change_id=gated.id, actor=Actor(user="mlops", role=Role.APPROVER))
    service.approve(change_id=gated.id, actor=CAROL)
    assert service.get(change_id=gated.id).state is ChangeState.AUTHORIZE  # approved, not yet scheduled


def test_carry_out_rolls_back_on_failed_validation(service: ChangeService) -> None:
    undone = []
    service.revert = lambda cr: undone.append(cr.id) or "alias moved back"
    cr = service.request_model_promotion(model="m", challenger_version="2", evaluation_passed=True,
                                         requester="mlops")
    final = service.carry_out(change_id=cr.id, actor=ALICE, apply=lambda c: None, validate=lambda c: False)
    assert final.state is ChangeState.CLOSED and final.close_code is CloseCode.ROLLED_BACK and undone == [cr.id]

    boom = service.request_model_promotion(model="m", challenger_version="3", evaluation_passed=True,
                                           requester="mlops")

    def fail(_):
        raise RuntimeError("registry unreachable")

    with pytest.raises(RuntimeError):
        service.carry_out(change_id=boom.id, actor=ALICE, apply=fail)
    after = service.get(change_id=boom.id)
    assert after.state is ChangeState.ROLLED_BACK and "registry unreachable" in after.rollback_reason


def test_reassessment_with_phi_adds_the_compliance_officer(service: ChangeService) -> None:
    cr = service.assess(change_id=normal(service).id, actor=ALICE,
                        impact=ImpactInput(phi=True, rollback_complexity=RollbackComplexity.SIMPLE))
    assert cr.risk.level is RiskLevel.HIGH
    service.approve(change_id=cr.id, actor=CAROL)
    cr = service.approve(change_id=cr.id, actor=DAN)  # admin: compliance officer by default
    assert {a.authority for a in cr.approvals} == {"technical_lead", "compliance_officer"}

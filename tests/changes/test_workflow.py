from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from triage.changes import workflow
from triage.changes.config import AuthorityHolders, ChangeConfig
from triage.changes.schemas import (
    Actor,
    ApprovalRequired,
    Authority,
    ChangeRequest,
    ChangeState,
    ChangeType,
    CloseCode,
    ImpactInput,
    InvalidTransition,
    RiskAssessment,
    RiskLevel,
    Role,
    ScheduleWindow,
    SelfApproval,
)
from triage.changes.workflow import ALLOWED, approve, required_authorities, transition
from triage.errors import Conflict, InvalidInput, PermissionDenied

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
ADMIN = Actor(user="root", role=Role.ADMIN)


def risk(score: int) -> RiskAssessment:
    level = RiskLevel.CRITICAL if score >= 9 else RiskLevel.HIGH if score >= 7 else RiskLevel.LOW
    return RiskAssessment(score=score, level=level, factors=(), impacted_services=("db",), assessed_at=NOW,
                          assessed_by="x")


def change(type: ChangeType = ChangeType.NORMAL, state: ChangeState = ChangeState.NEW, **update) -> ChangeRequest:
    fields = dict(
        id="CHG-000001", type=type, state=state, title="t", requester="alice", services=("db",),
        rollback_procedure="restore the snapshot", created_at=NOW, updated_at=NOW,
    )
    fields.update(update)
    return ChangeRequest(**fields)


def ready(type: ChangeType, state: ChangeState) -> ChangeRequest:
    """A change in `state` whose guards all pass for a root admin acting at NOW."""
    cr = change(type, state, risk=risk(2), window=ScheduleWindow(start=NOW - timedelta(hours=1),
                                                                   end=NOW + timedelta(hours=1)),
                validation_passed=True, review_notes="post-incident review held", detected_at=NOW)
    config = ChangeConfig()
    for authority in required_authorities(cr, config):
        cr = cr.model_copy(update={"approvals": (*cr.approvals, workflow.Approval(
            authority=authority, user=f"u-{authority}", role=Role.ADMIN, at=NOW))})
    return cr


CASES = [
    (t, s, to)
    for t in ChangeType
    for s in ChangeState
    for to in ChangeState
]


@pytest.mark.parametrize(("type_", "state", "to"), CASES, ids=[f"{t}:{s}->{to}" for t, s, to in CASES])
def test_every_transition_is_allowed_or_refused_as_the_table_says(type_, state, to) -> None:
    cr = ready(type_, state)
    allowed = to in ALLOWED[type_].get(state, frozenset())
    if allowed:
        new, event = transition(cr, to, ADMIN, NOW, reason="because")
        assert new.state is to and new.version == cr.version + 1
        assert event.subject_id == cr.id and event.actor == "root"
        assert event.before["state"] == str(state) and event.after["state"] == str(to)
        assert cr.state is state  # the input is untouched: pure function
    else:
        with pytest.raises(InvalidTransition) as info:
            transition(cr, to, ADMIN, NOW, reason="because")
        assert isinstance(info.value, Conflict)


def test_the_table_holds_the_three_paths() -> None:
    def path(type_: ChangeType, *states: ChangeState) -> None:
        for a, b in pairwise(states):
            assert b in ALLOWED[type_][a], f"{type_}: {a}->{b}"

    S = ChangeState
    path(ChangeType.NORMAL, S.NEW, S.ASSESS, S.AUTHORIZE, S.SCHEDULED, S.IMPLEMENT, S.REVIEW, S.CLOSED)
    path(ChangeType.STANDARD, S.NEW, S.SCHEDULED, S.IMPLEMENT, S.REVIEW, S.CLOSED)
    path(ChangeType.EMERGENCY, S.NEW, S.AUTHORIZE, S.IMPLEMENT, S.ROLLED_BACK, S.REVIEW, S.CLOSED)
    assert S.ASSESS not in ALLOWED[ChangeType.STANDARD][S.NEW]
    assert S.ASSESS not in ALLOWED[ChangeType.EMERGENCY][S.NEW]
    for t in ChangeType:
        for final in (S.CLOSED, S.CANCELED, S.REJECTED):
            assert not ALLOWED[t][final]


def test_normal_change_needs_an_impact_analysis_and_a_rollback_plan() -> None:
    with pytest.raises(InvalidTransition, match="impact analysis"):
        transition(change(state=ChangeState.ASSESS), ChangeState.AUTHORIZE, ADMIN, NOW)
    with pytest.raises(InvalidTransition, match="rollback procedure"):
        transition(change(state=ChangeState.ASSESS, risk=risk(2), rollback_procedure=" "),
                   ChangeState.AUTHORIZE, ADMIN, NOW)


def test_scheduling_without_approvals_is_refused() -> None:
    cr = ready(ChangeType.NORMAL, ChangeState.AUTHORIZE).model_copy(update={"approvals": ()})
    with pytest.raises(ApprovalRequired, match="technical_lead"):
        transition(cr, ChangeState.SCHEDULED, ADMIN, NOW)


def test_implementation_only_inside_the_window() -> None:
    cr = ready(ChangeType.NORMAL, ChangeState.SCHEDULED)
    with pytest.raises(InvalidTransition, match="window"):
        transition(cr, ChangeState.IMPLEMENT, ADMIN, NOW + timedelta(hours=2))
    emergency = ready(ChangeType.EMERGENCY, ChangeState.SCHEDULED).model_copy(update={"window": None})
    assert transition(emergency, ChangeState.IMPLEMENT, ADMIN, NOW)[0].state is ChangeState.IMPLEMENT


def test_standard_change_above_low_risk_is_refused() -> None:
    cr = change(ChangeType.STANDARD, risk=risk(5), window=ready(ChangeType.STANDARD, ChangeState.NEW).window)
    with pytest.raises(InvalidTransition, match="too high for a standard change"):
        transition(cr, ChangeState.SCHEDULED, ADMIN, NOW)


@pytest.mark.parametrize("to", [ChangeState.CANCELED, ChangeState.REJECTED])
def test_cancel_and_reject_need_a_reason(to: ChangeState) -> None:
    with pytest.raises(InvalidInput, match="why"):
        transition(ready(ChangeType.NORMAL, ChangeState.AUTHORIZE), to, ADMIN, NOW)


def test_rollback_records_why_and_happens_once() -> None:
    cr, event = transition(ready(ChangeType.NORMAL, ChangeState.IMPLEMENT), ChangeState.ROLLED_BACK, ADMIN, NOW,
                           reason="error rate doubled")
    assert cr.rollback_reason == "error rate doubled" and event.action == "change.rolled_back"
    assert event.reason == "error rate doubled"
    cr, _ = transition(cr, ChangeState.REVIEW, ADMIN, NOW)
    with pytest.raises(InvalidTransition, match="already rolled back"):
        transition(cr, ChangeState.ROLLED_BACK, ADMIN, NOW, reason="again")
    closed, _ = transition(cr, ChangeState.CLOSED, ADMIN, NOW)
    assert closed.close_code is CloseCode.ROLLED_BACK


def test_close_needs_validation_and_emergency_needs_a_review() -> None:
    cr = ready(ChangeType.NORMAL, ChangeState.REVIEW).model_copy(update={"validation_passed": None})
    with pytest.raises(InvalidTransition, match="validation"):
        transition(cr, ChangeState.CLOSED, ADMIN, NOW)
    failed = cr.model_copy(update={"validation_passed": False})
    with pytest.raises(InvalidTransition, match="failed validation"):
        transition(failed, ChangeState.CLOSED, ADMIN, NOW, close_code=CloseCode.SUCCESSFUL)
    assert transition(failed, ChangeState.CLOSED, ADMIN, NOW)[0].close_code is CloseCode.UNSUCCESSFUL
    emergency = ready(ChangeType.EMERGENCY, ChangeState.REVIEW).model_copy(update={"review_notes": None})
    with pytest.raises(InvalidInput, match="post-incident review"):
        transition(emergency, ChangeState.CLOSED, ADMIN, NOW)
    closed, _ = transition(emergency, ChangeState.CLOSED, ADMIN, NOW, reason="root cause: bad index")
    assert closed.review_notes == "root cause: bad index" and closed.milestones


@pytest.mark.parametrize(
    ("role", "to"),
    [
        (Role.ANALYST, ChangeState.ASSESS),
        (Role.SERVICE, ChangeState.IMPLEMENT),
        (Role.APPROVER, ChangeState.IMPLEMENT),
        (Role.ENGINEER, ChangeState.REJECTED),
    ],
)
def test_roles_limit_who_moves_a_change(role: Role, to: ChangeState) -> None:
    state = {ChangeState.ASSESS: ChangeState.NEW, ChangeState.IMPLEMENT: ChangeState.SCHEDULED,
             ChangeState.REJECTED: ChangeState.AUTHORIZE}[to]
    with pytest.raises(PermissionDenied):
        transition(ready(ChangeType.NORMAL, state), to, Actor(user="bob", role=role), NOW, reason="r")


# ------------------------------------------------------------------ approvals


def test_self_approval_is_always_refused() -> None:
    cr = change(state=ChangeState.AUTHORIZE, risk=risk(2))
    for role in Role:
        with pytest.raises(SelfApproval) as info:
            approve(cr, Actor(user="alice", role=role), NOW)
        assert isinstance(info.value, PermissionDenied)
    with pytest.raises(SelfApproval):
        transition(cr, ChangeState.REJECTED, Actor(user="alice", role=Role.ADMIN), NOW, reason="mine")


@pytest.mark.parametrize(
    ("type_", "score", "phi", "expected"),
    [
        (ChangeType.STANDARD, 2, False, []),
        (ChangeType.NORMAL, 2, False, [Authority.TECHNICAL_LEAD]),
        (ChangeType.NORMAL, 7, False, [Authority.TECHNICAL_LEAD, Authority.CTO]),
        (ChangeType.NORMAL, 3, True, [Authority.TECHNICAL_LEAD, Authority.COMPLIANCE_OFFICER]),
        (ChangeType.EMERGENCY, 5, False, [Authority.ON_CALL_ENGINEER, Authority.TECHNICAL_LEAD]),
        (ChangeType.EMERGENCY, 9, True,
         [Authority.ON_CALL_ENGINEER, Authority.TECHNICAL_LEAD, Authority.CTO, Authority.COMPLIANCE_OFFICER]),
    ],
)
def test_the_approvals_each_type_needs(type_, score, phi, expected) -> None:
    cr = change(type_, risk=risk(score), impact=ImpactInput(phi=phi))
    assert required_authorities(cr, ChangeConfig()) == expected


NAMED = ChangeConfig(authorities={
    Authority.ON_CALL_ENGINEER: AuthorityHolders(roles=(Role.ENGINEER, Role.APPROVER), users=("olga",)),
    Authority.TECHNICAL_LEAD: AuthorityHolders(roles=(Role.APPROVER,), users=("carol",)),
    Authority.CTO: AuthorityHolders(roles=(Role.APPROVER, Role.ADMIN), users=("dan",)),
    Authority.COMPLIANCE_OFFICER: AuthorityHolders(roles=(Role.APPROVER,), users=("erin",)),
})


def test_authorities_map_to_named_users_and_roles() -> None:
    cr = change(ChangeType.EMERGENCY, ChangeState.AUTHORIZE, risk=risk(9), impact=ImpactInput(phi=True))
    with pytest.raises(PermissionDenied, match="no approval authority"):
        approve(cr, Actor(user="bob", role=Role.APPROVER), NOW, config=NAMED)  # role fits, name does not
    with pytest.raises(PermissionDenied):
        approve(cr, Actor(user="carol", role=Role.ENGINEER), NOW, config=NAMED)  # name fits, role does not
    with pytest.raises(PermissionDenied, match="does not hold"):
        approve(cr, Actor(user="carol", role=Role.APPROVER), NOW, authority=Authority.CTO, config=NAMED)
    signers = [("olga", Role.ENGINEER), ("carol", Role.APPROVER), ("dan", Role.ADMIN), ("erin", Role.APPROVER)]
    for user, role in signers:
        assert workflow.missing_authorities(cr, NAMED)
        cr, event = approve(cr, Actor(user=user, role=role), NOW, config=NAMED)
        assert event.action == "change.approved"
    assert workflow.missing_authorities(cr, NAMED) == []
    assert {a.authority for a in cr.approvals} == set(Authority)
    assert transition(cr, ChangeState.IMPLEMENT, Actor(user="olga", role=Role.ENGINEER), NOW,
                      config=NAMED)[0].state is ChangeState.IMPLEMENT


def test_one_person_fills_one_authority_and_approvals_need_authorize() -> None:
    cr = change(ChangeType.EMERGENCY, ChangeState.AUTHORIZE, risk=risk(3))
    cr, _ = approve(cr, ADMIN, NOW)
    with pytest.raises(PermissionDenied, match="already approved"):
        approve(cr, ADMIN, NOW)
    with pytest.raises(InvalidTransition):
        approve(change(state=ChangeState.NEW), ADMIN, NOW)
    with pytest.raises(PermissionDenied):
        approve(change(state=ChangeState.AUTHORIZE), Actor(user="ann", role=Role.ANALYST), NOW)

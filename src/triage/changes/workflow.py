"""The change workflow as data plus pure functions.

``ALLOWED[type][state]`` lists where a change may go next; :func:`transition` checks the move, its guards
and the actor's role, and returns the new change with the audit event it causes. Nothing here touches
storage or the clock: ``now`` is passed in.

    normal:    new → assess → authorize → scheduled → implement → review → closed
    standard:  new → scheduled → implement → review → closed          (pre-approved, no board)
    emergency: new → authorize → scheduled|implement → review → closed (fast track)
    any open state → canceled; authorize → rejected; implement|review → rolled_back → review
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from triage.audit.schemas import Actions, AuditEvent, utc
from triage.changes.config import ChangeConfig
from triage.changes.schemas import (
    Actor,
    Approval,
    ApprovalRequired,
    Authority,
    ChangeRequest,
    ChangeState,
    ChangeType,
    CloseCode,
    InvalidTransition,
    Milestone,
    RiskAssessment,
    Role,
    ScheduleWindow,
    SelfApproval,
)
from triage.errors import InvalidInput, PermissionDenied

S = ChangeState

_TAIL: dict[ChangeState, frozenset[ChangeState]] = {
    S.SCHEDULED: frozenset({S.IMPLEMENT, S.CANCELED}),
    S.IMPLEMENT: frozenset({S.REVIEW, S.ROLLED_BACK}),
    S.ROLLED_BACK: frozenset({S.REVIEW}),
    S.REVIEW: frozenset({S.CLOSED, S.ROLLED_BACK}),
    S.CLOSED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
}

#: Every allowed move, per change type. Anything not listed is refused with InvalidTransition.
ALLOWED: dict[ChangeType, dict[ChangeState, frozenset[ChangeState]]] = {
    ChangeType.NORMAL: {
        S.NEW: frozenset({S.ASSESS, S.CANCELED}),
        S.ASSESS: frozenset({S.AUTHORIZE, S.CANCELED}),
        S.AUTHORIZE: frozenset({S.SCHEDULED, S.REJECTED, S.CANCELED}),
        **_TAIL,
    },
    ChangeType.STANDARD: {
        S.NEW: frozenset({S.SCHEDULED, S.CANCELED}),
        **_TAIL,
    },
    ChangeType.EMERGENCY: {
        S.NEW: frozenset({S.AUTHORIZE, S.CANCELED}),
        S.AUTHORIZE: frozenset({S.SCHEDULED, S.IMPLEMENT, S.REJECTED, S.CANCELED}),
        **_TAIL,
    },
}

_WRITERS = frozenset({Role.ENGINEER, Role.APPROVER, Role.ADMIN})
_APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})

#: Which roles may move a change into each state (approvals have their own check: the authorities).
TRANSITION_ROLES: dict[ChangeState, frozenset[Role]] = {
    S.ASSESS: _WRITERS,
    S.AUTHORIZE: _WRITERS | {Role.SERVICE},  # a service raises emergency changes from a diagnosis
    S.SCHEDULED: _WRITERS,
    S.IMPLEMENT: frozenset({Role.ENGINEER, Role.ADMIN}),
    S.REVIEW: _WRITERS,
    S.ROLLED_BACK: frozenset({Role.ENGINEER, Role.ADMIN}),
    S.CLOSED: _WRITERS,
    S.CANCELED: _WRITERS,
    S.REJECTED: _APPROVERS,
}

CREATE_ROLES: dict[ChangeType, frozenset[Role]] = {
    ChangeType.STANDARD: _WRITERS,
    ChangeType.NORMAL: _WRITERS,
    ChangeType.EMERGENCY: _WRITERS | {Role.SERVICE},
}


def allowed_moves(cr: ChangeRequest) -> frozenset[ChangeState]:
    return ALLOWED[cr.type].get(cr.state, frozenset())


def required_authorities(cr: ChangeRequest, config: ChangeConfig) -> list[Authority]:
    """The authorities that must approve this change (order: base, then major, then PHI)."""
    policy = config.policy
    needed = list(policy.base.get(cr.type, ()))
    if cr.type is not ChangeType.STANDARD:
        size = None if cr.risk is None else (cr.risk.disruption_score or cr.risk.score)
        if size is not None and size >= policy.major_risk_score:
            needed.append(policy.major_authority)
        if cr.impact.phi:
            needed.append(policy.phi_authority)
    return list(dict.fromkeys(needed))


def missing_authorities(cr: ChangeRequest, config: ChangeConfig) -> list[Authority]:
    have = {a.authority for a in cr.approvals}
    return [a for a in required_authorities(cr, config) if a not in have]


def _event(
    cr: ChangeRequest,
    actor: Actor,
    now: datetime,
    action: str,
    before: ChangeRequest | None,
    after: ChangeRequest,
    reason: str | None,
    **details: Any,
) -> AuditEvent:
    return AuditEvent(
        actor=actor.user,
        actor_role=str(actor.role),
        action=action,
        subject_kind="change",
        subject_id=cr.id,
        at=now,
        before=None if before is None else before.audit_view(),
        after=after.audit_view(),
        reason=reason,
        details={"type": str(cr.type), **details},
    )


def _bump(cr: ChangeRequest, now: datetime, **update: Any) -> ChangeRequest:
    return cr.model_copy(update={**update, "updated_at": utc(now), "version": cr.version + 1})


def _need_role(actor: Actor, roles: frozenset[Role], what: str) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(str(r) for r in roles))
        raise PermissionDenied(f"{actor} may not {what} (roles allowed: {allowed})")


def created_event(cr: ChangeRequest, actor: Actor, now: datetime) -> AuditEvent:
    _need_role(actor, CREATE_ROLES[cr.type], f"create a {cr.type} change")
    return _event(
        cr,
        actor,
        now,
        Actions.CHANGE_CREATED,
        None,
        cr,
        cr.justification or None,
        title=cr.title,
        services=list(cr.services),
        requester=cr.requester,
    )


def transition(
    cr: ChangeRequest,
    to: ChangeState,
    actor: Actor,
    now: datetime,
    *,
    reason: str | None = None,
    close_code: CloseCode | None = None,
    config: ChangeConfig | None = None,
) -> tuple[ChangeRequest, AuditEvent]:
    """Move ``cr`` to ``to``: check the move is allowed, the actor's role and the guards; return the new
    change and its audit event. Raises InvalidTransition (a Conflict), ApprovalRequired or PermissionDenied."""
    config = config or ChangeConfig()
    to = ChangeState(to)
    if to not in allowed_moves(cr):
        options = ", ".join(sorted(allowed_moves(cr))) or "none (final state)"
        raise InvalidTransition(f"{cr.id} ({cr.type}) cannot go from {cr.state} to {to}; allowed: {options}")
    _need_role(actor, TRANSITION_ROLES[to], f"move a change to {to}")
    _guard(cr, to, actor, now, reason, config)
    update: dict[str, Any] = {"state": to}
    milestones = dict(cr.milestones)
    if to is S.REVIEW and cr.state is S.IMPLEMENT:
        milestones.setdefault(Milestone.IMPLEMENTATION, utc(now))
    if to is S.ROLLED_BACK:
        update["rollback_reason"] = reason
    if to is S.CLOSED:
        milestones.setdefault(Milestone.POST_INCIDENT_REVIEW, utc(now))
        update["review_notes"] = reason or cr.review_notes
        update["close_code"] = close_code_for(cr, close_code)
    update["milestones"] = milestones
    new = _bump(cr, now, **update)
    action = {
        S.REJECTED: Actions.CHANGE_REJECTED,
        S.ROLLED_BACK: Actions.CHANGE_ROLLED_BACK,
    }.get(to, Actions.CHANGE_TRANSITIONED)
    return new, _event(cr, actor, now, action, cr, new, reason, transition=f"{cr.state}->{to}")


def _guard(
    cr: ChangeRequest, to: ChangeState, actor: Actor, now: datetime, reason: str | None, config: ChangeConfig
) -> None:
    if to is S.AUTHORIZE and cr.type is ChangeType.NORMAL and cr.risk is None:
        raise InvalidTransition(f"{cr.id} needs an impact analysis (triage change assess) before approval")
    if to is S.AUTHORIZE and cr.type is ChangeType.NORMAL and not cr.rollback_procedure.strip():
        raise InvalidTransition(f"{cr.id} needs a rollback procedure before it goes to approval")
    if to in (S.SCHEDULED, S.IMPLEMENT) and cr.state is S.AUTHORIZE:
        missing = missing_authorities(cr, config)
        if missing:
            raise ApprovalRequired(f"{cr.id} still needs approval by: {', '.join(missing)}")
    if to is S.SCHEDULED and cr.type is not ChangeType.EMERGENCY and cr.window is None:
        raise InvalidTransition(f"{cr.id} has no schedule window (triage change schedule --start --end)")
    if to is S.SCHEDULED and cr.type is ChangeType.STANDARD:
        if cr.risk is None:
            raise InvalidTransition(f"{cr.id}: a standard change is assessed before it is scheduled")
        if cr.risk.score > config.policy.standard_max_score:
            raise InvalidTransition(
                f"{cr.id}: risk {cr.risk.score} is above {config.policy.standard_max_score}, "
                "too high for a standard change; raise a normal change instead"
            )
    if to is S.IMPLEMENT and cr.type is not ChangeType.EMERGENCY:
        assert cr.window is not None
        if not cr.window.contains(now):
            raise InvalidTransition(
                f"{cr.id} may be implemented only inside its window "
                f"{cr.window.start.isoformat()} – {cr.window.end.isoformat()}; reschedule it"
            )
    if to in (S.REJECTED, S.CANCELED, S.ROLLED_BACK) and not (reason or "").strip():
        raise InvalidInput(f"say why the change is {to} (--reason)")
    if to is S.REJECTED:
        if actor.user == cr.requester:
            raise SelfApproval(f"{actor.user} requested {cr.id} and may not reject it (cancel it instead)")
        if not config.authorities_of(actor):
            raise PermissionDenied(f"{actor} holds no approval authority and may not reject {cr.id}")
    if to is S.ROLLED_BACK and cr.rollback_reason is not None:
        raise InvalidTransition(f"{cr.id} was already rolled back")
    if to is S.CLOSED:
        if cr.state is S.REVIEW and cr.rollback_reason is None and cr.validation_passed is None:
            raise InvalidTransition(
                f"{cr.id} has no validation result yet (triage change review --validation)"
            )
        if cr.type is ChangeType.EMERGENCY and not (reason or cr.review_notes or "").strip():
            raise InvalidInput(
                f"{cr.id}: closing an emergency change needs the post-incident review (--notes)"
            )


def approve(
    cr: ChangeRequest,
    actor: Actor,
    now: datetime,
    *,
    authority: Authority | None = None,
    comment: str | None = None,
    config: ChangeConfig | None = None,
) -> tuple[ChangeRequest, AuditEvent]:
    """Record one approval. The requester may never approve; the actor must hold the authority (by the
    configured users and roles); with ``distinct_approvers`` one person fills at most one authority."""
    config = config or ChangeConfig()
    if actor.user == cr.requester:
        raise SelfApproval(f"{actor.user} requested {cr.id} and may not approve it")
    if cr.state is not S.AUTHORIZE:
        raise InvalidTransition(f"{cr.id} is {cr.state}; approvals are given while it is in authorize")
    held = config.authorities_of(actor)
    if not held:
        raise PermissionDenied(f"{actor} holds no approval authority (see the change configuration)")
    missing = missing_authorities(cr, config)
    if authority is None:
        candidates = [a for a in missing if a in held]
        if not candidates:
            raise PermissionDenied(
                f"{actor} holds {', '.join(held)}, none of which {cr.id} still needs "
                f"(missing: {', '.join(missing) or 'nothing'})"
            )
        authority = candidates[0]
    elif authority not in held:
        raise PermissionDenied(f"{actor} does not hold the {authority} authority")
    elif authority not in missing:
        raise InvalidTransition(f"{cr.id} does not need (more) approval by {authority}")
    if config.policy.distinct_approvers and any(a.user == actor.user for a in cr.approvals):
        raise PermissionDenied(f"{actor.user} already approved {cr.id}; another person must fill {authority}")
    approval = Approval(authority=authority, user=actor.user, role=actor.role, at=utc(now), comment=comment)
    approvals = (*cr.approvals, approval)
    milestones = dict(cr.milestones)
    new = cr.model_copy(update={"approvals": approvals})
    if not missing_authorities(new, config):
        milestones.setdefault(Milestone.APPROVAL, utc(now))
    new = _bump(cr, now, approvals=approvals, milestones=milestones)
    return new, _event(
        cr,
        actor,
        now,
        Actions.CHANGE_APPROVED,
        cr,
        new,
        comment,
        authority=str(authority),
        still_missing=[str(a) for a in missing_authorities(new, config)],
    )


def record_assessment(
    cr: ChangeRequest, risk: RiskAssessment, actor: Actor, now: datetime
) -> tuple[ChangeRequest, AuditEvent]:
    """Attach an impact analysis (allowed until implementation starts)."""
    _need_role(actor, _WRITERS | {Role.SERVICE}, "assess a change")
    if cr.state not in (S.NEW, S.ASSESS, S.AUTHORIZE, S.SCHEDULED):
        raise InvalidTransition(f"{cr.id} is {cr.state}; it can be assessed only before implementation")
    milestones = dict(cr.milestones)
    milestones.setdefault(Milestone.IMPACT_ANALYSIS, utc(now))
    new = _bump(cr, now, risk=risk, milestones=milestones)
    return new, _event(
        cr,
        actor,
        now,
        Actions.CHANGE_ASSESSED,
        cr,
        new,
        None,
        score=risk.score,
        level=str(risk.level),
        impacted=list(risk.impacted_services),
    )


def reschedule(
    cr: ChangeRequest, window: ScheduleWindow, actor: Actor, now: datetime, *, reason: str | None = None
) -> tuple[ChangeRequest, AuditEvent]:
    """Set or move the planned window (conflict checks are the service's job: they need other changes)."""
    _need_role(actor, _WRITERS, "schedule a change")
    if cr.state not in (S.NEW, S.ASSESS, S.AUTHORIZE, S.SCHEDULED):
        raise InvalidTransition(f"{cr.id} is {cr.state}; its window can no longer move")
    new = _bump(cr, now, window=window)
    return new, _event(cr, actor, now, Actions.CHANGE_SCHEDULED, cr, new, reason)


def record_validation(
    cr: ChangeRequest, passed: bool, actor: Actor, now: datetime, *, notes: str | None = None
) -> tuple[ChangeRequest, AuditEvent]:
    _need_role(actor, _WRITERS, "validate a change")
    if cr.state is not S.REVIEW:
        raise InvalidTransition(f"{cr.id} is {cr.state}; validation is recorded in review")
    milestones = dict(cr.milestones)
    milestones.setdefault(Milestone.VALIDATION, utc(now))
    new = _bump(cr, now, validation_passed=passed, validation_notes=notes, milestones=milestones)
    return new, _event(cr, actor, now, Actions.CHANGE_VALIDATED, cr, new, notes, passed=passed)


def close_code_for(cr: ChangeRequest, requested: CloseCode | None) -> CloseCode:
    if cr.rollback_reason is not None:
        return CloseCode.ROLLED_BACK
    if requested is CloseCode.SUCCESSFUL and cr.validation_passed is False:
        raise InvalidTransition(f"{cr.id} failed validation and cannot be closed as successful")
    if requested is not None:
        return requested
    return CloseCode.SUCCESSFUL if cr.validation_passed else CloseCode.UNSUCCESSFUL

"""Model moves under change control: the model registry's ``approver`` that turns every promotion and
rollback into a change request (``triage models``, ``triage pipeline run`` and ``POST
/v1/recovery/rollback/model`` all use it).

A promotion whose challenger passed the evaluation gate, with a low risk score, becomes a *standard* change
(template ``model-promotion``) carried out at once: created, scheduled, implemented (the alias moves inside
the implementation step), validated (the served copy loads at the new version) and closed, each step in the
audit trail. Otherwise (a challenger that failed the gate, or a risk above the standard ceiling) it is a
*normal* change that waits for approval; the alias does not move until someone completes it with the
change id after the approvals. A rollback is the standard ``model-rollback`` change (normal when the risk
is high).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage.errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from triage.changes.schemas import Actor, ChangeRequest
    from triage.changes.service import ChangeService
    from triage.modeling.tracking import ModelMove

#: How long the schedule window of a model change is (it is carried out at once, inside it).
WINDOW_MINUTES = 60


class ChangeGate:
    """The tracker's ``approver``: every promotion and rollback becomes a change request (module doc).

    Registration of a new version moves no served model and needs no change. A move that carries a
    ``change_id`` (:meth:`ModelTracker.complete`) completes that approved change.
    """

    def __init__(self, service: ChangeService, actor: Actor, served_dir: Path) -> None:
        from triage.changes.schemas import ChangeState
        from triage.changes.workflow import TRANSITION_ROLES

        self.service = service
        self.actor = actor
        self.served_dir = served_dir
        allowed = TRANSITION_ROLES[ChangeState.IMPLEMENT]
        if actor.role not in allowed:
            raise PermissionDenied(f"moving a model carries out a change, which {actor} may not do; act as "
                               f"{' or '.join(sorted(str(r) for r in allowed))} (--role)")  # fmt: skip

    def __call__(self, move: ModelMove, perform: Callable[[str | None], dict[str, Any]]) -> str | None:
        from triage.changes.schemas import ChangeType

        if move.action == "register":
            perform(None)
            return None
        if move.change_id:
            return self._complete(move, perform)
        if move.action == "promote":
            cr = self.service.request_model_promotion(
                model=move.model, challenger_version=str(move.to_version), champion_version=_opt(move.from_version),
                evaluation_passed=move.evaluation_passed is not False, requester=self.actor.user, actor=self.actor,
                metrics=move.metrics, reason=move.reason, window_minutes=WINDOW_MINUTES,
            )  # fmt: skip
        elif move.action == "rollback":
            cr = self._request_rollback(move)
        else:
            raise InvalidInput(f"no change procedure for a model {move.action}")
        if cr.type is ChangeType.STANDARD:
            self._carry_out(cr, move, perform)
        return cr.id

    def _request_rollback(self, move: ModelMove) -> ChangeRequest:
        from datetime import timedelta

        from triage.changes.catalogue import find_template
        from triage.changes.schemas import (
            ChangeType,
            ImpactInput,
            RollbackComplexity,
            ScheduleWindow,
            UserImpact,
        )
        from triage.changes.service import MODEL_SERVICE

        impact = ImpactInput(rollback_complexity=RollbackComplexity.AUTOMATED, user_impact=UserImpact.NONE)
        common: dict[str, Any] = {
            "title": f"Roll {move.model} back from v{move.from_version} to v{move.to_version}",
            "services": (MODEL_SERVICE,), "requester": self.actor.user, "actor": self.actor,
            "subject": f"model:{move.model}@{move.to_version}", "impact": impact,
            "description": f"champion v{move.from_version} → previous champion v{move.to_version}",
            "justification": move.reason or "roll back to the previous champion",
        }  # fmt: skip
        risk = self.service.preview_risk(services=(MODEL_SERVICE,), impact=impact)
        if risk.score <= self.service.config.policy.standard_max_score:
            now = self.service.clock()
            window = ScheduleWindow(start=now, end=now + timedelta(minutes=WINDOW_MINUTES))
            return self.service.create(type=ChangeType.STANDARD, template_id="model-rollback", window=window, **common)
        template = find_template(self.service.config, "model-rollback")
        cr = self.service.create(type=ChangeType.NORMAL, implementation_plan=template.implementation_plan,
                                 rollback_procedure=template.rollback_procedure,
                                 validation_plan=template.validation_plan, **common)  # fmt: skip
        return self.service.assess(change_id=cr.id, actor=self.actor)

    def _complete(self, move: ModelMove, perform: Callable[[str | None], dict[str, Any]]) -> str:
        from datetime import timedelta

        from triage.changes.schemas import ApprovalRequired, ChangeState, InvalidTransition, ScheduleWindow
        from triage.changes.workflow import missing_authorities
        from triage.errors import Conflict

        assert move.change_id is not None
        cr = self.service.get(change_id=move.change_id)
        subject = f"model:{move.model}@{move.to_version}"
        if cr.subject != subject:
            raise Conflict(f"{cr.id} is about {cr.subject or 'something else'}, not {subject}")
        if cr.state is ChangeState.AUTHORIZE:
            missing = missing_authorities(cr, self.service.config)
            if missing:
                raise ApprovalRequired(f"{cr.id} still needs approval by: {', '.join(missing)} "
                                       f"(triage change approve {cr.id} --as USER --role ROLE)")  # fmt: skip
            now = self.service.clock()
            window = ScheduleWindow(start=now, end=now + timedelta(minutes=WINDOW_MINUTES))
            cr = self.service.schedule(change_id=cr.id, actor=self.actor, window=window, reason="approved")
        if cr.state is not ChangeState.SCHEDULED:
            raise InvalidTransition(f"{cr.id} is {cr.state}; only an approved change can be carried out")
        self._carry_out(cr, move, perform)
        return cr.id

    def _carry_out(self, cr: ChangeRequest, move: ModelMove, perform: Callable[[str | None], dict[str, Any]]) -> None:
        from triage.modeling.tracking import load_served

        def validate(_: ChangeRequest) -> bool:
            # the template's validation: the scorer's copy is the new version and loads (checksum verified)
            return load_served(self.served_dir, move.model).version == move.to_version

        self.service.carry_out(change_id=cr.id, actor=self.actor, apply=lambda c: perform(c.id), validate=validate)


def _opt(version: int | None) -> str | None:
    return None if version is None else str(version)

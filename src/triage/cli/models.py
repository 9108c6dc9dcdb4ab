"""`triage models list|promote|rollback|train|history|pending`: the model registry from the command line.

Every promotion and rollback goes through change control (``triage.changes``): :class:`ChangeGate` is the
tracker's ``approver``. A promotion whose challenger passed the evaluation gate, with a low risk score,
becomes a *standard* change (template ``model-promotion``) that is carried out at once: created,
scheduled, implemented (the alias moves inside the implementation step), validated (the served copy
loads at the new version) and closed, each step in the audit trail. Otherwise (``--request-approval``
for a challenger that failed the gate, or a risk above the standard ceiling) it is a *normal* change that
waits for approval; the alias does not move until someone completes it with ``--change CHG-…`` after the
approvals (``triage change approve``). A rollback is the standard ``model-rollback`` change (normal when
the risk is high).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from triage.changes.schemas import Actor, ChangeRequest
    from triage.changes.service import ChangeService
    from triage.modeling.tracking import ModelMove, ModelTracker
    from triage.settings import Settings

models_app = typer.Typer(help="Registered models: list, train, promote, roll back.", no_args_is_help=True)

ActorOption = Annotated[str | None, typer.Option("--as", "--actor", help="Who is acting (default: the OS user).")]
RoleOption = Annotated[str, typer.Option("--role", help="Role acted in (engineer or admin carry out model changes).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", "-m", help="Why (recorded with the move).")]
ChangeOption = Annotated[str | None, typer.Option("--change", help="Carry out this approved change request instead.")]
#: How long the schedule window of a model change is (it is carried out at once, inside it).
WINDOW_MINUTES = 60


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


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
            raise InvalidInput(f"moving a model carries out a change, which {actor} may not do; act as "
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


def change_actor(user: str | None, role: str) -> Actor:
    from triage.changes.schemas import Actor, Role
    from triage.modeling.lifecycle import default_actor

    try:
        return Actor(user=user or default_actor(), role=Role(role))
    except ValueError:
        raise InvalidInput(f"--role must be one of {', '.join(r.value for r in Role)}; got {role!r}") from None


def tracker_for(settings: Settings, actor: Actor | None = None) -> ModelTracker:
    """The registry of a home, recording every move in the audit trail; with ``actor``, every promotion and
    rollback goes through change control as that person (:class:`ChangeGate`)."""
    from triage.modeling.lifecycle import audit_sink
    from triage.modeling.tracking import SERVED_DIR_NAME, ModelTracker

    approver = None
    if actor is not None:
        from triage.cli.change import change_service

        approver = ChangeGate(change_service(settings), actor, settings.models_dir / SERVED_DIR_NAME)
    return ModelTracker.from_settings(settings, audit=audit_sink(settings), approver=approver)


def _opt(version: int | None) -> str | None:
    return None if version is None else str(version)


@models_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Each registered model with its versions, aliases and key metrics."""
    models = tracker_for(settings_of(ctx)).list_models()
    if as_json:
        print_json({"models": [m.as_dict() for m in models]})
        return
    if not models:
        typer.echo("no registered models (train some: triage pipeline run train)")
        return
    for model in models:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(model.aliases.items())) or "no aliases"
        typer.echo(f"{model.name}  ({aliases})")
        for version in model.versions:
            metric = model.primary_metric
            value = version.metrics.get(metric) if metric else None
            shown = f"{metric}={value:.4f}" if value is not None else ""
            tag = f" [{', '.join(version.aliases)}]" if version.aliases else ""
            when = version.created_at.strftime("%Y-%m-%d %H:%M") if version.created_at else "?"
            typer.echo(f"  v{version.version}{tag}  {when}  {shown}")


@models_app.command("promote")
def promote_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    actor: ActorOption = None,
    role: RoleOption = "engineer",
    reason: ReasonOption = None,
    change: ChangeOption = None,
    request_approval: Annotated[bool, typer.Option(
        "--request-approval", help="If the challenger does not beat the champion, raise a normal change for "
        "approval instead of refusing.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make the challenger the champion, only if it beats the champion on the held-back evaluation set.

    A standard change records it; with --change CHG-… an approved (normal) change is carried out instead."""
    from triage.modeling.registry import model_spec

    who = change_actor(actor, role)
    tracker = tracker_for(settings_of(ctx), who)
    if change:
        move = tracker.complete(name, change, actor=who.user, reason=reason or f"carrying out approved {change}")
    else:
        spec = model_spec(name)
        move = tracker.promote(name, score=spec.score, actor=who.user, reason=reason or "promoted from the CLI",
                               request_approval=request_approval)  # fmt: skip
    _report(move, as_json)


@models_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    actor: ActorOption = None,
    role: RoleOption = "engineer",
    reason: ReasonOption = None,
    change: ChangeOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Point the champion back at the previous champion (a standard model-rollback change)."""
    who = change_actor(actor, role)
    tracker = tracker_for(settings_of(ctx), who)
    if change:
        move = tracker.complete(name, change, actor=who.user, reason=reason or f"carrying out approved {change}")
    else:
        move = tracker.rollback(name, actor=who.user, reason=reason or "rolled back from the CLI")
    _report(move, as_json)


@models_app.command("pending")
def pending_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Moves waiting for their change request to be approved (complete one with promote/rollback --change)."""
    moves = tracker_for(settings_of(ctx)).pending(name)
    if as_json:
        print_json({"model": name, "pending": [_move_dict(m) for m in moves]})
        return
    if not moves:
        typer.echo(f"{name}: nothing pending")
    for move in moves:
        typer.echo(f"{move.change_id}  {move.action:<17} {move.alias}: {_v(move.from_version)} -> "
                   f"{_v(move.to_version)}  requested by {move.actor} {move.at:%Y-%m-%d %H:%M}: {move.reason}")  # fmt: skip


@models_app.command("history")
def history_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every alias move of a model: who, when, why."""
    moves = tracker_for(settings_of(ctx)).moves(name)
    if as_json:
        print_json({"model": name, "moves": [_move_dict(m) for m in moves]})
        return
    for move in moves:
        typer.echo(f"{move.at:%Y-%m-%d %H:%M:%S}  {move.action:<17} {move.alias}: "
                   f"{_v(move.from_version)} -> {_v(move.to_version)}  by {move.actor}: {move.reason}")  # fmt: skip


@models_app.command("train")
def train_command(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Models to train (default: all).")] = None,
    actor: ActorOption = None,
    reason: ReasonOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Train models on the store (and bundled labels) and register them (champion if none, else challenger)."""
    from triage.cli.pipeline import print_report
    from triage.modeling.lifecycle import audit_sink, default_actor
    from triage.modeling.pipeline import PipelineConfig, TrainJob, run_pipeline

    settings = settings_of(ctx)
    config = PipelineConfig(name="models-train", steps=("train", "evaluate", "register"),
                            train=TrainJob(models=tuple(names) if names else None))  # fmt: skip
    report = run_pipeline(config, settings, actor=actor or default_actor(), reason=reason,
                          audit=audit_sink(settings), progress=_progress)  # fmt: skip
    print_report(report, as_json)


def _progress(message: str) -> None:
    typer.echo(f"... {message}", err=True)


def _v(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"


def _move_dict(move: Any) -> dict[str, Any]:
    return {"model": move.model, "action": move.action, "alias": move.alias, "from_version": move.from_version,
            "to_version": move.to_version, "actor": move.actor, "at": move.at.isoformat(), "reason": move.reason,
            "metrics": move.metrics, "change_id": move.change_id,
            "evaluation_passed": move.evaluation_passed}  # fmt: skip


def _report(move: Any, as_json: bool) -> None:
    if as_json:
        print_json(_move_dict(move))
        return
    detail = ", ".join(f"{k}={v:.4f}" for k, v in move.metrics.items() if k != "eval_rows")
    if move.action.endswith("_pending"):
        typer.echo(f"{move.model}: {move.alias} stays {_v(move.from_version)}; change {move.change_id} awaits approval "
                   f"to move it to {_v(move.to_version)} (then: triage models "
                   f"{'promote' if move.action == 'promotion_pending' else 'rollback'} {move.model} --change "
                   f"{move.change_id})" + (f"; {detail}" if detail else ""))  # fmt: skip
        return
    under = f" under change {move.change_id}" if move.change_id else ""
    typer.echo(f"{move.model}: {move.alias} {_v(move.from_version)} -> {_v(move.to_version)} ({move.action}{under})"
               + (f"; {detail}" if detail else ""))  # fmt: skip

"""`triage models list|promote|rollback|train|history|pending`: the model registry from the command line.

Every promotion and rollback goes through change control: :class:`triage.changes.model_gate.ChangeGate`
is the tracker's ``approver`` (standard change when the evaluation gate passes at low risk, carried out at
once; otherwise a normal change that ``--change CHG-…`` completes after ``triage change approve``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.changes.model_gate import ChangeGate
from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput

if TYPE_CHECKING:
    from triage.changes.schemas import Actor
    from triage.modeling.tracking import ModelTracker
    from triage.settings import Settings

models_app = typer.Typer(help="Registered models: list, train, promote, roll back.", no_args_is_help=True)

ActorOption = Annotated[str | None, typer.Option("--as", "--actor", help="Who is acting (default: the OS user).")]
RoleOption = Annotated[str, typer.Option("--role", help="Role acted in (engineer or admin carry out model changes).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", "-m", help="Why (recorded with the move).")]
ChangeOption = Annotated[str | None, typer.Option("--change", help="Carry out this approved change request instead.")]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


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
        under = f" under {move.change_id}" if move.change_id else ""
        typer.echo(f"{move.at:%Y-%m-%d %H:%M:%S}  {move.action:<17} {move.alias}: "
                   f"{_v(move.from_version)} -> {_v(move.to_version)}  by {move.actor}{under}: {move.reason}")  # fmt: skip


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

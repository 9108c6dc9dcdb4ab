"""`triage models list|promote|rollback|train|history`: the model registry from the command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.cli._common import print_json, settings_of

if TYPE_CHECKING:
    from triage.modeling.tracking import ModelTracker
    from triage.settings import Settings

models_app = typer.Typer(help="Registered models: list, train, promote, roll back.", no_args_is_help=True)

ActorOption = Annotated[str | None, typer.Option("--actor", help="Who is acting (default: the OS user).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", "-m", help="Why (recorded with the move).")]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def tracker_for(settings: Settings) -> ModelTracker:
    """The registry of a home, recording every move in the audit trail.

    Change management plugs in here: pass ``approver=`` (a callable that raises to refuse a move).
    """
    from triage.modeling.lifecycle import audit_sink
    from triage.modeling.tracking import ModelTracker

    return ModelTracker.from_settings(settings, audit=audit_sink(settings), approver=None)


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
    reason: ReasonOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make the challenger the champion, only if it beats the champion on the held-back evaluation set."""
    from triage.modeling.lifecycle import default_actor
    from triage.modeling.registry import model_spec

    spec = model_spec(name)
    move = tracker_for(settings_of(ctx)).promote(
        name, score=spec.score, actor=actor or default_actor(), reason=reason or "promoted from the CLI"
    )
    _report(move, as_json)


@models_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    actor: ActorOption = None,
    reason: ReasonOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Point the champion back at the previous champion."""
    from triage.modeling.lifecycle import default_actor

    move = tracker_for(settings_of(ctx)).rollback(
        name, actor=actor or default_actor(), reason=reason or "rolled back from the CLI"
    )
    _report(move, as_json)


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
            "metrics": move.metrics}  # fmt: skip


def _report(move: Any, as_json: bool) -> None:
    if as_json:
        print_json(_move_dict(move))
        return
    detail = ", ".join(f"{k}={v:.4f}" for k, v in move.metrics.items() if k != "eval_rows")
    typer.echo(f"{move.model}: {move.alias} {_v(move.from_version)} -> {_v(move.to_version)} ({move.action})"
               + (f"; {detail}" if detail else ""))  # fmt: skip

"""`triage pipeline run NAME [--config FILE]` and `triage pipeline list`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from triage.cli._common import print_json, settings_of

pipeline_app = typer.Typer(help="Declarative pipelines: ingest -> features -> train -> evaluate -> register.",
                           no_args_is_help=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")


@pipeline_app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pipeline name: pipelines/configs/NAME.yaml.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="A pipeline YAML file instead.")] = None,
    actor: Annotated[str | None, typer.Option("--as", "--actor", help="Who runs it (default: the OS user).")] = None,
    role: Annotated[str, typer.Option("--role", help="Role for promotions (change control).")] = "engineer",
    reason: Annotated[str | None, typer.Option("--reason", "-m", help="Recorded with each registration.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run manifest as JSON.")] = False,
) -> None:
    """Run a pipeline; `triage pipeline run train` on an empty home loads the samples and trains everything.

    Promotions (``register: {promote: if_better}``) go through change control like `triage models promote`."""
    from triage.changes.model_gate import ChangeGate
    from triage.cli.models import change_actor
    from triage.modeling.lifecycle import audit_sink
    from triage.modeling.pipeline import config_path, load_config, run_pipeline

    settings = settings_of(ctx)
    pipeline = load_config(config_path(name, config))
    who = change_actor(actor, role)
    approver = None
    if "register" in pipeline.steps and pipeline.registration.promote != "never":
        from triage.cli.change import change_service
        from triage.modeling.tracking import SERVED_DIR_NAME

        approver = ChangeGate(change_service(settings), who, settings.models_dir / SERVED_DIR_NAME)
    report = run_pipeline(pipeline, settings, actor=who.user, reason=reason, audit=audit_sink(settings),
                          approver=approver, progress=lambda m: typer.echo(f"... {m}", err=True))  # fmt: skip
    print_report(report, as_json)


@pipeline_app.command("list")
def list_command() -> None:
    """The pipelines in pipelines/configs/."""
    from triage.modeling.pipeline import CONFIG_DIR, load_config

    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        config = load_config(path)
        typer.echo(f"{config.name:<12} {' -> '.join(config.steps):<48} {config.description}")


def print_report(report: Any, as_json: bool) -> None:
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    for step, detail in report.steps.items():
        shown = ", ".join(f"{k}={v}" for k, v in detail.items() if not isinstance(v, dict))
        typer.echo(f"{step}: {shown}")
    for model in report.models:
        if model.skipped:
            typer.echo(f"{model.name}: skipped ({model.skipped})")
            continue
        where = f"v{model.version} [{', '.join(model.aliases) or 'no alias'}]" if model.version else "not registered"
        keys = [k for k in ("macro_f1", "baseline_macro_f1", "champion_macro_f1", "ece", "eval_score", "eval_f1",
                            "eval_balanced_accuracy", "backtest_mae", "backtest_naive_mae")
                if k in model.metrics]  # fmt: skip
        shown = ", ".join(f"{k}={model.metrics[k]:.4f}" for k in keys)
        extra = f"; {model.promotion}" if model.promotion else ""
        typer.echo(f"{model.name}: {where} in {model.seconds:.1f} s" + (f"; {shown}" if shown else "") + extra)
    typer.echo(f"pipeline {report.pipeline} run {report.run_id} done in {report.seconds:.1f} s")

"""`triage rollback config|store|system`: undo to a snapshot (or a moment), then verify health.

Model rollback (moving the ``champion`` alias back) is `triage.recovery.rollback.rollback_model` with the
modeling layer's alias mover; its command belongs beside the model registry commands.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from triage.api.restoration import KEEP_KINDS, audit_sink, store_apply
from triage.cli._common import print_json, settings_of
from triage.cli.snapshot import parse_moment
from triage.errors import InvalidInput

SnapshotOpt = Annotated[
    str | None, typer.Option("--snapshot", help="snapshot id (default: the newest that fits)")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
CheckOpt = Annotated[
    str, typer.Option("--check", help="health checks after: immediate | comprehensive | extended")
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="why (recorded in the audit trail)")]


def _verification(check: str):
    from triage.recovery.health import CheckLevel
    from triage.recovery.rollback import Verification

    try:
        return Verification(level=CheckLevel(check))
    except ValueError:
        raise InvalidInput("--check is immediate, comprehensive or extended") from None


def _report(result, json_out: bool) -> None:
    if json_out:
        print_json(result.as_dict())
    else:
        where = f" from snapshot {result.snapshot_id}" if result.snapshot_id else ""
        typer.echo(f"rolled back {result.level}{where}")
        if result.restore is not None:
            for note in result.restore.notes:
                typer.echo(f"note: {note}")
        for check in result.health.checks:
            typer.echo(f"  {check.status:<12} {check.name} ({check.threshold}) {check.detail}".rstrip())
        for name, diff in result.details.get("settings_differences", {}).items():
            typer.echo(
                f"  setting {name} was {diff['snapshot']!r}, is {diff['now']!r} (settings come from the environment)"
            )
        code = result.details.get("code") or {}
        if code.get("redeploy"):
            typer.echo(f"  code differs from the snapshot: commit {code['commit']['snapshot']} → now "
                       f"{code['commit']['now']}, {len(code['packages_changed'])} package(s) changed; redeploy to match")  # fmt: skip
        typer.echo(
            "healthy"
            if result.healthy
            else "NOT healthy after rollback: " + "; ".join(result.health.failures())
        )
    if not result.healthy:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    rb = typer.Typer(help="Roll back configuration, the store (to a moment) or the whole system; health-checked and audited.",
                     no_args_is_help=True)  # fmt: skip
    app.add_typer(rb, name="rollback")

    @rb.command("config")
    def config(ctx: typer.Context, snapshot: SnapshotOpt = None, yes: YesOpt = False, reason: ReasonOpt = None,
               check: CheckOpt = "comprehensive", json_out: JsonOpt = False) -> None:  # fmt: skip
        """Interim state (miner state, rules) and <home>/config back to a snapshot."""
        from triage.recovery.rollback import rollback_config

        settings = settings_of(ctx)
        verification = _verification(check)
        if not yes:
            typer.confirm(f"roll configuration back to {snapshot or 'the newest snapshot'}?", abort=True)
        _report(rollback_config(settings, snapshot_id=snapshot, actor=getpass.getuser(), reason=reason,
                                audit=audit_sink(settings), verification=verification), json_out)  # fmt: skip

    @rb.command("store")
    def store(
        ctx: typer.Context,
        to: Annotated[
            str | None, typer.Option("--to", help="the moment (ISO 8601, UTC if no offset)")
        ] = None,
        snapshot: SnapshotOpt = None,
        yes: YesOpt = False,
        reason: ReasonOpt = None,
        check: CheckOpt = "comprehensive",
        json_out: JsonOpt = False,
    ) -> None:
        """The store as it was at --to: the newest snapshot before it plus the journal up to it."""
        from triage.recovery.rollback import rollback_store

        if to is None and snapshot is None:
            raise InvalidInput("say where to: --to TIMESTAMP and/or --snapshot ID")
        settings = settings_of(ctx)
        verification = _verification(check)
        moment = parse_moment(to) if to else None
        if not yes:
            typer.confirm(f"roll the store back to {to or snapshot}?", abort=True)
        _report(rollback_store(settings, to=moment, snapshot_id=snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                               actor=getpass.getuser(), reason=reason, audit=audit_sink(settings),
                               verification=verification), json_out)  # fmt: skip

    @rb.command("system")
    def system(ctx: typer.Context, snapshot: SnapshotOpt = None, yes: YesOpt = False, reason: ReasonOpt = None,
               check: CheckOpt = "comprehensive", json_out: JsonOpt = False) -> None:  # fmt: skip
        """Store, models and config together from one full snapshot; reports how the code differs."""
        from triage.recovery.rollback import rollback_system

        settings = settings_of(ctx)
        verification = _verification(check)
        if not yes:
            typer.confirm(
                f"restore the whole system from {snapshot or 'the newest full snapshot'}?", abort=True
            )
        _report(rollback_system(settings, snapshot_id=snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                                actor=getpass.getuser(), reason=reason, audit=audit_sink(settings),
                                verification=verification), json_out)  # fmt: skip

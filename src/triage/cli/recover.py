"""`triage recover --incident ID [--dry-run]`: the restoration orchestrator for a stored incident.

The plan is built from the incident, its latest diagnosis, the changes applied shortly before it and the
last full snapshot taken before it (``triage.api.restoration``), then printed (``--dry-run``) or run stage
by stage until triage is healthy; every step is printed and recorded in the audit trail. The rollback
decision matrix holds: a CRITICAL or HIGH incident's plan runs by itself; a MEDIUM or LOW plan waits at
its first acting stage until someone who may approve runs it with ``--approve`` (or approved it over the
API). Acting person: ``--as USER --role ROLE``, as for `triage change`.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput, PermissionDenied


def register(app: typer.Typer) -> None:
    @app.command("recover")
    def recover(
        ctx: typer.Context,
        incident: Annotated[str, typer.Option("--incident", help="the incident id (INC-…)")],
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="print the plan and its input, run nothing")
        ] = False,
        approve: Annotated[
            bool, typer.Option("--approve", help="approve the stages that wait (approver, admin)")
        ] = False,
        start_stage: Annotated[int, typer.Option("--start-stage", min=1, help="resume at this stage")] = 1,
        as_user: Annotated[str | None, typer.Option("--as", help="who acts (default: login name)")] = None,
        role: Annotated[
            str, typer.Option("--role", help="role acted in: engineer, approver or admin")
        ] = "engineer",
        api: Annotated[
            str | None, typer.Option("--api", help="a running API to probe for health (its base URL)")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Print or run the restoration plan for an incident; every step is logged and audited."""
        from triage.access.keys import Permission, Role, role_allows
        from triage.api.operations import Operations
        from triage.api.restoration import Restoration, http_probes, plan_dict
        from triage.changes.schemas import Actor
        from triage.changes.schemas import Role as ChangeRole
        from triage.incidents.store import IncidentStore
        from triage.recovery.health import local_probes
        from triage.storage.database import Database

        settings = settings_of(ctx)
        if not settings.store_path.exists():
            raise InvalidInput(f"no store at {settings.store_path}: nothing has been diagnosed here")
        try:
            key_role = Role(role)
        except ValueError:
            raise InvalidInput(
                f"--role must be one of {', '.join(r.value for r in Role)}; got {role!r}"
            ) from None
        if not role_allows(key_role, Permission.RECOVERY_WRITE if not dry_run else Permission.RECOVERY_READ):
            raise PermissionDenied(f"role '{role}' may not run recovery")
        if approve and not role_allows(key_role, Permission.CHANGES_APPROVE):
            raise PermissionDenied(f"role '{role}' may not approve recovery stages")
        db = Database(settings.store_path)
        ops = Operations(settings, db)
        if ops.config_error:
            raise InvalidInput(ops.config_error)
        restoration = Restoration(
            settings=settings, incidents=IncidentStore(db), changes=ops.changes, alerts=ops.alerts,
            actor=Actor(user=as_user or getpass.getuser(), role=ChangeRole(key_role.value)),
            probes=http_probes(api, settings) if api else local_probes(settings.store_path, settings.models_dir),
        )  # fmt: skip
        given, plan = restoration.plan(incident)
        if dry_run:
            if json_out:
                print_json({"input": given.as_dict(), "plan": plan_dict(plan)})
                return
            for note in given.notes:
                typer.echo(f"note: {note}")
            typer.echo("\n".join(plan.describe()))
            return
        if not json_out:
            typer.echo("\n".join(plan.describe()))
        outcome = restoration.execute(plan, approve=approve, start_stage=start_stage)
        if json_out:
            print_json({"input": given.as_dict(), "plan": plan_dict(plan), "outcome": outcome.as_dict()})
        else:
            for step in outcome.steps:
                typer.echo(f"  stage {step.stage} {step.kind} {step.target}: {step.outcome}"
                           + (f" ({step.detail})" if step.detail else ""))  # fmt: skip
            typer.echo(f"{outcome.status}" + (f" by {outcome.resolved_by}" if outcome.resolved_by else ""))
        if outcome.status == "escalated":
            raise typer.Exit(1)

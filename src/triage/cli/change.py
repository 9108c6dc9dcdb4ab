"""`triage change create|show|list|assess|submit|approve|reject|schedule|implement|review|close|cancel|rollback|
emergency|check-deadlines|catalogue`.

The acting person is ``--as USER --role ROLE`` (role = one of the API key roles). The CLI runs with local
file access, so it trusts that statement the way an API trusts a key; the workflow still refuses what the
role or the approval authorities do not allow (exit code 2), and self-approval always.

Also the wiring the change service needs from the layers around it: configuration from
``<home>/config/changes.yaml``, the snapshot hook (triage.recovery) and the breach hook (triage.alerting).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from triage.api.operations import breach_to_alert  # shared with the API's deadline loop
from triage.cli._common import print_json, settings_of, validation_line
from triage.errors import InvalidInput

if TYPE_CHECKING:
    from triage.alerting.service import AlertService
    from triage.changes.schemas import ChangeRequest
    from triage.changes.service import ChangeService
    from triage.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AsOpt = Annotated[str, typer.Option("--as", help="Who acts (user name).")]
RoleOpt = Annotated[
    str, typer.Option("--role", help="Role acted in: service, analyst, engineer, approver, admin.")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Change configuration YAML (default <home>/config/changes.yaml)."),
]

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([mhd])$")


def parse_moment(text: str, *, now: datetime) -> datetime:
    """ISO-8601 (UTC when no zone is given), ``now``, or ``+30m`` / ``+2h`` / ``+1d`` from now."""
    text = text.strip()
    if text == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now + timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not a time: {text!r} (ISO-8601, 'now', or +30m / +2h / +1d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- wiring ---------------------------------------------------------------------------------------------------
def alert_service(settings: Settings, config_path: Path | None = None) -> AlertService:
    from triage.alerting.config import load_alerting_config
    from triage.alerting.service import AlertService
    from triage.storage.database import Database

    config = load_alerting_config(config_path or settings.config_dir / "alerting.yaml")
    return AlertService(Database(settings.store_path), config=config)


def change_service(
    settings: Settings, config_path: Path | None = None, *, snapshot_components: list[str] | None = None
) -> ChangeService:
    from triage.changes.config import load_change_config
    from triage.changes.service import ChangeService
    from triage.storage.database import Database

    config = load_change_config(config_path or settings.config_dir / "changes.yaml")
    snapshot = None
    if snapshot_components:

        def snapshot(cr: ChangeRequest) -> str:
            from triage.cli.snapshot import audit_sink
            from triage.recovery.executor import create_snapshot

            result = create_snapshot(
                settings,
                components=snapshot_components,
                reason=f"before change {cr.id}",
                creator=cr.requester,
                audit=audit_sink(settings),
            )
            return result.manifest.id

    return ChangeService(
        Database(settings.store_path),
        config=config,
        snapshot=snapshot,
        on_breach=breach_to_alert(alert_service(settings)),
    )


def _actor(user: str, role: str):
    from triage.changes.schemas import Actor, Role

    try:
        return Actor(user=user, role=Role(role))
    except ValueError:
        raise InvalidInput(
            f"--role must be one of {', '.join(r.value for r in Role)}; got {role!r}"
        ) from None


_OPTION_OF = {"estimated_downtime_minutes": "--downtime", "rollback_complexity": "--rollback-complexity",
              "user_impact": "--user-impact", "phi": "--phi", "data_loss_risk": "--data-loss-risk",
              "security_risk": "--security-risk", "start": "--start", "end": "--end"}  # fmt: skip


def _impact(base, downtime, rollback_complexity, user_impact, phi, data_loss_risk, security_risk):
    from triage.changes.schemas import ImpactInput

    fields = {} if base is None else base.model_dump()
    for key, value in (
        ("estimated_downtime_minutes", downtime),
        ("rollback_complexity", rollback_complexity),
        ("user_impact", user_impact),
        ("phi", phi),
        ("data_loss_risk", data_loss_risk),
        ("security_risk", security_risk),
    ):
        if value is not None:
            fields[key] = value
    try:
        return ImpactInput(**fields)
    except ValueError as exc:
        raise InvalidInput(validation_line(exc, _OPTION_OF)) from None


def _render(cr: ChangeRequest, service: ChangeService) -> str:
    from triage.changes.workflow import allowed_moves, missing_authorities, required_authorities

    lines = [
        f"{cr.id}  [{cr.type}] {cr.title}",
        f"  state: {cr.state}   next: {', '.join(sorted(allowed_moves(cr))) or '-'}",
        f"  requester: {cr.requester}   services: {', '.join(cr.services)}",
    ]
    if cr.window:
        lines.append(f"  window: {cr.window.start:%Y-%m-%d %H:%M} – {cr.window.end:%Y-%m-%d %H:%M} UTC")
    if cr.incident_id:
        lines.append(f"  incident: {cr.incident_id}")
    if cr.risk:
        lines += ["  " + line for line in cr.risk.explain().splitlines()]
        lines.append(f"  impacted: {', '.join(cr.risk.impacted_services)}")
    needed = required_authorities(cr, service.config)
    if needed:
        got = ", ".join(f"{a.authority} by {a.user}" for a in cr.approvals) or "none"
        missing = ", ".join(missing_authorities(cr, service.config)) or "none"
        lines.append(f"  approvals: {got}; missing: {missing}")
    for warning in cr.warnings:
        lines.append(f"  warning: {warning}")
    if cr.snapshot_id:
        lines.append(f"  snapshot before implementation: {cr.snapshot_id}")
    if cr.rollback_reason:
        lines.append(f"  rolled back: {cr.rollback_reason}")
    if cr.validation_passed is not None:
        lines.append(
            f"  validation: {'passed' if cr.validation_passed else 'failed'} {cr.validation_notes or ''}"
        )
    if cr.close_code:
        lines.append(f"  closed: {cr.close_code}; review: {cr.review_notes or '-'}")
    from triage.changes.emergency import deadline_status

    for status in deadline_status(cr, service.config.deadlines, service._now()):
        met = f"met {status.met_at:%H:%M:%S}" if status.met_at else ""
        lines.append(
            f"  deadline {status.milestone:<22} due {status.due_at:%Y-%m-%d %H:%M:%S}  {status.state} {met}"
        )
    return "\n".join(lines)


def _emit(cr: ChangeRequest, service: ChangeService, json_out: bool) -> None:
    if json_out:
        print_json(cr.public())
    else:
        typer.echo(_render(cr, service))


# -- commands -------------------------------------------------------------------------------------------------
def register(app: typer.Typer) -> None:
    change = typer.Typer(
        help="Change requests: request, assess, approve, schedule, implement, review, close.",
        no_args_is_help=True,
    )
    app.add_typer(change, name="change")

    @change.command("create")
    def create(
        ctx: typer.Context,
        type_: Annotated[str, typer.Option("--type", help="standard | normal | emergency")],
        title: Annotated[str, typer.Option("--title")],
        services: Annotated[str, typer.Option("--services", help="Affected services, comma-separated.")],
        requester: Annotated[str, typer.Option("--requester")],
        description: Annotated[str, typer.Option("--description")] = "",
        justification: Annotated[str, typer.Option("--justification")] = "",
        implementation_plan: Annotated[str, typer.Option("--implementation-plan")] = "",
        rollback_procedure: Annotated[str, typer.Option("--rollback-procedure")] = "",
        validation_plan: Annotated[str, typer.Option("--validation-plan")] = "",
        template: Annotated[
            str | None, typer.Option("--template", help="Catalogue entry (standard).")
        ] = None,
        incident: Annotated[str | None, typer.Option("--incident")] = None,
        start: Annotated[str | None, typer.Option("--start", help="Window start: ISO-8601, now, +2h")] = None,
        end: Annotated[str | None, typer.Option("--end", help="Window end")] = None,
        downtime: Annotated[
            float | None, typer.Option("--downtime", help="Estimated downtime, minutes")
        ] = None,
        rollback_complexity: Annotated[
            str | None, typer.Option("--rollback-complexity", help="automated|simple|complex|irreversible")
        ] = None,
        user_impact: Annotated[
            str | None, typer.Option("--user-impact", help="none|internal|partial|all")
        ] = None,
        phi: Annotated[
            bool | None, typer.Option("--phi/--no-phi", help="Touches PHI or HIPAA controls")
        ] = None,
        data_loss_risk: Annotated[bool | None, typer.Option("--data-loss-risk")] = None,
        security_risk: Annotated[bool | None, typer.Option("--security-risk")] = None,
        as_user: Annotated[
            str | None, typer.Option("--as", help="Who acts (default: the requester).")
        ] = None,
        role: Annotated[str, typer.Option("--role")] = "engineer",
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Raise a change request; prints its id (or the whole record with --json)."""
        from triage.changes.schemas import ChangeType, ScheduleWindow, parse_services

        settings = settings_of(ctx)
        service = change_service(settings, config)
        try:
            kind = ChangeType(type_)
        except ValueError:
            raise InvalidInput("--type must be standard, normal or emergency") from None
        window = None
        if start or end:
            if not (start and end):
                raise InvalidInput("give both --start and --end")
            now = service._now()
            try:
                window = ScheduleWindow(start=parse_moment(start, now=now), end=parse_moment(end, now=now))
            except ValueError as exc:
                raise InvalidInput(validation_line(exc, _OPTION_OF)) from None
        impact = None
        if any(
            v is not None
            for v in (downtime, rollback_complexity, user_impact, phi, data_loss_risk, security_risk)
        ):
            impact = _impact(
                None, downtime, rollback_complexity, user_impact, phi, data_loss_risk, security_risk
            )
        cr = service.create(
            type=kind,
            title=title,
            services=parse_services(services),
            requester=requester,
            actor=_actor(as_user or requester, role),
            description=description,
            justification=justification,
            implementation_plan=implementation_plan,
            rollback_procedure=rollback_procedure,
            validation_plan=validation_plan,
            window=window,
            impact=impact,
            template_id=template,
            incident_id=incident,
        )
        if json_out:
            print_json(cr.public())
        else:
            typer.echo(f"{cr.id} {cr.state}")

    @change.command("show")
    def show(ctx: typer.Context, change_id: str, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
        """Show a change: state, next moves, risk factors, approvals, deadlines."""
        service = change_service(settings_of(ctx), config)
        cr = service.get(change_id=change_id)
        if json_out:
            from triage.changes.workflow import missing_authorities, required_authorities

            payload = cr.public()
            payload["required_approvals"] = [str(a) for a in required_authorities(cr, service.config)]
            payload["missing_approvals"] = [str(a) for a in missing_authorities(cr, service.config)]
            payload["deadlines"] = [s.model_dump(mode="json") for s in service.deadlines(change_id=cr.id)]
            print_json(payload)
        else:
            typer.echo(_render(cr, service))

    @change.command("list")
    def list_(
        ctx: typer.Context,
        state: Annotated[str | None, typer.Option("--state")] = None,
        type_: Annotated[str | None, typer.Option("--type")] = None,
        service_name: Annotated[str | None, typer.Option("--service")] = None,
        open_only: Annotated[
            bool, typer.Option("--open", help="Only changes not closed/canceled/rejected.")
        ] = False,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """List change requests."""
        from triage.changes.schemas import ChangeState, ChangeType

        try:
            st = ChangeState(state) if state else None
            ty = ChangeType(type_) if type_ else None
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        service = change_service(settings_of(ctx), config)
        rows = service.list(state=st, type=ty, service=service_name, open_only=open_only)
        if json_out:
            print_json([cr.public() for cr in rows])
            return
        for cr in rows:
            risk = f"risk {cr.risk.score:>2}" if cr.risk else "risk  -"
            typer.echo(f"{cr.id}  {cr.type:<9} {cr.state:<11} {risk}  {','.join(cr.services):<24} {cr.title}")

    @change.command("assess")
    def assess(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        downtime: Annotated[float | None, typer.Option("--downtime")] = None,
        rollback_complexity: Annotated[str | None, typer.Option("--rollback-complexity")] = None,
        user_impact: Annotated[str | None, typer.Option("--user-impact")] = None,
        phi: Annotated[bool | None, typer.Option("--phi/--no-phi")] = None,
        data_loss_risk: Annotated[bool | None, typer.Option("--data-loss-risk")] = None,
        security_risk: Annotated[bool | None, typer.Option("--security-risk")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Impact analysis and risk score (a normal change then goes to approval)."""
        service = change_service(settings_of(ctx), config)
        impact = None
        if any(
            v is not None
            for v in (downtime, rollback_complexity, user_impact, phi, data_loss_risk, security_risk)
        ):
            current = service.get(change_id=change_id)
            impact = _impact(
                current.impact, downtime, rollback_complexity, user_impact, phi, data_loss_risk, security_risk
            )
        _emit(
            service.assess(change_id=change_id, actor=_actor(as_user, role), impact=impact), service, json_out
        )

    @change.command("submit")
    def submit(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Send an assessed normal change to approval."""
        service = change_service(settings_of(ctx), config)
        _emit(service.submit(change_id=change_id, actor=_actor(as_user, role)), service, json_out)

    @change.command("approve")
    def approve(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        authority: Annotated[
            str | None,
            typer.Option("--authority", help="on_call_engineer | technical_lead | cto | compliance_officer"),
        ] = None,
        comment: Annotated[str | None, typer.Option("--comment")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Approve as one of the authorities the change needs (never your own change)."""
        from triage.changes.schemas import Authority

        try:
            auth = Authority(authority) if authority else None
        except ValueError:
            raise InvalidInput(
                f"--authority must be one of {', '.join(a.value for a in Authority)}"
            ) from None
        service = change_service(settings_of(ctx), config)
        cr = service.approve(
            change_id=change_id, actor=_actor(as_user, role), authority=auth, comment=comment
        )
        _emit(cr, service, json_out)

    def _simple(name: str, help_text: str, call: str) -> None:
        def command(
            ctx: typer.Context,
            change_id: str,
            as_user: AsOpt,
            role: RoleOpt,
            reason: Annotated[
                str | None, typer.Option("--reason", help="Why (recorded in the audit trail).")
            ] = None,
            config: ConfigOpt = None,
            json_out: JsonOpt = False,
        ) -> None:
            if not (reason or "").strip():
                raise InvalidInput("say why (--reason)")
            service = change_service(settings_of(ctx), config)
            cr = getattr(service, call)(change_id=change_id, actor=_actor(as_user, role), reason=reason)
            _emit(cr, service, json_out)

        command.__doc__ = help_text
        change.command(name)(command)

    _simple("reject", "Reject a change waiting for approval (--reason required).", "reject")
    _simple("cancel", "Cancel an open change (--reason required).", "cancel")
    _simple("rollback", "Roll back an implemented change and record why (--reason required).", "rollback")

    @change.command("schedule")
    def schedule(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        start: Annotated[str, typer.Option("--start", help="ISO-8601, now, +2h")],
        end: Annotated[str, typer.Option("--end")],
        reason: Annotated[str | None, typer.Option("--reason")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Set the change window (refused on conflicts and blackouts)."""
        from triage.changes.schemas import ScheduleWindow

        service = change_service(settings_of(ctx), config)
        now = service._now()
        try:
            window = ScheduleWindow(start=parse_moment(start, now=now), end=parse_moment(end, now=now))
        except ValueError as exc:
            raise InvalidInput(validation_line(exc, _OPTION_OF)) from None
        _emit(
            service.schedule(change_id=change_id, actor=_actor(as_user, role), window=window, reason=reason),
            service,
            json_out,
        )

    @change.command("implement")
    def implement(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        snapshot: Annotated[
            list[str] | None,
            typer.Option(
                "--snapshot", help="Snapshot these components first: store|models|config|code (repeatable)"
            ),
        ] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Start implementation (inside the window; optionally after a recovery snapshot)."""
        service = change_service(settings_of(ctx), config, snapshot_components=snapshot)
        _emit(service.implement(change_id=change_id, actor=_actor(as_user, role)), service, json_out)

    @change.command("review")
    def review(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        validation: Annotated[str | None, typer.Option("--validation", help="passed | failed")] = None,
        notes: Annotated[str | None, typer.Option("--notes")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Implementation done → review; record the validation result."""
        if validation not in (None, "passed", "failed"):
            raise InvalidInput("--validation is passed or failed")
        service = change_service(settings_of(ctx), config)
        passed = None if validation is None else validation == "passed"
        _emit(
            service.review(change_id=change_id, actor=_actor(as_user, role), validation=passed, notes=notes),
            service,
            json_out,
        )

    @change.command("close")
    def close(
        ctx: typer.Context,
        change_id: str,
        as_user: AsOpt,
        role: RoleOpt,
        notes: Annotated[
            str | None, typer.Option("--notes", help="Review / post-incident review notes.")
        ] = None,
        code: Annotated[str | None, typer.Option("--code", help="successful | unsuccessful")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Close a reviewed change."""
        from triage.changes.schemas import CloseCode

        try:
            close_code = CloseCode(code) if code else None
        except ValueError:
            raise InvalidInput("--code is successful or unsuccessful") from None
        service = change_service(settings_of(ctx), config)
        _emit(
            service.close(change_id=change_id, actor=_actor(as_user, role), notes=notes, code=close_code),
            service,
            json_out,
        )

    @change.command("emergency")
    def emergency(
        ctx: typer.Context,
        diagnosis: Annotated[
            Path, typer.Option("--diagnosis", help="A diagnosis JSON file ('-' for stdin).")
        ],
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Open the emergency fast track from a CRITICAL diagnosis (and alert on it)."""
        from triage.changes.emergency import EmergencyTrigger

        raw = _read_json(diagnosis)
        settings = settings_of(ctx)
        service = change_service(settings, config)
        cr = service.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(raw))
        alert_service(settings).raise_from_diagnosis(diagnosis=raw)
        _emit(cr, service, json_out)

    @change.command("check-deadlines")
    def check_deadlines(ctx: typer.Context, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
        """Escalate emergency deadlines missed since the last check (run from cron every minute)."""
        service = change_service(settings_of(ctx), config)
        breaches = service.check_deadlines()
        if json_out:
            print_json([b.model_dump(mode="json") for b in breaches])
            return
        for breach in breaches:
            typer.echo(breach.message())
        if not breaches:
            typer.echo("no new deadline breaches")

    @change.command("catalogue")
    def catalogue(ctx: typer.Context, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
        """The standard-change catalogue (pre-approved templates)."""
        from triage.changes.catalogue import templates

        service = change_service(settings_of(ctx), config)
        entries = list(templates(service.config).values())
        if json_out:
            print_json([t.model_dump(mode="json") for t in entries])
            return
        for t in entries:
            typer.echo(f"{t.id:<20} {t.title}")


def _read_json(path: Path) -> dict[str, Any]:
    import sys

    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: expected one JSON object (a diagnosis)")
    return doc

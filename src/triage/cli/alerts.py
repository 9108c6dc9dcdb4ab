"""`triage alerts list|show|ack|resolve|tick|raise|deliveries`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Alerting configuration YAML (default <home>/config/alerting.yaml)."),
]


def register(app: typer.Typer) -> None:
    alerts = typer.Typer(
        help="Alerts: list, acknowledge, resolve; escalate and send what is due.", no_args_is_help=True
    )
    app.add_typer(alerts, name="alerts")

    def service(ctx: typer.Context, config: Path | None):
        from triage.cli.change import alert_service

        return alert_service(settings_of(ctx), config)

    @alerts.command("list")
    def list_(
        ctx: typer.Context,
        all_: Annotated[bool, typer.Option("--all", help="Include resolved alerts.")] = False,
        incident: Annotated[str | None, typer.Option("--incident")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Alerts grouped by incident (open and acknowledged ones unless --all)."""
        svc = service(ctx, config)
        rows = svc.list(incident_id=incident, open_only=not all_)
        if json_out:
            print_json([a.public() for a in rows])
            return
        groups: dict[str, list] = {}
        for a in rows:
            groups.setdefault(a.incident_id or "(no incident)", []).append(a)
        for incident_id, members in groups.items():
            typer.echo(f"{incident_id}: {len(members)} alert(s)")
            for a in members:
                ack = f" by {a.acknowledged_by}" if a.acknowledged_by else ""
                typer.echo(
                    f"  {a.id} {a.severity:<8} {a.type:<15} {a.state}{ack:<12} x{a.occurrences:<3} "
                    f"team {a.team}, escalation {a.escalation_level}  {a.title}"
                )

    @alerts.command("show")
    def show(ctx: typer.Context, alert_id: str, config: ConfigOpt = None) -> None:
        """One alert with its deliveries, as JSON."""
        svc = service(ctx, config)
        payload = svc.get(alert_id=alert_id).public()
        payload["deliveries"] = [d.model_dump(mode="json") for d in svc.deliveries(alert_id=alert_id)]
        print_json(payload)

    @alerts.command("ack")
    def ack(
        ctx: typer.Context,
        alert_id: Annotated[
            str | None, typer.Argument(help="Alert id (or --incident for the whole group).")
        ] = None,
        as_user: Annotated[str, typer.Option("--as", help="Who acknowledges.")] = "",
        incident: Annotated[str | None, typer.Option("--incident")] = None,
        comment: Annotated[str | None, typer.Option("--comment")] = None,
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Acknowledge an alert (or every open alert of an incident): escalation stops."""
        if not as_user:
            raise InvalidInput("say who acknowledges (--as USER)")
        if (alert_id is None) == (incident is None):
            raise InvalidInput("give exactly one of an alert id or --incident")
        svc = service(ctx, config)
        if incident is not None:
            done = svc.acknowledge_incident(incident_id=incident, user=as_user)
        else:
            done = [svc.acknowledge(alert_id=alert_id, user=as_user, comment=comment)]
        if json_out:
            print_json([a.public() for a in done])
        else:
            for a in done:
                typer.echo(f"{a.id} acknowledged by {a.acknowledged_by}")

    @alerts.command("resolve")
    def resolve(
        ctx: typer.Context,
        alert_id: str,
        as_user: Annotated[str, typer.Option("--as")] = "",
        reason: Annotated[str | None, typer.Option("--reason")] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Resolve an alert."""
        alert = service(ctx, config).resolve(alert_id=alert_id, user=as_user, reason=reason)
        typer.echo(f"{alert.id} resolved by {alert.resolved_by}")

    @alerts.command("tick")
    def tick(ctx: typer.Context, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
        """Escalate overdue alerts and send due notifications (run every minute from cron, with
        `triage change check-deadlines`)."""
        report = service(ctx, config).tick()
        if json_out:
            print_json(
                {"escalated": report.escalated, "sent": len(report.sent), "failed": len(report.failed)}
            )
        else:
            typer.echo(
                f"escalated {len(report.escalated)}, sent {len(report.sent)}, not sent {len(report.failed)}"
            )

    @alerts.command("raise")
    def raise_(
        ctx: typer.Context,
        diagnosis: Annotated[
            Path, typer.Option("--diagnosis", help="A diagnosis JSON file ('-' for stdin).")
        ],
        config: ConfigOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Apply the alert rules to a diagnosis (the seed's JSON) and notify."""
        from triage.cli.change import _read_json

        alert = service(ctx, config).raise_from_diagnosis(diagnosis=_read_json(diagnosis))
        if json_out:
            print_json(None if alert is None else alert.public())
        else:
            typer.echo(
                "below the alerting threshold"
                if alert is None
                else f"{alert.id} {alert.severity} → {alert.team}"
            )

"""`triage audit verify|export|head|log`: the auditor's view of the hash-chained trail."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of
from triage.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not an ISO-8601 time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="The tamper-evident audit trail: verify, export, anchor.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def verify(
        ctx: typer.Context,
        anchor: Annotated[
            list[str] | None,
            typer.Option("--anchor", help="SEQ:HASH recorded earlier (triage audit head); repeatable."),
        ] = None,
        file: Annotated[
            Path | None,
            typer.Option("--file", help="Verify an exported file (csv or json) instead of the store."),
        ] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Check the whole chain; exit 1 naming the first bad entry if anything was edited, deleted, inserted
        or reordered."""
        from triage.audit.log import AuditLog, read_export, verify_chain
        from triage.audit.schemas import ChainHead
        from triage.storage.database import Database

        anchors = [ChainHead.parse(a) for a in anchor or []]
        if file is not None:
            rows, head = read_export(file)
            report = verify_chain(rows, head=head, anchors=anchors)
        else:
            report = AuditLog(Database(settings_of(ctx).store_path)).verify(anchors=anchors)
        if json_out:
            print_json(report.model_dump(mode="json"))
        else:
            typer.echo(report.summary(), err=not report.ok)
        if not report.ok:
            raise typer.Exit(1)

    @audit.command("head")
    def head(ctx: typer.Context) -> None:
        """Print SEQ:HASH of the last entry: write it down outside triage to anchor later verifications."""
        from triage.audit.log import AuditLog
        from triage.storage.database import Database

        current = AuditLog(Database(settings_of(ctx).store_path)).head()
        typer.echo(str(current) if current else "0:" + "0" * 64)

    @audit.command("export")
    def export(
        ctx: typer.Context,
        fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "json",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
        ] = None,
        subject: Annotated[
            str | None, typer.Option("--subject", help="KIND or KIND:ID, e.g. change:CHG-000001")
        ] = None,
        action: Annotated[
            str | None, typer.Option("--action", help="e.g. change.approved or change.*")
        ] = None,
        actor: Annotated[str | None, typer.Option("--actor")] = None,
        since: Annotated[str | None, typer.Option("--since", help="ISO-8601")] = None,
        until: Annotated[str | None, typer.Option("--until", help="ISO-8601")] = None,
    ) -> None:
        """Export entries with their hashes for auditors (an unfiltered export re-verifies offline:
        triage audit verify --file FILE)."""
        from triage.audit.log import AuditLog
        from triage.storage.database import Database

        if fmt not in ("csv", "json"):
            raise InvalidInput("--format is csv or json")
        kind, _, sid = (subject or "").partition(":")
        log = AuditLog(Database(settings_of(ctx).store_path))
        filters = {
            "subject_kind": kind or None,
            "subject_id": sid or None,
            "action": action,
            "actor": actor,
            "since": _time(since),
            "until": _time(until),
        }
        if output is None:
            log.export(sys.stdout, fmt=fmt, **filters)  # type: ignore[arg-type]
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = log.export(handle, fmt=fmt, **filters)  # type: ignore[arg-type]
        typer.echo(f"{count} entries written to {output}", err=True)

    @audit.command("log")
    def log_(
        ctx: typer.Context,
        subject: Annotated[str | None, typer.Option("--subject", help="KIND or KIND:ID")] = None,
        limit: Annotated[int, typer.Option("--limit")] = 50,
        json_out: JsonOpt = False,
    ) -> None:
        """Show the latest entries (who, what, when, why)."""
        from triage.audit.log import AuditLog
        from triage.storage.database import Database

        kind, _, sid = (subject or "").partition(":")
        entries = AuditLog(Database(settings_of(ctx).store_path)).entries(
            subject_kind=kind or None, subject_id=sid or None
        )
        entries = entries[-limit:]
        if json_out:
            print_json([e.flat() for e in entries])
            return
        for e in entries:
            ev = e.event
            move = f" {ev.details['transition']}" if "transition" in ev.details else ""
            why = f" — {ev.reason}" if ev.reason else ""
            typer.echo(
                f"{e.seq:>6} {ev.at:%Y-%m-%d %H:%M:%S} {ev.actor:<12} {ev.action:<24} "
                f"{ev.subject_kind}:{ev.subject_id}{move}{why}"
            )

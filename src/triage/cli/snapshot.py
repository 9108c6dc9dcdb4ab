"""`triage snapshot keygen|create|list|show|verify|restore|prune|schedule`.

The wiring recovery needs from the layers above it (the apply function that re-applies journal entries to
the store, the audit sink, ``KEEP_KINDS``) is the API's one copy, ``triage.api.restoration``, shared with
`triage rollback` and the ``/v1/recovery`` endpoints; it is re-exported here for the CLI modules that use it.
"""

from __future__ import annotations

import getpass
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from triage.api.restoration import KEEP_KINDS, audit_sink, store_apply  # light: no pandas/duckdb at import
from triage.cli._common import confirm, print_json, settings_of
from triage.errors import InvalidInput

__all__ = ["KEEP_KINDS", "audit_sink", "parse_moment", "register", "store_apply"]

ComponentOpt = Annotated[
    list[str] | None,
    typer.Option("--component", "-c", help="store | models | config | code (repeatable; default: all)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def parse_moment(text: str) -> datetime:
    """ISO 8601; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {text!r} (e.g. 2026-05-27T06:15:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def register(app: typer.Typer) -> None:
    snap = typer.Typer(help="Snapshots of the store, models, config and code: encrypted, verified, restorable.",
                       no_args_is_help=True)  # fmt: skip
    app.add_typer(snap, name="snapshot")

    @snap.command("keygen")
    def keygen() -> None:
        """Print a new random snapshot key for TRIAGE_SNAPSHOT_KEY (keep it away from the snapshots)."""
        from triage.recovery.crypto import generate_key

        typer.echo(generate_key())

    @snap.command("create")
    def create(
        ctx: typer.Context,
        component: ComponentOpt = None,
        reason: Annotated[str, typer.Option("--reason", help="why this snapshot is taken")] = "manual",
        creator: Annotated[
            str | None, typer.Option("--creator", help="who takes it (default: login name)")
        ] = None,
        store_mode: Annotated[str, typer.Option("--store-mode", help="auto | chunks | journal")] = "auto",
        json_out: JsonOpt = False,
    ) -> None:
        """Take a snapshot (all components by default: a full snapshot)."""
        from triage.recovery.executor import create_snapshot

        if store_mode not in ("auto", "chunks", "journal"):
            raise InvalidInput("--store-mode is auto, chunks or journal")
        settings = settings_of(ctx)
        result = create_snapshot(
            settings, components=component, reason=reason, creator=creator or getpass.getuser(),
            store_mode=store_mode, audit=audit_sink(settings),
        )  # fmt: skip
        if json_out:
            print_json(result.as_dict())
            return
        s = result.stats
        typer.echo(
            f"snapshot {result.manifest.id}: {result.manifest.kind}, {len(result.manifest.files)} files, "
            f"{_human_bytes(result.manifest.total_bytes)} ({_human_bytes(s['bytes_new'])} new, "
            f"{_human_bytes(s['bytes_unchanged'])} unchanged), {result.seconds:.2f} s"
        )

    @snap.command("list")
    def list_(ctx: typer.Context, json_out: JsonOpt = False) -> None:
        """List snapshots, oldest first."""
        from triage.recovery.executor import open_repository

        settings = settings_of(ctx)
        if not (settings.snapshots_dir / "repo.json").exists():
            rows: list[dict[str, Any]] = []
        else:
            rows = [m.summary() for m in open_repository(settings, create=False).manifests()]
        if json_out:
            print_json(rows)
            return
        if not rows:
            typer.echo("no snapshots")
        for r in rows:
            typer.echo(f"{r['id']}  {r['kind']:<7} {','.join(r['components']):<24} {_human_bytes(r['bytes']):>9}  "
                       f"{r['creator']}: {r['reason']}")  # fmt: skip

    @snap.command("show")
    def show(
        ctx: typer.Context,
        snapshot_id: Annotated[str, typer.Argument(help="snapshot id")],
        json_out: JsonOpt = False,
    ) -> None:
        """Show one snapshot's manifest: files, sizes, sha256 (never secrets)."""
        from triage.recovery.executor import open_repository

        manifest = open_repository(settings_of(ctx), create=False).load_manifest(snapshot_id)
        body = {**manifest.summary(), "store": manifest.store.model_dump() if manifest.store else None,
                "metadata": manifest.metadata,
                "file_list": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in manifest.files]}  # fmt: skip
        if json_out:
            print_json(body)
            return
        for key in (
            "id",
            "created_at",
            "kind",
            "components",
            "creator",
            "reason",
            "parent",
            "store_mode",
            "journal_position",
        ):
            typer.echo(f"{key}: {body[key]}")
        for f in body["file_list"]:
            typer.echo(f"  {f['sha256'][:16]}  {f['size']:>12}  {f['path']}")

    @snap.command("verify")
    def verify(
        ctx: typer.Context,
        snapshot_id: Annotated[str, typer.Argument(help="snapshot id")],
        json_out: JsonOpt = False,
    ) -> None:
        """Re-hash every file of a snapshot; exit 1 naming the first bad file."""
        from triage.recovery.executor import open_repository, verify_snapshot

        report = verify_snapshot(open_repository(settings_of(ctx), create=False), snapshot_id)
        if json_out:
            print_json(report.as_dict())
        elif report.ok:
            typer.echo(f"snapshot {snapshot_id}: OK ({report.files} files, {_human_bytes(report.bytes)})")
        else:
            typer.echo(f"snapshot {snapshot_id}: BAD: {report.first_bad}: {report.problem}", err=True)
        if not report.ok:
            raise typer.Exit(1)

    @snap.command("restore")
    def restore(
        ctx: typer.Context,
        snapshot_id: Annotated[str, typer.Argument(help="snapshot id")],
        component: ComponentOpt = None,
        to: Annotated[
            str | None, typer.Option("--to", help="bring the store forward to this time by the journal")
        ] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan only")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Restore a snapshot: build beside the live state, verify, then swap atomically."""
        from triage.recovery.capture import layout_of
        from triage.recovery.executor import normalise_components, open_repository, restore_snapshot
        from triage.recovery.planner import plan_restore

        settings = settings_of(ctx)
        repo = open_repository(settings, create=False)
        manifest = repo.load_manifest(snapshot_id)
        until = parse_moment(to) if to else None
        wanted = normalise_components(component) if component else None
        plan = plan_restore(manifest, wanted, layout_of(settings), token="plan", until=until)
        if dry_run:
            if json_out:
                print_json({"plan": plan.describe()})
            else:
                typer.echo("\n".join(plan.describe()))
            return
        if not json_out:
            typer.echo("\n".join(plan.describe()))
        confirm("replace the live state with this snapshot?", yes)
        report = restore_snapshot(
            settings, snapshot_id, components=wanted, until=until, apply=store_apply(), keep_kinds=KEEP_KINDS,
            repo=repo, actor=getpass.getuser(), audit=audit_sink(settings),
        )  # fmt: skip
        if json_out:
            print_json(report.as_dict())
            return
        typer.echo(f"restored {', '.join(c.value for c in report.components)} from {snapshot_id} in {report.seconds:.2f} s"
                   + (f"; replayed {report.replayed} journal entries" if report.replayed else ""))  # fmt: skip
        for note in report.notes:
            typer.echo(f"note: {note}")

    @snap.command("prune")
    def prune(
        ctx: typer.Context,
        keep_last: Annotated[int, typer.Option("--keep-last", min=1)] = 3,
        hourly: Annotated[int, typer.Option("--hourly", min=0, help="one per hour for this many hours")] = 24,
        daily: Annotated[int, typer.Option("--daily", min=0, help="one per day for this many days")] = 30,
        weekly: Annotated[int, typer.Option("--weekly", min=0)] = 0,
        monthly: Annotated[int, typer.Option("--monthly", min=0)] = 0,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go, delete nothing")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Delete snapshots the retention policy does not keep, and the data only they used."""
        from triage.recovery.executor import prune_snapshots
        from triage.recovery.retention import RetentionPolicy

        settings = settings_of(ctx)
        policy = RetentionPolicy(
            keep_last=keep_last, hourly=hourly, daily=daily, weekly=weekly, monthly=monthly
        )
        report = prune_snapshots(settings, policy, dry_run=dry_run, actor=getpass.getuser(),
                                 audit=audit_sink(settings))  # fmt: skip
        if json_out:
            print_json(report.as_dict())
            return
        verb = "would drop" if dry_run else "dropped"
        typer.echo(f"kept {len(report.kept)}, {verb} {len(report.dropped)}"
                   + ("" if dry_run else f"; freed {_human_bytes(report.bytes_freed)}"))  # fmt: skip
        for snapshot_id in report.dropped:
            typer.echo(f"  {verb}: {snapshot_id}")

    @snap.command("schedule")
    def schedule(
        ctx: typer.Context,
        interval: Annotated[
            float, typer.Option("--interval", min=1.0, help="seconds between snapshots")
        ] = 3600.0,
        count: Annotated[
            int | None, typer.Option("--count", min=1, help="stop after this many (default: run on)")
        ] = None,
        print_cron: Annotated[
            bool, typer.Option("--print-cron", help="print cron and systemd lines, then exit")
        ] = False,
    ) -> None:
        """Take a snapshot (and prune) every --interval seconds in the foreground, or print a cron line."""
        from triage.recovery.executor import create_snapshot, prune_snapshots
        from triage.recovery.retention import RetentionPolicy

        settings = settings_of(ctx)
        if print_cron:
            home = settings.home
            typer.echo(
                "# cron (crontab -e): hourly snapshot, then prune; TRIAGE_SNAPSHOT_KEY must be set for cron"
            )
            typer.echo(f"0 * * * * TRIAGE_HOME={home} triage snapshot create --reason scheduled "
                       f"&& TRIAGE_HOME={home} triage snapshot prune")  # fmt: skip
            typer.echo("# systemd: a oneshot service running the same two commands, and a timer with")
            typer.echo("#   [Timer]\n#   OnCalendar=hourly\n#   Persistent=true")
            return
        done = 0
        while count is None or done < count:
            started = time.monotonic()
            result = create_snapshot(
                settings, reason="scheduled", creator="scheduler", audit=audit_sink(settings)
            )
            pruned = prune_snapshots(settings, RetentionPolicy())
            typer.echo(f"{datetime.now(UTC).isoformat(timespec='seconds')} snapshot {result.manifest.id} "
                       f"({result.manifest.store.mode if result.manifest.store else 'no store'}, "
                       f"{result.seconds:.2f} s); pruned {len(pruned.dropped)}")  # fmt: skip
            done += 1
            if count is not None and done >= count:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

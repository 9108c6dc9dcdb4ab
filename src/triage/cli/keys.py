"""`triage keys create|list|revoke`: API keys with roles, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys: each has one role (service, analyst, engineer, approver, admin).",
                       no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        ctx: typer.Context,
        role: Annotated[str, typer.Option("--role", help="service | analyst | engineer | approver | admin")],
        name: Annotated[str, typer.Option("--name", help="who or what uses the key")],
    ) -> None:
        """Create a key and print it once, alone on the last line (it is stored only as a hash)."""
        from triage.access.keys import KeyStore, parse_role
        from triage.storage.database import Database

        settings = settings_of(ctx)
        issued = KeyStore(Database(settings.store_path)).create(name=name, role=parse_role(role))
        typer.echo(f"created key {issued.key.key_id} for {issued.key.name} with role {issued.key.role.value}")
        typer.echo("store it now: it cannot be shown again")
        typer.echo(issued.secret)

    @keys.command("list")
    def list_keys(ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """List keys (never their secrets)."""
        from triage.access.keys import KeyStore
        from triage.storage.database import Database

        settings = settings_of(ctx)
        items = [] if not settings.store_path.exists() else KeyStore(Database(settings.store_path)).list()
        rows = [{"id": k.key_id, "name": k.name, "role": k.role.value, "createdAt": k.created_at.isoformat(),
                 "revoked": k.revoked_at is not None} for k in items]
        if json_out:
            print_json(rows)
            return
        for r in rows:
            typer.echo(f"{r['id']}  {r['role']:<9} {r['name']}{'  (revoked)' if r['revoked'] else ''}")

    @keys.command("revoke")
    def revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="the key's id")]) -> None:
        """Revoke a key; servers stop accepting it within seconds."""
        from triage.access.keys import KeyStore
        from triage.storage.database import Database

        KeyStore(Database(settings_of(ctx).store_path)).revoke(key_id)
        typer.echo(f"revoked {key_id}")

"""`triage ingest`, `triage parse`, `triage templates`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version() -> None:
        """Print triage's version."""
        from triage import __version__

        typer.echo(__version__)

"""`triage rca CASE_DIR [--at UNIX_SECONDS] [--json]`: which service started an incident, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage.cli._common import print_json
from triage.errors import InvalidInput


def register(app: typer.Typer) -> None:
    @app.command("rca")
    def rca(
        case_dir: Annotated[
            Path, typer.Argument(help="A Nezha case, a Sock Shop (normal/anomalous) case or a triage bundle folder.")
        ],
        at: Annotated[
            float | None,
            typer.Option("--at", help="Detection time (unix seconds) when the case has none, or to override it."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")] = False,
    ) -> None:
        """Rank the services of an incident by how likely each one started it."""
        from pydantic import ValidationError

        from triage.rca.analysis import analyze
        from triage.rca.importers import load_case

        try:
            bundle = load_case(case_dir, detection_time=at)
            result = analyze(bundle)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(f"{case_dir}: malformed case: {first.get('msg')}") from exc
        except (ValueError, KeyError) as exc:  # a table whose content does not fit its header
            raise InvalidInput(f"{case_dir}: malformed case ({type(exc).__name__}: {exc})") from exc
        if as_json:
            print_json(result.public())
            return
        root = result.root_cause
        typer.echo(f"root cause: {root.service} (confidence {root.confidence:.2f})")
        typer.echo(f"issue:      {root.issue}")
        top = ", ".join(f"{r.service} {r.score:.2f}" for r in result.ranking[:5])
        typer.echo(f"ranking:    {top}")
        typer.echo(f"affected:   {', '.join(result.affected_services) or '-'}")
        typer.echo(f"data:       {', '.join(result.modalities)}")
        if result.evidence:
            typer.echo("evidence:")
            for item in result.evidence:
                typer.echo(f"  - [{item.modality}/{item.kind}] {item.detail}")

"""`triage serve`: the scorer and dashboard on uvicorn (`triage diagnose` lives in triage.cli.diagnose)."""

from __future__ import annotations

from typing import Annotated

import typer

from triage.cli._common import settings_of
from triage.errors import TriageError


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option("--host", help="default: $TRIAGE_API_HOST or 127.0.0.1")] = None,
        port: Annotated[
            int | None, typer.Option("--port", help="default: $TRIAGE_API_PORT or 8000; 0 picks a free port")
        ] = None,
    ) -> None:
        """Serve the API (docs at /docs) until interrupted."""
        from triage.api.app import create_app
        from triage.api.logging import configure_logging
        from triage.cli.run import base_url, listen, run_server, uvicorn_server

        settings = settings_of(ctx)
        # Bind first: a taken address or a bad port is one line and exit 2, before the app starts.
        listener = listen(host or settings.api_host, settings.api_port if port is None else port)
        try:
            configure_logging(settings.log_level)
            typer.echo(f"triage serve: API and dashboard on {base_url(listener)} (Ctrl-C stops it)", err=True)
            server = uvicorn_server(create_app(settings, freeze_heap=True))
            try:
                run_server(server, listener)
            except SystemExit as exc:  # uvicorn exits when the app's startup fails; it has logged why
                raise TriageError(f"the server did not start (exit {exc.code}); see the log lines above") from None
        finally:
            listener.close()

"""`triage serve`: the scorer and dashboard on uvicorn; `triage diagnose`: one diagnosis, no server."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option("--host", help="default: $TRIAGE_API_HOST or 127.0.0.1")] = None,
        port: Annotated[int | None, typer.Option("--port", help="default: $TRIAGE_API_PORT or 8000")] = None,
    ) -> None:
        """Serve the API (docs at /docs) until interrupted."""
        import uvicorn

        from triage.api.app import create_app
        from triage.api.logging import configure_logging

        settings = settings_of(ctx)
        configure_logging(settings.log_level)
        uvicorn.run(
            create_app(settings, freeze_heap=True),
            host=host or settings.api_host,
            port=port or settings.api_port,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
        )

    @app.command("diagnose")
    def diagnose(
        ctx: typer.Context,
        message: Annotated[str, typer.Option("--message", "-m", help="the error message")],
        service: Annotated[str, typer.Option("--service", "-s", help="the service that logged it")],
        level: Annotated[str, typer.Option("--level")] = "ERROR",
        stack_trace: Annotated[str | None, typer.Option("--stack-trace", help="a stack trace, or - to read stdin")] = None,
    ) -> None:
        """Diagnose one error without a server and print the diagnosis JSON (nothing is stored)."""
        from datetime import UTC, datetime

        from pydantic import ValidationError

        from triage.api.runtime import build_engine
        from triage.diagnosis.schemas import ErrorEvent
        from triage.errors import InvalidInput

        try:
            event = ErrorEvent(
                service=service, timestamp=datetime.now(UTC), level=level, message=message,
                stack_trace=sys.stdin.read() if stack_trace == "-" else stack_trace,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        engine = build_engine(settings_of(ctx))
        print_json(engine.diagnose(event).diagnosis.model_dump(mode="json"))

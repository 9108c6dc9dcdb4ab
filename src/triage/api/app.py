"""create_app(settings): the FastAPI application with its lifespan-held Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from triage import __version__
from triage.api import operations, problems
from triage.api.middleware import BodyLimit, Timing
from triage.api.routes import (
    alerts,
    audit,
    changes,
    dashboard,
    diagnoses,
    health,
    incidents,
    logs,
    recovery,
    status,
)
from triage.api.runtime import Runtime
from triage.settings import Settings


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.start(settings)
        app.state.runtime = rt
        holder["rt"] = rt
        ops = operations.Operations.start(settings, rt)  # alerts, emergency changes, deadlines, PHI-read audit
        app.state.operations = ops
        try:
            yield
        finally:
            rt.stop()
            ops.stop()  # after the runtime: its last reactions still need the services

    app = FastAPI(
        title="triage",
        version=__version__,
        summary="Diagnosis engine for outages: post errors, get a diagnosis; incidents, changes, recovery.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(diagnoses.router)
    app.include_router(logs.router)
    app.include_router(incidents.router)
    app.include_router(dashboard.router)
    app.include_router(status.router)
    app.include_router(changes.router)
    app.include_router(audit.router)
    app.include_router(alerts.router)
    app.include_router(recovery.router)

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        rt = holder.get("rt")
        if rt is not None:
            rt.metrics.observe_request(method, route, status, seconds)

    # Outermost first: size limit before anything reads the body.
    app.add_middleware(operations.PhiReadAudit)
    app.add_middleware(Timing, observe=observe)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app

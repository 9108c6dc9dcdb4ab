"""create_app(settings): the FastAPI application with its lifespan-held Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from triage import __version__
from triage.api import problems
from triage.api.middleware import BodyLimit, Timing
from triage.api.routes import dashboard, diagnoses, health, incidents, status
from triage.api.runtime import Runtime
from triage.settings import Settings


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.start(settings)
        app.state.runtime = rt
        holder["rt"] = rt
        try:
            yield
        finally:
            rt.stop()

    app = FastAPI(
        title="triage",
        version=__version__,
        summary="Diagnosis engine for outages: post errors, get a diagnosis; incidents, changes, recovery.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(diagnoses.router)
    app.include_router(incidents.router)
    app.include_router(dashboard.router)
    app.include_router(status.router)

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        rt = holder.get("rt")
        if rt is not None:
            rt.metrics.observe_request(method, route, status, seconds)

    # Outermost first: size limit before anything reads the body.
    app.add_middleware(Timing, observe=observe)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app

"""create_app(settings): the FastAPI application with its lifespan-held Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from triage import __version__
from triage.api import operations, problems
from triage.api.middleware import BodyLimit, Receive, Scope, Send, Timing
from triage.api.restoration import after_store_replaced
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
from triage.heap import settle_heap
from triage.settings import Settings


def create_app(settings: Settings, *, runtime: Runtime | None = None, freeze_heap: bool = False) -> TriageAPI:
    """``freeze_heap`` (for a long-lived server process, not tests that build many apps): after start-up,
    move everything loaded so far (models, parser, knowledge, libraries) out of the cyclic GC's reach.
    Otherwise each full collection walks that heap, ~300 ms with the GIL held every few seconds under
    load, which was the whole p99 tail of /v1/diagnose."""
    holder: dict[str, Runtime] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime or Runtime.start(settings)
        app.state.runtime = rt
        holder["rt"] = rt
        ops = operations.Operations.start(settings, rt)  # alerts, emergency changes, deadlines, PHI-read audit
        app.state.operations = ops
        rt.on_store_replaced = lambda: after_store_replaced(rt, ops)  # e.g. a CLI restore while serving
        if freeze_heap:
            settle_heap()
        try:
            yield
        finally:
            rt.stop()
            ops.stop()  # after the runtime: its last reactions still need the services

    app = TriageAPI(
        title="triage",
        version=__version__,
        summary="Diagnosis engine for outages: post errors, get a diagnosis; incidents, changes, recovery.",
        lifespan=lifespan,
        # Our metrics are Prometheus (/metrics); FastAPI's own OpenTelemetry hooks would otherwise look up
        # the global providers on every request (~5 % of a diagnosis' CPU) to find nothing configured.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
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

    # Added innermost first: the size limit is outermost, before anything reads the body.
    app.add_middleware(operations.PhiReadAudit)
    app.add_middleware(Timing, observe=observe)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.diagnose_fast_path = diagnoses.DiagnoseFastPath(app.serve, settings.api_max_body_bytes)
    return app


class TriageAPI(FastAPI):
    """The FastAPI app with the diagnose hot path (see ``DiagnoseFastPath``) in front of its stack."""

    diagnose_fast_path: diagnoses.DiagnoseFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == diagnoses.DIAGNOSE_ROUTE.path
                and self.diagnose_fast_path is not None):
            scope["app"] = self
            await self.diagnose_fast_path(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without the hot path: every route and middleware."""
        await super().__call__(scope, receive, send)

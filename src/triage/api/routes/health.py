"""Liveness, readiness and metrics. No key needed: they reveal no data."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from triage import __version__

router = APIRouter(tags=["health"])


@router.api_route("/healthz", methods=["GET", "HEAD"], summary="Shallow health: the process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Deep health: store query, model inference, registry reachable")
async def readyz(request: Request) -> JSONResponse:
    results = await run_in_threadpool(request.app.state.runtime.readiness)
    ready = all(r.ok for r in results)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {r.name: {"ok": r.ok, "detail": r.detail, "ms": round(r.seconds * 1000, 2)} for r in results},
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

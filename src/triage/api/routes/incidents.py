"""Incidents for analysts: list with filters, one with its timeline, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from triage.api.security import IncidentReader, IncidentWriter, actor_name
from triage.api.wire import MAX_OFFSET
from triage.incidents.schemas import Incident, IncidentDetail, ResolveRequest

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


@router.get("", response_model=list[Incident], response_model_by_alias=True, summary="Incidents, newest first")
async def list_incidents(
    request: Request,
    key: IncidentReader,
    status: Annotated[str | None, Query(pattern="^(open|investigating|identified|monitoring|resolved)$")] = None,
    service: Annotated[str | None, Query(max_length=128)] = None,
    severity: Annotated[str | None, Query(pattern="^(?i:critical|high|medium|low)$")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text search")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[Incident]:
    runtime = request.app.state.runtime
    runtime.writer.drain(5.0)
    return await run_in_threadpool(
        runtime.incidents.list, status=status, service=service, severity=severity, category=category,
        since=since, until=until, text=q, limit=limit, offset=offset,
    )


@router.get("/{incident_id}", response_model=IncidentDetail, response_model_by_alias=True,
            summary="One incident with its timeline of errors, diagnoses and actions")
async def get_incident(
    request: Request, incident_id: str, key: IncidentReader
) -> IncidentDetail:
    runtime = request.app.state.runtime
    runtime.writer.drain(5.0)
    return await run_in_threadpool(runtime.incidents.get, incident_id)


@router.post("/{incident_id}/resolve", response_model=Incident, response_model_by_alias=True,
             summary="Resolve an incident: what fixed it and whether the suggested fix worked")
async def resolve(
    request: Request, incident_id: str, body: ResolveRequest,
    key: IncidentWriter,
) -> Incident:
    runtime = request.app.state.runtime
    return await run_in_threadpool(runtime.resolve_incident, incident_id, body, actor_name(key))

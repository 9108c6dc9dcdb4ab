"""POST /v1/diagnose, /v1/errors:batch; diagnosis lookup and analyst feedback."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from triage.api.security import ErrorPoster, IncidentReader, IncidentWriter, actor_name
from triage.diagnosis.schemas import Diagnosis, ErrorEvent
from triage.incidents.schemas import FeedbackRequest

router = APIRouter(prefix="/v1", tags=["diagnoses"])

_JSON = "application/json"


class ErrorBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[ErrorEvent], Field(min_length=1, max_length=1000)]


@router.post(
    "/diagnose",
    response_model=Diagnosis,
    summary="Diagnose one error event",
    description="Masks and redacts the event, matches it to a template, classifies it, groups it into an "
    "incident and returns the diagnosis. The event is stored before the response is sent.",
)
async def diagnose(request: Request, event: ErrorEvent, key: ErrorPoster) -> Response:
    _, body = await request.app.state.runtime.diagnose(event)
    return Response(body, media_type=_JSON)


@router.post("/errors:batch", response_model=list[Diagnosis], summary="Diagnose up to 1,000 error events")
async def diagnose_batch(
    request: Request, batch: ErrorBatch, key: ErrorPoster
) -> Response:
    runtime = request.app.state.runtime
    bodies = [(await runtime.diagnose(event))[1] for event in batch.events]
    return Response("[" + ",".join(bodies) + "]", media_type=_JSON)


@router.get("/diagnoses/{error_id}", response_model=Diagnosis, summary="A stored diagnosis")
async def get_diagnosis(request: Request, error_id: str, key: IncidentReader) -> Response:
    runtime = request.app.state.runtime
    runtime.writer.drain(5.0)  # a diagnosis just returned may still be on its way to the store
    body = await run_in_threadpool(runtime.incidents.diagnosis, error_id)
    return Response(json.dumps(body), media_type=_JSON)


@router.post("/diagnoses/{error_id}/feedback", status_code=201, summary="An analyst's verdict on a diagnosis")
async def feedback(
    request: Request,
    error_id: str,
    verdict: Annotated[FeedbackRequest, Body()],
    key: IncidentWriter,
) -> dict[str, str | None]:
    runtime = request.app.state.runtime
    incident_id = await run_in_threadpool(runtime.record_feedback, error_id, verdict, actor_name(key))
    return {"errorId": error_id, "incidentId": incident_id, "status": "recorded"}

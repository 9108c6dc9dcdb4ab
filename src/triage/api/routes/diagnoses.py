"""POST /v1/diagnose, /v1/errors:batch; diagnosis lookup and analyst feedback."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triage.access.keys import Permission, role_allows
from triage.api.middleware import ASGIApp, Receive, Scope, Send, header, read_ahead, replay
from triage.api.security import ErrorPoster, IncidentReader, IncidentWriter, actor_name, key_in_headers
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


DIAGNOSE_ROUTE = next(r for r in router.routes if getattr(r, "path", None) == "/v1/diagnose")
_JSON_HEADER = (b"content-type", b"application/json")


class DiagnoseFastPath:
    """The hot path of the route above, in front of the whole app: a JSON ``POST /v1/diagnose`` from a key
    already in memory whose role may post errors, with a body within the size limit that validates as an
    ``ErrorEvent``.

    It answers exactly what the route answers, without the framework's per-request layers (middleware
    stack, router, dependency solving, Request and Response objects): under load those were about half of
    a diagnosis' CPU on the event loop. Every other request, and every one of these that is refused (no
    key, unknown key, wrong role, another media type, too large, a body that does not validate), goes to
    ``app`` with whatever body was read replayed, so refusals and their problem bodies come from one place.
    Errors raised while diagnosing go through the app's exception handlers, as from the route, and the
    request is timed into the same metric as the route's.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        web = scope["app"]
        runtime = getattr(web.state, "runtime", None)
        secret = key_in_headers(scope["headers"])
        key = runtime.known_key(secret) if runtime is not None and secret else None
        if key is None or not role_allows(key.role, Permission.ERRORS_WRITE) or not self._fits(scope["headers"]):
            await self.app(scope, receive, send)
            return
        messages, over = await read_ahead(receive, self.max_bytes)
        last = messages[-1]
        whole = not over and last["type"] == "http.request" and not last.get("more_body", False)
        try:
            event = ErrorEvent.model_validate_json(b"".join(m.get("body", b"") for m in messages)) if whole else None
        except ValidationError:
            event = None
        if event is None:
            await self.app(scope, replay(messages, receive), send)
            return
        scope["route"] = DIAGNOSE_ROUTE  # what the router would have set
        scope.setdefault("state", {})["actor"] = key
        try:
            _, answer = await runtime.diagnose(event)
        except Exception as exc:
            status = await _handled(web, scope, receive, send, exc)
        else:
            status = 200
            payload = answer.encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(payload)).encode()), _JSON_HEADER]})
            await send({"type": "http.response.body", "body": payload})
        runtime.metrics.observe_request("POST", DIAGNOSE_ROUTE.path, status, time.perf_counter() - started)

    def _fits(self, raw_headers: list[tuple[bytes, bytes]]) -> bool:
        """A JSON body whose declared length (if any) is within the limit."""
        media = header(raw_headers, b"content-type") or b""
        if media.split(b";", 1)[0].strip().lower() != b"application/json":
            return False
        length = header(raw_headers, b"content-length")
        return length is None or (length.isdigit() and int(length) <= self.max_bytes)


async def _handled(web: Any, scope: Scope, receive: Receive, send: Send, exc: Exception) -> int:
    """Answer ``exc`` with the app's handler for its nearest class, as Starlette does for a route; the
    status sent."""
    handlers = web.exception_handlers
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
    if handler is None:
        raise exc
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)
    return response.status_code


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

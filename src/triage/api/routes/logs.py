"""POST /v1/logs: raw log lines into the ingest pipeline, durable before the 202 (the inbox and its
background ingest: :mod:`triage.api.inbox`)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from triage.api.inbox import LogInbox
from triage.api.problems import problem
from triage.api.security import ErrorPoster
from triage.diagnosis.schemas import ServiceName

log = logging.getLogger("triage.api.logs")

router = APIRouter(prefix="/v1", tags=["logs"])

#: Most physical lines one request may carry (the body is also bounded by ``Settings.api_max_body_bytes``).
MAX_LINES = 20_000
MAX_FORMAT_CHARS = 512

_SERVICE = TypeAdapter(ServiceName)
_TEXT, _JSON = "text/plain", "application/json"


class LogBatch(BaseModel):
    """The JSON form of a request."""

    model_config = ConfigDict(extra="forbid")

    service: ServiceName
    format: Annotated[str | None, Field(min_length=1, max_length=MAX_FORMAT_CHARS)] = None
    lines: Annotated[list[str], Field(min_length=1)]


_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _TEXT: {"schema": {"type": "string", "description": "Log lines (service and format in the query)."}},
            _JSON: {"schema": LogBatch.model_json_schema()},
        },
    }
}


@router.post(
    "/logs",
    status_code=202,
    summary="Post raw log lines for ingest",
    description="Either `text/plain` (the body is log lines; `service` and optional `format` in the query) or "
    "`application/json` `{service, format?, lines: [...]}`. `format` is what `triage ingest --format` takes "
    f"(a preset such as hdfs, syslog, json; detected when omitted). At most {MAX_LINES:,} lines and the API's "
    "body limit. The lines are on disk (fsync'd) before the 202; they reach the store's `events` (or "
    "`quarantine`) within seconds, through the exactly-once ingest job.",
    openapi_extra=_OPENAPI_BODY,
    responses={202: {"description": "Accepted: `{accepted, batch, bytes}`"}},
)
async def post_logs(
    request: Request,
    key: ErrorPoster,
    service: Annotated[str | None, Query(description="The service the lines come from (text/plain).")] = None,
    log_format: Annotated[
        str | None, Query(alias="format", description="A `triage ingest --format` value (text/plain).")
    ] = None,
) -> JSONResponse:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in (_TEXT, _JSON):
        return problem(415, f"send {_TEXT} (lines; service and format in the query) or {_JSON} "
                            "({service, format, lines})")
    body = await request.body()  # bounded by the BodyLimit middleware (413 past api_max_body_bytes)
    if content_type == _JSON:
        if service is not None or log_format is not None:
            return problem(422, "with application/json, give service and format in the body, not the query")
        try:
            batch = LogBatch.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        service, log_format = batch.service, batch.format
        data = ("\n".join(line.removesuffix("\n") for line in batch.lines) + "\n").encode("utf-8", "replace")
    else:
        if service is None:
            return problem(422, "service: give the service the lines come from (?service=NAME)")
        try:
            service = _SERVICE.validate_python(service)
        except ValidationError as exc:
            return problem(422, f"service: {exc.errors()[0]['msg']}")
        if log_format is not None and not 0 < len(log_format) <= MAX_FORMAT_CHARS:
            return problem(422, f"format: give a format name or string of 1 to {MAX_FORMAT_CHARS} characters")
        if not body:
            return problem(422, "no log lines in the body")
        data = body if body.endswith(b"\n") else body + b"\n"
    lines = data.count(b"\n")
    if lines > MAX_LINES:
        return problem(413, f"{lines:,} lines; post at most {MAX_LINES:,} per request")
    if log_format is not None:
        from triage.ingest.presets import resolve_format

        resolve_format(log_format)  # InvalidLogFormat (an InvalidInput) -> 422, before anything is written
    runtime = request.app.state.runtime
    inbox: LogInbox | None = getattr(runtime, "inbox", None)
    if inbox is None:
        return problem(503, "the log inbox is not running")
    try:
        batch_id = await run_in_threadpool(inbox.accept, service, log_format, data, lines)
    except OSError as exc:
        log.error("log inbox write failed", extra={"error": type(exc).__name__, "errno": exc.errno})
        return problem(503, "the lines could not be stored; try again")
    runtime.metrics.events_accepted.labels("log").inc(lines)
    return JSONResponse({"accepted": lines, "batch": batch_id, "bytes": len(data)}, status_code=202)

"""RFC 9457 problem details for every error the API returns; domain errors map to HTTP codes here only."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage.errors import Conflict, IntegrityError, InvalidInput, NotFound, PermissionDenied, TriageError
from triage.storage.database import StorageError

log = logging.getLogger("triage.api")

PROBLEM_TYPE = "application/problem+json"

_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": _STATUS_TITLES.get(status, "Error"), "status": status, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def status_of(error: TriageError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, Conflict | IntegrityError):
        return 409
    if isinstance(error, InvalidInput):
        return 422
    if isinstance(error, StorageError):  # the server's store failed, not the request
        return 503
    return 400


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem body (never a traceback)."""

    @app.exception_handler(TriageError)
    async def _domain(_: Request, exc: TriageError) -> JSONResponse:
        if isinstance(exc, StorageError):  # SQL and table names stay in the server log, not in the answer
            log.error("store error: %s", exc)
            return problem(503, "the store could not answer; see the server log and /readyz")
        return problem(status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ][:20]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # its loc is ("body", character offset), not a field
            offset = first["loc"][1] if len(first["loc"]) > 1 else "?"
            return problem(422, f"body: not valid JSON (at character {offset})", errors=errors)
        where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # last resort: no traceback to clients
        return problem(500, "internal error; see the server log", error=type(exc).__name__)

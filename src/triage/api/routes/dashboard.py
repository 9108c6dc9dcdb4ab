"""The command center (``/``), the incident page (``/incidents/{id}``) and incident history (``/history``):
public HTML shells and static files, and the keyed JSON endpoints their scripts read."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from triage.api.command_center import CommandCenter
from triage.api.security import IncidentReader
from triage.api.web import page_headers, shell, static_file
from triage.api.wire import MAX_OFFSET
from triage.errors import InvalidInput, NotFound
from triage.history.analytics import trends
from triage.history.export import to_csv
from triage.history.queries import HistoryFilter

router = APIRouter()
_center_lock = threading.Lock()


def center(request: Request) -> CommandCenter:
    state = request.app.state
    with _center_lock:
        if getattr(state, "command_center", None) is None:
            state.command_center = CommandCenter(state.runtime, getattr(state, "operations", None))
    return state.command_center


# --- pages (no data in them: no key needed) -------------------------------------------------------------------
def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={**page_headers(), "Cache-Control": "no-cache"})


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def command_center_page() -> HTMLResponse:
    return _page(shell(title="Command center", page="center", script="center.js"))


@router.get("/incidents/{incident_id}", response_class=HTMLResponse, include_in_schema=False)
async def incident_page(incident_id: str) -> HTMLResponse:
    return _page(shell(title="Incident", page="incident", script="incident.js"))


@router.get("/history", response_class=HTMLResponse, include_in_schema=False)
async def history_page() -> HTMLResponse:
    return _page(shell(title="Incident history", page="history", script="history.js"))


@router.get("/static/{path:path}", include_in_schema=False)
async def static(path: str) -> FileResponse:
    found = static_file(path)
    if found is None:
        hint = " (run `make assets` to fetch the chart library)" if path.startswith("vendor/") else ""
        raise NotFound(f"no static file {path}{hint}")
    return FileResponse(found, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


# --- command center and incident data ---------------------------------------------------------------------------
def _json_etag(request: Request, body: Any) -> Response:
    """JSON with an ETag, answering 304 when the client already has this body (cheap polling)."""
    payload = json.dumps(body, separators=(",", ":"), default=str).encode()
    digest = hashlib.sha256(payload).hexdigest()[:32]
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


@router.get("/v1/dashboard/summary", tags=["dashboard"],
            summary="The command center: active incidents, changes, error trends, models, on-call, escalations")
async def summary(
    request: Request, key: IncidentReader, hours: Annotated[int, Query(ge=1, le=168)] = 1
) -> Response:
    body = await run_in_threadpool(center(request).summary, hours=hours)
    return _json_etag(request, body)


@router.get("/v1/dashboard/incidents/{incident_id}", tags=["dashboard"],
            summary="One incident for its page: timeline, evidence, related incidents, post-incident review")
async def incident_view(request: Request, incident_id: str, key: IncidentReader) -> Response:
    body = await run_in_threadpool(center(request).incident, incident_id)
    return _json_etag(request, body)


# --- history --------------------------------------------------------------------------------------------------
def _filter(
    service: str | None, category: str | None, severity: str | None, root_cause: str | None, status: str | None,
    since: datetime | None, until: datetime | None, q: str | None,
) -> HistoryFilter:
    try:
        return HistoryFilter(service=service, category=category, severity=severity, root_cause=root_cause,
                             status=status, since=since, until=until, text=q)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


Service = Annotated[str | None, Query(max_length=128)]
Category = Annotated[str | None, Query(max_length=64)]
SeverityQ = Annotated[str | None, Query(max_length=16)]
RootCause = Annotated[str | None, Query(alias="rootCause", max_length=200)]
StatusQ = Annotated[str | None, Query(max_length=16)]
Text = Annotated[str | None, Query(max_length=200, description="words in title, root cause, resolution, errors")]


@router.get("/v1/history/incidents", tags=["history"], summary="Search past incidents (newest first)")
async def history_incidents(
    request: Request, key: IncidentReader, service: Service = None, category: Category = None,
    severity: SeverityQ = None, root_cause: RootCause = None, status: StatusQ = None, since: datetime | None = None,
    until: datetime | None = None, q: Text = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    where = _filter(service, category, severity, root_cause, status, since, until, q)
    frame, total = await run_in_threadpool(center(request).history.search, where, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": _records(frame)}


@router.get("/v1/history/incidents.csv", tags=["history"], summary="The matching incidents as CSV")
async def history_csv(
    request: Request, key: IncidentReader, service: Service = None, category: Category = None,
    severity: SeverityQ = None, root_cause: RootCause = None, status: StatusQ = None, since: datetime | None = None,
    until: datetime | None = None, q: Text = None,
) -> Response:
    where = _filter(service, category, severity, root_cause, status, since, until, q)
    frame = await run_in_threadpool(center(request).history.frame, where)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(to_csv(frame), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="incidents-{stamp}.csv"',
                             "Cache-Control": "no-store"})


@router.get("/v1/history/trends", tags=["history"],
            summary="MTTR (overall, by category, by severity, by week) and incidents per category per week")
async def history_trends(
    request: Request, key: IncidentReader, service: Service = None, category: Category = None,
    severity: SeverityQ = None, root_cause: RootCause = None, status: StatusQ = None, since: datetime | None = None,
    until: datetime | None = None, q: Text = None,
) -> dict[str, Any]:
    where = _filter(service, category, severity, root_cause, status, since, until, q)
    frame = await run_in_threadpool(center(request).history.frame, where)
    return await run_in_threadpool(trends, frame)  # pandas work: keep it off the event loop


@router.get("/v1/history/facets", tags=["history"], summary="Values the history filters can take")
async def history_facets(request: Request, key: IncidentReader) -> dict[str, list[str]]:
    return await run_in_threadpool(center(request).history.facets)


def _records(frame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append({
            "incidentId": row["incident_id"], "title": row["title"], "status": row["status"],
            "severity": row["severity"], "category": row["category"], "services": row["services"],
            "rootService": _str(row["root_service"]), "rootIssue": _str(row["root_issue"]),
            "rootConfidence": _num(row["root_confidence"]), "errorCount": int(row["error_count"]),
            "firstSeen": _iso(row["first_seen"]), "lastSeen": _iso(row["last_seen"]),
            "resolvedAt": _iso(row["resolved_at"]), "resolvedBy": _str(row["resolved_by"]), "fix": _str(row["fix"]),
            "minutesToResolve": _num(row["minutes_to_resolve"]),
        })
    return out


def _str(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def _iso(value: Any) -> str | None:
    return None if value is None or value != value else value.isoformat()  # NaT != NaT


def _num(value: Any) -> float | None:
    return None if value is None or value != value else round(float(value), 3)

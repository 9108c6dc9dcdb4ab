"""The public status page (``/status``, ``/status.json``: no key) and the routes people use to feed it
(public incident updates and planned maintenance: keyed). The page is rendered on the server, so it
reads without JavaScript; a small script refreshes it in place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from html import escape
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from triage.api.security import ChangeWriter, IncidentReader, IncidentWriter, actor_name
from triage.api.status_service import StatusService
from triage.api.web import page_headers
from triage.errors import TriageError
from triage.status.page import StatusPage, page_json
from triage.status.schemas import ComponentState, MaintenanceCreate, UpdateCreate, UptimeDay

log = logging.getLogger("triage.api.status")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan: the runtime exists; start the recorder, stop it before the runtime.

    A broken status configuration must not take the diagnosis service down with it: the status page then
    answers 503 with the reason, and /readyz reports it.
    """
    runtime = app.state.runtime
    try:
        service: StatusService | None = StatusService(runtime)
    except TriageError as exc:
        reason = f"status page disabled: {exc}"
        log.error(reason)
        service = None

        def broken() -> str:
            raise RuntimeError(reason)

        runtime.readiness_checks["status_page"] = broken
    app.state.status = service
    if service is not None:
        service.start()
    try:
        yield
    finally:
        if service is not None:
            service.stop()


router = APIRouter(lifespan=lifespan)


def _service(request: Request) -> StatusService:
    service = getattr(request.app.state, "status", None)
    if service is None:
        raise HTTPException(503, "the status page is not configured correctly; see /readyz")
    return service


@router.get("/status", response_class=HTMLResponse, tags=["status"], summary="The public status page (no key)")
async def status_page(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(_service(request).page)
    refresh = int(min(60, max(2, _service(request).config.interval_s)))
    return HTMLResponse(render(page, refresh=refresh), headers={**page_headers(), "Cache-Control": "no-cache"})


@router.get("/status.json", tags=["status"], summary="The public status page as JSON (no key)")
async def status_json(request: Request) -> JSONResponse:
    page = await run_in_threadpool(_service(request).page)
    return JSONResponse(page_json(page), headers={"Cache-Control": "no-cache"})


@router.get("/v1/status/components", tags=["status"], summary="Components with internal reasons and checks")
async def components(request: Request, key: IncidentReader) -> list[dict[str, Any]]:
    return await run_in_threadpool(_service(request).internal_components)


@router.post("/v1/status/incidents/{incident_id}/updates", status_code=201, tags=["status"],
             summary="Post a public update on an incident (the message is redacted before it is published)")
async def post_update(request: Request, incident_id: str, body: UpdateCreate, key: IncidentWriter) -> dict[str, Any]:
    service = _service(request)

    def post() -> Any:
        request.app.state.runtime.writer.drain(5.0)  # an incident just opened may still be on its way to the store
        return service.post_update(incident_id, body, actor=actor_name(key))

    stored = await run_in_threadpool(post)
    return stored.model_dump(mode="json")


@router.get("/v1/status/maintenance", tags=["status"], summary="Planned maintenance that has not ended")
async def list_maintenance(request: Request, key: IncidentReader) -> list[dict[str, Any]]:
    items = await run_in_threadpool(_service(request).store.maintenances, ending_after=datetime.now(UTC))
    return [m.model_dump(mode="json") for m in items]


@router.post("/v1/status/maintenance", status_code=201, tags=["status"], summary="Schedule planned maintenance")
async def schedule(request: Request, body: MaintenanceCreate, key: ChangeWriter) -> dict[str, Any]:
    item = await run_in_threadpool(_service(request).schedule, body, actor=actor_name(key))
    return item.model_dump(mode="json")


@router.post("/v1/status/maintenance/{maintenance_id}/cancel", tags=["status"], summary="Cancel planned maintenance")
async def cancel(request: Request, maintenance_id: str, key: ChangeWriter) -> dict[str, Any]:
    item = await run_in_threadpool(_service(request).cancel, maintenance_id)
    return item.model_dump(mode="json")


# --- rendering ----------------------------------------------------------------------------------------------
_DAY_CLASS = {
    None: "none",
    ComponentState.OPERATIONAL: "ok",
    ComponentState.UNDER_MAINTENANCE: "maintenance",
    ComponentState.DEGRADED_PERFORMANCE: "degraded",
    ComponentState.PARTIAL_OUTAGE: "partial",
    ComponentState.MAJOR_OUTAGE: "major",
}


def _time(moment: datetime) -> str:
    iso = moment.isoformat()
    return f'<time datetime="{iso}">{moment.strftime("%Y-%m-%d %H:%M UTC")}</time>'


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.2f}%"


def _day(d: UptimeDay) -> str:
    what = "no data" if d.worst is None else f"{_pct(d.uptime)} up, worst: {d.worst.label.lower()}"
    return f'<li class="bar day-{_DAY_CLASS[d.worst]}" title="{d.day.isoformat()}: {escape(what)}"></li>'


def render(page: StatusPage, *, refresh: int) -> str:
    e = escape
    comps = []
    for v in page.components:
        bad = [d for d in v.days if d.worst in (ComponentState.PARTIAL_OUTAGE, ComponentState.MAJOR_OUTAGE)]
        label = (f"{v.name}: {_pct(v.uptime)} uptime over the past {page.days} days; "
                 f"{len(bad)} day(s) with an outage")
        comps.append(
            f'<li class="component" data-component="{e(v.component_id)}" data-state="{v.state.value}">'
            f'<div class="component-head"><h3>{e(v.name)}</h3>'
            f'<span class="pill state-{v.state.value}">{e(v.state.label)}</span></div>'
            + (f'<p class="muted">{e(v.description)}</p>' if v.description else "")
            + f'<ol class="uptime" role="img" aria-label="{e(label)}">{"".join(_day(d) for d in v.days)}</ol>'
            f'<div class="uptime-scale" aria-hidden="true"><span>{page.days} days ago</span>'
            f'<span class="uptime-figure">{_pct(v.uptime)} uptime</span><span>Today</span></div></li>'
        )
    maint = []
    for m in page.maintenance:
        state = "In progress" if m.in_progress else "Scheduled"
        maint.append(
            f'<article class="maintenance"><h3>{e(m.title)} <span class="pill state-under_maintenance">{state}</span></h3>'
            f'<p>{_time(m.starts_at)} – {_time(m.ends_at)}</p>'
            + (f"<p>{e(m.description)}</p>" if m.description else "")
            + (f'<p class="muted">Affects: {e(", ".join(m.components))}</p>' if m.components else "")
            + "</article>"
        )
    incidents = []
    for i in page.incidents:
        updates = "".join(
            f'<li><strong class="update-status">{e(u.status.value.capitalize())}</strong> — {e(u.message)} '
            f'<span class="muted">{_time(u.at)}</span></li>'
            for u in i.updates
        )
        kind = "resolved" if i.resolved_at else "active"
        incidents.append(
            f'<article class="incident {kind} impact-{i.impact.value}" data-incident="{e(i.public_id)}">'
            f'<h3>{e(i.title)}</h3>'
            f'<p class="muted">{e(i.status.value.capitalize())} · started {_time(i.started_at)}'
            + (f" · affects {e(', '.join(i.components))}" if i.components else "")
            + f'</p><ol class="updates">{updates}</ol></article>'
        )
    no_incidents = f'<p class="muted">No incidents in the past {page.past_incident_days} days.</p>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{e(page.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/css/triage.css">
<script src="/static/js/status.js" defer></script>
</head>
<body class="status-page">
<a class="skip" href="#main">Skip to content</a>
<header class="page-head"><h1>{e(page.title)}</h1>
<p class="muted" id="updated">Updated {_time(page.generated_at)}</p></header>
<main id="main" data-refresh="{refresh}">
<section class="banner state-{page.state.value}" aria-live="polite" id="overall">
<span class="dot" aria-hidden="true"></span><h2>{e(page.summary)}</h2></section>
{'<section aria-labelledby="maintenance-h"><h2 id="maintenance-h">Planned maintenance</h2>' + "".join(maint) + "</section>" if maint else ""}
<section aria-labelledby="components-h"><h2 id="components-h">Components</h2>
<ul class="components">{"".join(comps)}</ul>
<p class="legend muted"><span class="key day-ok"></span> Operational <span class="key day-degraded"></span> Degraded
<span class="key day-partial"></span> Partial outage <span class="key day-major"></span> Major outage
<span class="key day-maintenance"></span> Maintenance <span class="key day-none"></span> No data</p>
</section>
<section aria-labelledby="incidents-h"><h2 id="incidents-h">Incidents</h2>
{"".join(incidents) or no_incidents}
</section>
</main>
<footer class="page-foot muted"><a href="/status.json">Status as JSON</a></footer>
</body>
</html>
"""

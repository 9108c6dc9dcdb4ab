"""Alerts over HTTP: listed grouped by incident (readers of incidents), acknowledged and resolved by
engineers, approvers and admins. Alerts are raised by the API itself from stored diagnoses and missed
emergency deadlines (see ``triage.api.operations``); acknowledging one stops its escalation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from triage.alerting.schemas import Alert, AlertState
from triage.api.security import AlertWriter, IncidentReader
from triage.api.wire import WireModel, wire

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

AlertId = Annotated[str, Path(pattern=r"^ALT-\d{6,}$", description="e.g. ALT-000003")]


class Acknowledge(WireModel):
    comment: Annotated[str | None, Field(max_length=4000)] = None


class Resolve(WireModel):
    reason: Annotated[str | None, Field(max_length=4000)] = None


class AcknowledgeIncident(WireModel):
    incident_id: Annotated[str, Field(min_length=1, max_length=200)]


def _alerts(request: Request):
    return request.app.state.operations.alerts


def _public(alert: Alert) -> dict[str, Any]:
    return wire(alert)


@router.get("", summary="Alerts grouped by incident")
async def list_alerts(
    request: Request,
    key: IncidentReader,
    state: AlertState | None = None,
    incident: Annotated[str | None, Query(max_length=200)] = None,
    open_only: Annotated[bool, Query(alias="open", description="leave out resolved alerts")] = True,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> dict[str, Any]:
    service = _alerts(request)
    found = await run_in_threadpool(
        lambda: service.list(state=state, incident_id=incident, open_only=open_only, limit=limit)
    )
    groups: dict[str, list[Alert]] = {}
    for alert in found:
        groups.setdefault(alert.incident_id or alert.id, []).append(alert)
    return {
        "count": len(found),
        "groups": [
            {"incidentId": alerts[0].incident_id, "alerts": [_public(a) for a in alerts],
             "highestSeverity": max(alerts, key=lambda a: a.severity.rank).severity.value}
            for alerts in groups.values()
        ],
    }  # fmt: skip


@router.get("/{alert_id}", summary="One alert with its deliveries (channel, recipient, status)")
async def get_alert(request: Request, alert_id: AlertId, key: IncidentReader) -> dict[str, Any]:
    service = _alerts(request)
    alert = await run_in_threadpool(lambda: service.get(alert_id=alert_id))
    deliveries = await run_in_threadpool(lambda: service.deliveries(alert_id=alert_id))
    body = _public(alert)
    # addresses (emails, phone numbers) stay out of the API; who and how is enough to follow a delivery
    body["deliveries"] = [{k: v for k, v in wire(d).items() if k != "address"} for d in deliveries]
    return body


@router.post("/{alert_id}/ack", summary="Acknowledge: you own it, escalation stops")
async def acknowledge(
    request: Request, alert_id: AlertId, key: AlertWriter, body: Annotated[Acknowledge | None, Body()] = None
) -> dict[str, Any]:
    service = _alerts(request)
    comment = body.comment if body else None
    alert = await run_in_threadpool(
        lambda: service.acknowledge(alert_id=alert_id, user=key.name, comment=comment)
    )
    return _public(alert)


@router.post("/{alert_id}/resolve", summary="Resolve an alert")
async def resolve(
    request: Request, alert_id: AlertId, key: AlertWriter, body: Annotated[Resolve | None, Body()] = None
) -> dict[str, Any]:
    service = _alerts(request)
    reason = body.reason if body else None
    alert = await run_in_threadpool(lambda: service.resolve(alert_id=alert_id, user=key.name, reason=reason))
    return _public(alert)


@router.post("/ack", summary="Acknowledge every open alert of an incident (the group)")
async def acknowledge_incident(
    request: Request, body: AcknowledgeIncident, key: AlertWriter
) -> dict[str, Any]:
    service = _alerts(request)
    alerts = await run_in_threadpool(
        lambda: service.acknowledge_incident(incident_id=body.incident_id, user=key.name)
    )
    return {"incidentId": body.incident_id, "acknowledged": [_public(a) for a in alerts]}

"""The public status page as data: what ``/status`` renders and ``/status.json`` returns.

Only public fields leave this module: component names and descriptions, states, uptime, public incident
titles and updates, maintenance windows. No internal service names, incident ids, check details or people.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from triage.status.config import StatusConfig
from triage.status.rules import daily_uptime, overall, public_incidents, window_uptime
from triage.status.schemas import (
    ComponentState,
    ComponentView,
    Impact,
    Maintenance,
    PublicIncident,
    Sample,
    StoredUpdate,
)


@dataclass(frozen=True, slots=True)
class PublicMaintenance:
    title: str
    description: str
    components: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    in_progress: bool


@dataclass(frozen=True, slots=True)
class StatusPage:
    title: str
    generated_at: datetime
    state: ComponentState
    summary: str
    components: tuple[ComponentView, ...]
    incidents: tuple[PublicIncident, ...]
    maintenance: tuple[PublicMaintenance, ...]
    days: int
    past_incident_days: int


def build_page(
    config: StatusConfig,
    *,
    now: datetime,
    current: Mapping[str, Sample],
    day_counts: Mapping[str, Mapping[date, Mapping[str, int]]],
    impacts: Sequence[Impact],
    updates: Sequence[StoredUpdate],
    maintenances: Sequence[Maintenance],
) -> StatusPage:
    today = now.date()
    views = []
    for c in config.components:
        days = daily_uptime(day_counts.get(c.id, {}), today=today, days=config.days, weights=config.downtime_weights)
        state = current[c.id].state if c.id in current else ComponentState.OPERATIONAL
        views.append(ComponentView(c.id, c.name, c.description, state,
                                   window_uptime(days, config.downtime_weights), days))
    top, summary = overall([v.state for v in views])
    names = {c.id: c.name for c in config.components}
    maintenance = tuple(
        PublicMaintenance(m.title, m.description, tuple(names[i] for i in m.components if i in names), m.starts_at,
                          m.ends_at, m.active(now))
        for m in maintenances
        if m.canceled_at is None and m.ends_at > now
    )
    return StatusPage(
        title=config.title, generated_at=now, state=top, summary=summary, components=tuple(views),
        incidents=tuple(public_incidents(impacts, updates, config, now=now)), maintenance=maintenance,
        days=config.days, past_incident_days=config.past_incident_days,
    )


def page_json(page: StatusPage) -> dict[str, Any]:
    """The page as JSON (camelCase, like the rest of the API)."""
    return {
        "title": page.title,
        "generatedAt": page.generated_at.isoformat(),
        "status": {"state": page.state.value, "description": page.summary},
        "components": [
            {
                "id": v.component_id,
                "name": v.name,
                "description": v.description,
                "state": v.state.value,
                "stateLabel": v.state.label,
                "uptime": None if v.uptime is None else round(v.uptime, 6),
                "days": [
                    {"date": d.day.isoformat(), "uptime": None if d.uptime is None else round(d.uptime, 6),
                     "worst": d.worst.value if d.worst else None}
                    for d in v.days
                ],
            }
            for v in page.components
        ],
        "incidents": [
            {
                "id": i.public_id,
                "title": i.title,
                "impact": i.impact.value,
                "status": i.status.value,
                "components": list(i.components),
                "startedAt": i.started_at.isoformat(),
                "resolvedAt": i.resolved_at.isoformat() if i.resolved_at else None,
                "updates": [{"status": u.status.value, "message": u.message, "at": u.at.isoformat()}
                            for u in i.updates],
            }
            for i in page.incidents
        ],
        "maintenance": [
            {"title": m.title, "description": m.description, "components": list(m.components),
             "startsAt": m.starts_at.isoformat(), "endsAt": m.ends_at.isoformat(), "inProgress": m.in_progress}
            for m in page.maintenance
        ],
    }


def first_day(now: datetime, days: int) -> date:
    return now.date() - timedelta(days=days - 1)

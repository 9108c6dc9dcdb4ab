"""Pure rules of the status page: states from checks and incidents, uptime from samples, public incidents."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from fnmatch import fnmatchcase

from triage.status.config import ComponentConfig, StatusConfig
from triage.status.schemas import (
    CheckOutcome,
    ComponentState,
    Impact,
    Maintenance,
    PublicIncident,
    PublicUpdate,
    StoredUpdate,
    UpdateStatus,
    UptimeDay,
    worst,
)

#: What the page says for an automatic update, by status. No internal detail goes in here.
AUTOMATIC_MESSAGES: dict[UpdateStatus, str] = {
    UpdateStatus.INVESTIGATING: "We are investigating {impact} affecting {components}.",
    UpdateStatus.IDENTIFIED: "The cause has been identified and a fix is being put in place.",
    UpdateStatus.MONITORING: "A fix has been applied and we are monitoring the results.",
    UpdateStatus.RESOLVED: "This incident has been resolved.",
}


def state_from_checks(outcomes: Sequence[CheckOutcome], degraded_ms: float) -> ComponentState | None:
    """All failing: major outage; some: partial outage; any slower than ``degraded_ms``: degraded.

    ``None`` when the component has no checks (its state then comes from incidents alone).
    """
    if not outcomes:
        return None
    failed = sum(not o.ok for o in outcomes)
    if failed == len(outcomes):
        return ComponentState.MAJOR_OUTAGE
    if failed:
        return ComponentState.PARTIAL_OUTAGE
    if any(o.latency_ms is not None and o.latency_ms > degraded_ms for o in outcomes):
        return ComponentState.DEGRADED_PERFORMANCE
    return ComponentState.OPERATIONAL


def affects(component: ComponentConfig, services: Iterable[str]) -> bool:
    return any(fnmatchcase(s, pattern) for s in services for pattern in component.services)


def state_from_impacts(
    component: ComponentConfig, impacts: Iterable[Impact], severity_impact: Mapping[str, ComponentState]
) -> ComponentState:
    """The worst impact of the open incidents on the component's services."""
    states = [
        severity_impact.get(i.severity.upper(), ComponentState.OPERATIONAL)
        for i in impacts
        if i.open and affects(component, i.services)
    ]
    return worst(states)


def in_maintenance(component_id: str, maintenances: Iterable[Maintenance], now: datetime) -> bool:
    return any(m.active(now) and component_id in m.components for m in maintenances)


def component_state(
    component: ComponentConfig,
    outcomes: Sequence[CheckOutcome],
    impacts: Sequence[Impact],
    maintenances: Sequence[Maintenance],
    now: datetime,
    config: StatusConfig,
) -> tuple[ComponentState, str]:
    """The state the page shows for ``component`` and an internal reason (never shown publicly)."""
    if in_maintenance(component.id, maintenances, now):
        return ComponentState.UNDER_MAINTENANCE, "planned maintenance"
    checks = state_from_checks(outcomes, config.degraded_ms)
    incidents = state_from_impacts(component, impacts, config.severity_impact)
    state = worst([s for s in (checks, incidents) if s is not None])
    reasons = [f"{o.name}: {o.detail or 'failed'}" for o in outcomes if not o.ok]
    reasons += [f"{o.name}: {o.latency_ms:.0f} ms" for o in outcomes
                if o.ok and o.latency_ms is not None and o.latency_ms > config.degraded_ms]
    if incidents is not ComponentState.OPERATIONAL:
        reasons.append(f"open incidents: {incidents.value}")
    return state, "; ".join(reasons)[:500]


def overall(states: Sequence[ComponentState]) -> tuple[ComponentState, str]:
    """The page's banner: the worst component state and its sentence."""
    top = worst(list(states))
    text = {
        ComponentState.OPERATIONAL: "All systems operational",
        ComponentState.UNDER_MAINTENANCE: "Maintenance in progress",
        ComponentState.DEGRADED_PERFORMANCE: "Degraded performance",
        ComponentState.PARTIAL_OUTAGE: "Partial system outage",
        ComponentState.MAJOR_OUTAGE: "Major system outage",
    }[top]
    return top, text


# --- uptime ---------------------------------------------------------------------------------------------------
def daily_uptime(
    counts: Mapping[date, Mapping[str, int]],
    *,
    today: date,
    days: int,
    weights: Mapping[ComponentState, float],
) -> tuple[UptimeDay, ...]:
    """One bar per day, oldest first, from the number of samples per state per day.

    Samples are taken at a fixed interval, so counts measure time. Uptime = 1 - Σ weight(state) · share of
    the day's measured samples, where time under maintenance is not measured (neither up nor down). A day
    without samples has no uptime (shown as *no data*), never a made-up 100 %.
    """
    out = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        day_counts = {k: v for k, v in counts.get(day, {}).items() if v > 0}
        states = [ComponentState(s) for s in day_counts]
        measured = sum(v for s, v in day_counts.items() if s != ComponentState.UNDER_MAINTENANCE)
        if measured:
            down = sum(weights.get(ComponentState(s), 0.0) * v for s, v in day_counts.items()
                       if s != ComponentState.UNDER_MAINTENANCE)
            uptime: float | None = 1.0 - down / measured
        else:
            uptime = None
        out.append(UptimeDay(day, uptime, worst(states) if states else None, sum(day_counts.values()),
                             dict(day_counts)))
    return tuple(out)


def window_uptime(days: Sequence[UptimeDay], weights: Mapping[ComponentState, float]) -> float | None:
    """Uptime over the whole window, weighting each day by its measured samples."""
    measured = down = 0.0
    for d in days:
        for s, v in d.counts.items():
            if s == ComponentState.UNDER_MAINTENANCE:
                continue
            measured += v
            down += weights.get(ComponentState(s), 0.0) * v
    return None if not measured else 1.0 - down / measured


# --- public incidents -----------------------------------------------------------------------------------------
def public_id(incident_id: str) -> str:
    """A stable id for the public page that does not reveal the internal one."""
    return hashlib.sha256(f"status:{incident_id}".encode()).hexdigest()[:12]


def public_incidents(
    impacts: Sequence[Impact],
    updates: Sequence[StoredUpdate],
    config: StatusConfig,
    *,
    now: datetime,
) -> list[PublicIncident]:
    """Incidents for the page: those affecting a component at a public severity (or with a posted update),
    open ones and those resolved within ``past_incident_days``; newest first.

    Updates people posted come first-hand; a status the incident reached without a posted update gets an
    automatic, generic sentence, so the page follows the incident without anyone typing.
    """
    by_incident: dict[str, list[StoredUpdate]] = {}
    for u in updates:
        by_incident.setdefault(u.incident_id, []).append(u)
    names = {c.id: c.name for c in config.components}
    horizon = now - timedelta(days=config.past_incident_days)
    out = []
    for impact in impacts:
        if impact.resolved_at is not None and impact.resolved_at < horizon:
            continue
        posted = sorted(by_incident.get(impact.incident_id, []), key=lambda u: u.posted_at)
        level = config.severity_impact.get(impact.severity.upper(), ComponentState.OPERATIONAL)
        affected = [c for c in config.components if affects(c, impact.services)]
        if posted:
            ids = list(dict.fromkeys(cid for u in posted for cid in u.components)) or [c.id for c in affected]
        elif level is ComponentState.OPERATIONAL or not affected:
            continue
        else:
            ids = [c.id for c in affected]
        component_names = tuple(names[cid] for cid in ids if cid in names)
        impact_word = (level if level is not ComponentState.OPERATIONAL else ComponentState.DEGRADED_PERFORMANCE)
        listed = ", ".join(component_names) or "some services"
        page_updates = [PublicUpdate(u.status, u.message, u.posted_at) for u in posted]
        covered = {u.status for u in posted}
        history = list(impact.history) or [(UpdateStatus.INVESTIGATING, impact.started_at)]
        if impact.status is UpdateStatus.RESOLVED and UpdateStatus.RESOLVED not in {s for s, _ in history}:
            history.append((UpdateStatus.RESOLVED, impact.resolved_at or impact.started_at))
        for status, at in history:
            if status in covered:
                continue
            covered.add(status)
            message = AUTOMATIC_MESSAGES[status].format(impact=impact_word.label.lower(), components=listed)
            page_updates.append(PublicUpdate(status, message, at))
        page_updates.sort(key=lambda u: u.at, reverse=True)
        title = next((u.title for u in reversed(posted) if u.title), None)
        status = UpdateStatus.RESOLVED if not impact.open else page_updates[0].status
        out.append(PublicIncident(
            public_id=public_id(impact.incident_id),
            title=title or f"{impact_word.label} affecting {listed}",
            impact=impact_word,
            status=status,
            components=component_names,
            started_at=impact.started_at,
            resolved_at=impact.resolved_at,
            updates=tuple(page_updates),
        ))
    out.sort(key=lambda i: (i.resolved_at is None, i.started_at), reverse=True)
    return out

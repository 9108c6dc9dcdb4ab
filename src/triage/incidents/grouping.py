"""Which incident an error belongs to. Pure and in memory; the service persists the outcome.

An error joins an open incident that was active within ``window`` when it shares a service or a trace id
with it, when its service calls or is called by one of the incident's services, or when the incident began
within ``onset`` before it (outages spread across services within minutes). Otherwise it opens a new
incident, unless it is LOW severity, which never pages anybody on its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from triage.diagnosis.schemas import SEVERITY_RANK, Severity


@dataclass
class OpenIncident:
    incident_id: str
    first_seen: datetime
    last_seen: datetime
    services: set[str]
    severity: Severity
    trace_ids: set[str] = field(default_factory=set)
    error_count: int = 0
    category_counts: dict[str, int] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return max(self.category_counts.items(), key=lambda kv: (kv[1], kv[0]))[0] if self.category_counts else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Assignment:
    incident_id: str | None
    opened: bool
    incident: OpenIncident | None
    new_service: bool = False  # the error's service joined the incident with this error
    escalated: bool = False  # the incident's severity rose with this error


def new_incident_id(at: datetime) -> str:
    return f"INC-{at:%Y%m%d}-{secrets.token_hex(3).upper()}"


class IncidentGrouper:
    def __init__(
        self,
        *,
        window: timedelta = timedelta(minutes=15),
        onset: timedelta = timedelta(minutes=2),
        dependencies: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.window = window
        self.onset = onset
        self.open: dict[str, OpenIncident] = {}
        self._neighbours: dict[str, set[str]] = {}
        for caller, callees in (dependencies or {}).items():
            for callee in callees:
                self._neighbours.setdefault(caller, set()).add(callee)
                self._neighbours.setdefault(callee, set()).add(caller)

    def learn_edge(self, caller: str, callee: str) -> None:
        if caller != callee:
            self._neighbours.setdefault(caller, set()).add(callee)
            self._neighbours.setdefault(callee, set()).add(caller)

    def restore(self, incident: OpenIncident) -> None:
        self.open[incident.incident_id] = incident

    def close(self, incident_id: str) -> None:
        self.open.pop(incident_id, None)

    def assign(
        self,
        *,
        service: str,
        at: datetime,
        severity: Severity,
        category: str,
        trace_id: str | None = None,
    ) -> Assignment:
        best: OpenIncident | None = None
        best_rank = -1
        for incident in self.open.values():
            if at - incident.last_seen > self.window or incident.first_seen - at > self.window:
                continue
            rank = self._affinity(incident, service, at, trace_id)
            if rank > best_rank or (rank == best_rank and best is not None and incident.last_seen > best.last_seen):
                best, best_rank = incident, rank
        if best is None or best_rank <= 0:
            if severity is Severity.LOW:
                return Assignment(None, False, None)
            best = OpenIncident(new_incident_id(at), at, at, set(), severity)
            self.open[best.incident_id] = best
            opened = True
        else:
            opened = False
        new_service = service not in best.services
        best.services.add(service)
        if trace_id:
            best.trace_ids.add(trace_id)
        best.last_seen = max(best.last_seen, at)
        best.first_seen = min(best.first_seen, at)
        best.error_count += 1
        best.category_counts[category] = best.category_counts.get(category, 0) + 1
        escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[best.severity]
        if escalated:
            best.severity = severity
        self._expire(at)
        return Assignment(best.incident_id, opened, best, new_service=new_service and not opened,
                          escalated=escalated and not opened)

    def _affinity(self, incident: OpenIncident, service: str, at: datetime, trace_id: str | None) -> int:
        if trace_id and trace_id in incident.trace_ids:
            return 4
        if service in incident.services:
            return 3
        if self._neighbours.get(service, set()) & incident.services:
            return 2
        if abs(at - incident.first_seen) <= self.onset:
            return 1
        return 0

    def _expire(self, now: datetime) -> None:
        stale = [i for i, inc in self.open.items() if now - inc.last_seen > self.window * 4]
        for incident_id in stale:
            del self.open[incident_id]

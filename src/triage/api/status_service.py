"""The status page inside the API process: the recorder fed by the runtime, the page built and cached.

The router in ``routes/status.py`` starts a :class:`StatusService` in its lifespan (after the app's own,
so the runtime exists) and stops it before the runtime stops.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from triage.history.queries import IncidentHistory
from triage.parsing.redaction import Redactor
from triage.parsing.rules import RuleSet
from triage.settings import Settings
from triage.status.config import StatusConfig, load_status_config
from triage.status.page import StatusPage, build_page, first_day
from triage.status.recorder import StatusRecorder
from triage.status.rules import affects
from triage.status.schemas import (
    CheckOutcome,
    Impact,
    Maintenance,
    MaintenanceCreate,
    StoredUpdate,
    UpdateCreate,
    UpdateStatus,
)
from triage.status.store import StatusStore

PAGE_CACHE_SECONDS = 2.0  # the public page is built at most this often, however many people look


def status_config_path(settings: Settings):
    return settings.config_dir / "status.yaml"


class StatusService:
    def __init__(self, runtime, *, config: StatusConfig | None = None) -> None:
        self.runtime = runtime
        settings: Settings = runtime.settings
        self.config = config or load_status_config(status_config_path(settings))
        self.store = StatusStore(runtime.db)
        self.history = IncidentHistory(runtime.db)
        self.redactor = Redactor(RuleSet.load(settings.parsing_rules_path).redaction)
        self.recorder = StatusRecorder(store=self.store, config=self.config, readiness=self._readiness,
                                       impacts=self.impacts)
        self._cache: tuple[float, StatusPage] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.recorder.start()

    def stop(self) -> None:
        self.recorder.stop()

    # --- inputs -------------------------------------------------------------------------------------------
    def _readiness(self) -> dict[str, CheckOutcome]:
        return {r.name: CheckOutcome(r.name, r.ok, r.seconds * 1000, r.detail) for r in self.runtime.readiness()}

    def impacts(self, now: datetime | None = None) -> list[Impact]:
        now = now or datetime.now(UTC)
        horizon = now - timedelta(days=self.config.past_incident_days)
        out = []
        for row in self.history.lifecycles(resolved_since=horizon):
            status = UpdateStatus(row["status"])
            history = tuple((UpdateStatus(s), at) for s, at in row["history"])
            out.append(Impact(row["incident_id"], tuple(row["services"]), row["severity"], status,
                              row["first_seen"], row["resolved_at"], history))
        return out

    # --- the page -----------------------------------------------------------------------------------------
    def page(self, *, fresh: bool = False) -> StatusPage:
        with self._lock:
            cached = self._cache
            if not fresh and cached is not None and time.monotonic() - cached[0] < PAGE_CACHE_SECONDS:
                return cached[1]
            page = self._build()
            self._cache = (time.monotonic(), page)
            return page

    def _build(self) -> StatusPage:
        writer = getattr(self.runtime, "writer", None)
        if writer is not None:
            writer.drain(2.0)
        now = datetime.now(UTC)
        impacts = self.impacts(now)
        maintenances = self.store.maintenances(ending_after=now)
        current = self.recorder.states(now=now, impacts=impacts, maintenances=maintenances)
        return build_page(
            self.config, now=now, current=current,
            day_counts=self.store.day_counts(since=first_day(now, self.config.days)),
            impacts=impacts, updates=self.store.updates([i.incident_id for i in impacts]),
            maintenances=maintenances,
        )

    def internal_components(self) -> list[dict]:
        """Every component with its state and the internal reason (for people with a key)."""
        now = datetime.now(UTC)
        impacts = self.impacts(now)
        states = self.recorder.states(now=now, impacts=impacts, maintenances=self.store.maintenances(ending_after=now))
        return [
            {"id": c.id, "name": c.name, "state": states[c.id].state.value, "reason": states[c.id].detail,
             "checks": list(c.checks), "services": list(c.services), "probes": [p.url for p in c.probes]}
            for c in self.config.components
        ]

    # --- people's actions ---------------------------------------------------------------------------------
    def post_update(self, incident_id: str, request: UpdateCreate, *, actor: str) -> StoredUpdate:
        incident = self.runtime.incidents.get(incident_id)  # NotFound for an unknown id
        if request.components is not None:
            components = [self.config.component(c).id for c in request.components]
        else:
            components = [c.id for c in self.config.components if affects(c, incident.services)]
        clean = request.model_copy(update={"title": self.redactor.redact(request.title) if request.title else None})
        stored = self.store.post_update(incident_id, clean, message=self.redactor.redact(request.message),
                                        components=components, actor=actor, now=datetime.now(UTC))
        self._cache = None
        return stored

    def schedule(self, request: MaintenanceCreate, *, actor: str) -> Maintenance:
        for c in request.components:
            self.config.component(c)
        clean = request.model_copy(update={"title": self.redactor.redact(request.title),
                                           "description": self.redactor.redact(request.description)})
        item = self.store.schedule(clean, actor=actor, now=datetime.now(UTC))
        self._cache = None
        return item

    def cancel(self, maintenance_id: str) -> Maintenance:
        item = self.store.cancel(maintenance_id, now=datetime.now(UTC))
        self._cache = None
        return item

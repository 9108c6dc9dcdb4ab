"""The live wiring of change management, alerting and the audit trail into the running API.

* **Reactions to diagnoses** (off the request path, on the runtime's reaction thread): every stored
  diagnosis goes through the alerting rules (one ``raise_signal`` per alert key per batch, so a burst of
  repeats costs one write); a CRITICAL diagnosis opens an emergency change from its incident, once per
  incident, with the fast track's deadlines tracked.
* **A background loop** every ``settings.ops_interval_seconds`` (60 s): ``AlertService.tick()`` escalates
  unacknowledged alerts and sends what is due; ``ChangeService.check_deadlines()`` records missed
  emergency deadlines, each of which raises an alert (:func:`breach_to_alert`) that escalates in turn.
* **PHI reads**: :class:`PhiReadAudit` appends a ``phi.read`` audit entry (who, which record) for every
  successful read of diagnosis content, in batches.

No FastAPI here, so the CLI can use the hooks too (``triage.cli.change`` imports :func:`breach_to_alert`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from triage.errors import summarize
from triage.threads import start_background

if TYPE_CHECKING:
    from triage.access.keys import ApiKey
    from triage.alerting.config import AlertingConfig
    from triage.alerting.schemas import AlertSignal
    from triage.alerting.service import AlertService
    from triage.api.runtime import Runtime
    from triage.audit.log import AuditLog
    from triage.audit.schemas import AuditEvent
    from triage.changes.config import ChangeConfig
    from triage.changes.emergency import DeadlineBreach
    from triage.changes.schemas import Actor
    from triage.changes.service import ChangeService, RevertHook, SnapshotHook
    from triage.diagnosis.schemas import DiagnosisNotice
    from triage.settings import Settings
    from triage.storage.database import Database

log = logging.getLogger("triage.api.operations")

#: Route templates whose successful GET returns diagnosis content, and the kind of record each reads.
PHI_ROUTES: dict[str, tuple[str, str]] = {
    "/v1/diagnoses/{error_id}": ("diagnosis", "error_id"),
    "/v1/incidents/{incident_id}": ("incident", "incident_id"),
}


# -- hooks shared with the CLI ------------------------------------------------------------------------------
def breach_to_alert(alerts: AlertService) -> Callable[[DeadlineBreach], None]:
    """A missed emergency deadline becomes an alert routed to the technical lead, grouped with its incident,
    escalating like any other alert until someone acknowledges it."""
    from triage.alerting.schemas import AlertSignal, AlertType, Severity
    from triage.changes.schemas import Milestone

    def hook(breach: DeadlineBreach) -> None:
        severity = (
            Severity.MEDIUM if breach.milestone is Milestone.POST_INCIDENT_REVIEW else Severity.CRITICAL
        )
        alerts.raise_signal(
            signal=AlertSignal(
                type=AlertType.CHANGE_DEADLINE,
                severity=severity,
                title=breach.message()[:300],
                summary=f"{breach.title}. Deadline {breach.milestone} was due {breach.due_at.isoformat()}.",
                services=breach.services,
                incident_id=breach.incident_id,
                source=f"change:{breach.change_id}",
                dedup_key=f"{breach.change_id}:{breach.milestone}",
                occurred_at=breach.observed_at,
                details={"change_id": breach.change_id, "milestone": str(breach.milestone)},
            )
        )

    return hook


def actor_of(key: ApiKey) -> Actor:
    """The acting person of an API key, as change management sees them: the key's name and role."""
    from triage.changes.schemas import Actor, Role

    return Actor(user=key.name, role=Role(key.role.value))


def load_configs(settings: Settings) -> tuple[ChangeConfig, AlertingConfig, str | None]:
    """``<home>/config/changes.yaml`` and ``alerting.yaml``; a broken file gives the defaults and its error
    (the API keeps diagnosing and reports the error in ``/readyz``)."""
    from triage.alerting.config import AlertingConfig, load_alerting_config
    from triage.changes.config import ChangeConfig, load_change_config
    from triage.errors import InvalidInput

    errors: list[str] = []
    change_config, alert_config = ChangeConfig(), AlertingConfig()
    try:
        change_config = load_change_config(settings.config_dir / "changes.yaml")
    except InvalidInput as exc:
        errors.append(str(exc))
    try:
        alert_config = load_alerting_config(settings.config_dir / "alerting.yaml")
    except InvalidInput as exc:
        errors.append(str(exc))
    return change_config, alert_config, "; ".join(errors) or None


# -- the running wiring -------------------------------------------------------------------------------------
class Operations:
    """Services and background work of change management, alerting and audit, for one API process."""

    def __init__(self, settings: Settings, db: Database, *, runtime: Runtime | None = None) -> None:
        from triage.audit.log import AuditLog
        from triage.storage import database

        self.settings = settings
        self.db = db
        self._reaction_db = database.Database(db.path, lock_timeout=db.lock_timeout, keep_engine=True)
        self.runtime = runtime
        self.change_config, self.alert_config, self.config_error = load_configs(settings)
        if self.config_error:
            log.error("operations configuration refused; using defaults", extra={"error": self.config_error})
        self.audit: AuditLog = AuditLog(db)
        self.alerts: AlertService
        self.changes: ChangeService
        self._build_services()
        self.interval = settings.ops_interval_seconds
        self.last_run: datetime | None = None
        self.last_error: str | None = None
        self._opened: set[str] = set()  # incidents that already have an emergency change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._phi = None

    def _build_services(self) -> None:
        from triage.alerting.service import AlertService

        self.alerts = AlertService(self.db, config=self.alert_config)
        # The same alerts on the reactions thread's own store handle: one DuckDB instance kept, the file attached
        # per session (a new instance per raised alert cost ~35 ms of CPU, part of it holding the GIL).
        self._reaction_alerts = AlertService(self._reaction_db, config=self.alert_config,
                                             notifiers=self.alerts.notifiers)
        self.changes = self.change_service()

    def change_service(
        self, *, snapshot: SnapshotHook | None = None, revert: RevertHook | None = None
    ) -> ChangeService:
        """A change service on this store with this configuration; breaches become alerts."""
        from triage.changes.service import ChangeService

        return ChangeService(self.db, config=self.change_config, snapshot=snapshot, revert=revert,
                             on_breach=breach_to_alert(self.alerts))  # fmt: skip

    @classmethod
    def start(cls, settings: Settings, runtime: Runtime) -> Operations:
        """Wire into a started runtime: schema, reactions, readiness check, the loop and the PHI writer."""
        from triage.api.writer import BatchWriter

        ops = cls(settings, runtime.db, runtime=runtime)
        ops.ensure_schema()
        runtime.reactions.append(ops.react)
        runtime.readiness_checks["operations"] = ops.check
        ops._phi = BatchWriter(ops._append_phi, interval=1.0, name="triage-phi-audit")
        ops._thread = start_background(ops._loop, "triage-operations")
        return ops

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._phi is not None:
            self._phi.stop()
        self._reaction_db.close()

    def ensure_schema(self) -> None:
        self.audit.ensure_schema()
        self.alerts.ensure_schema()
        self.changes.ensure_schema()

    def after_store_restore(self) -> None:
        """The store was replaced: rebuild the services so their schema is checked against the new file."""
        from triage.audit.log import AuditLog

        self.audit = AuditLog(self.db)
        self._build_services()
        self._opened.clear()
        self.ensure_schema()

    # ---------------------------------------------------------------- reactions
    def react(self, notices: Sequence[DiagnosisNotice]) -> None:
        """Alerts for a batch of stored diagnoses, and emergency changes for CRITICAL ones."""
        from triage.alerting.rules import signal_from_diagnosis
        from triage.alerting.schemas import DiagnosisSummary

        signals: dict[str, AlertSignal] = {}
        critical: dict[str, dict[str, Any]] = {}
        seen: set[tuple] = set()
        for d in notices:
            incident = d.incident_id
            if d.severity == "CRITICAL" and incident and incident not in self._opened and incident not in critical:
                critical[incident] = json.loads(d.body)
            # Everything a signal's key, type and severity depend on: a later diagnosis of the same shape
            # in this batch gives a signal that the first one's keeps out, so it is not evaluated at all.
            shape = (incident, d.severity, d.category, d.affected_services, d.root_service, d.root_issue)
            if shape in seen:
                continue
            seen.add(shape)
            # Only the fields alerting reads (decoding every body cost more than the rule itself); the whole
            # body is decoded only for an emergency change, above.
            summary = DiagnosisSummary.parse({
                "errorId": d.error_id, "incidentId": d.incident_id, "detectedAt": d.detected_at,
                "severity": d.severity, "category": d.category, "affectedServices": d.affected_services,
                "rootCause": {"service": d.root_service, "issue": d.root_issue, "confidence": d.root_confidence},
            })
            signal = signal_from_diagnosis(summary, self._reaction_alerts.config)
            if signal is not None:
                key = signal.key()
                held = signals.get(key)
                if held is None or signal.severity.rank > held.severity.rank:
                    signals[key] = signal
        for signal in signals.values():  # each on its own: one failure must not cost the others
            try:
                self._reaction_alerts.raise_signal(signal=signal)
            except Exception:
                log.exception("alert for a diagnosis failed", extra={"alert_key": signal.key()})
        for incident, body in critical.items():
            try:
                self.open_emergency(body)
            except Exception:
                log.exception("emergency change for an incident failed", extra={"incident": incident})
            else:
                self._opened.add(incident)

    def open_emergency(self, diagnosis: dict[str, Any]) -> str:
        """Open (or find) the emergency change of a CRITICAL diagnosis' incident; returns its id."""
        from triage.changes.emergency import EmergencyTrigger

        change = self.changes.open_emergency_change(trigger=EmergencyTrigger.from_diagnosis(diagnosis))
        return change.id

    # ---------------------------------------------------------------- time passing
    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def run_once(self) -> None:
        """Escalate and send what is due, then check the emergency deadlines (breaches raise alerts)."""
        errors = []
        for name, step in (("alerts", self.alerts.tick), ("deadlines", self.changes.check_deadlines)):
            try:
                step()
            except Exception as exc:  # the loop must outlive a busy store or a broken receiver
                errors.append(f"{name}: {summarize(exc)}"[:300])
                log.exception("operations step failed", extra={"step": name})
        self.last_error = "; ".join(errors) or None
        self.last_run = datetime.now(UTC)

    def check(self) -> str:
        """Readiness: configuration accepted; when the loop last ran and how."""
        if self.config_error:
            raise RuntimeError(f"configuration refused: {self.config_error}")
        ran = self.last_run.isoformat(timespec="seconds") if self.last_run else "not yet"
        return f"every {self.interval:g} s, last run {ran}" + (
            f"; last error: {self.last_error}" if self.last_error else ""
        )

    # ---------------------------------------------------------------- PHI reads
    def record_phi_read(self, key: ApiKey, kind: str, record_id: str, route: str) -> None:
        from triage.audit.schemas import Actions, AuditEvent

        event = AuditEvent(
            actor=key.name, actor_role=key.role.value, action=Actions.PHI_READ, subject_kind=kind,
            subject_id=record_id[:200], at=datetime.now(UTC), details={"route": route, "key_id": key.key_id},
        )  # fmt: skip
        if self._phi is not None:
            self._phi.put(event)

    def _append_phi(self, events: Sequence[AuditEvent]) -> None:
        self.audit.append_many(list(events))

    def drain_phi(self, timeout: float = 10.0) -> bool:
        return self._phi.drain(timeout) if self._phi is not None else True


Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class PhiReadAudit:
    """Pure ASGI middleware: after a successful GET of diagnosis content, record who read which record.

    The key is the one the route's dependency admitted (``request.state.actor``); nothing is recorded for
    refused or failed reads, and the append happens in the background (the read never waits for it).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, capture)
        route = getattr(scope.get("route"), "path", None)
        target = PHI_ROUTES.get(route or "")
        if target is None or not 200 <= status < 300:
            return
        key = (scope.get("state") or {}).get("actor")
        ops = getattr(getattr(scope.get("app"), "state", None), "operations", None)
        if key is not None and ops is not None:
            kind, param = target
            ops.record_phi_read(key, kind, str(scope.get("path_params", {}).get(param, "?")), route)

"""Alerting service: stores alerts and their delivery outbox, escalates, and dispatches through notifiers.

State changes (raise, acknowledge, escalate, resolve) and their audit entries commit in one write
transaction, together with the deliveries they plan. Sending happens afterwards, outside the store's
lock: :meth:`AlertService.dispatch` claims the due deliveries, groups those of one incident going to the
same place into one message, sends them and records the outcome (retrying failures a few times).
Call :meth:`AlertService.tick` regularly (``triage alerts tick`` from cron, or the API's background
loop): it escalates unacknowledged alerts and sends what is due. Time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.alerting import engine
from triage.alerting.config import AlertingConfig
from triage.alerting.notifiers import DeliveryError, Message, Notifier, build_notifiers
from triage.alerting.rules import signal_from_diagnosis
from triage.alerting.schemas import (
    Alert,
    AlertSignal,
    AlertState,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    DiagnosisSummary,
)
from triage.audit.log import MIGRATIONS as AUDIT_MIGRATIONS
from triage.audit.log import append_events
from triage.audit.schemas import Actions, AuditEvent, utc
from triage.errors import InvalidInput, NotFound
from triage.storage.database import Database, Session, load_migrations

MIGRATIONS = load_migrations("alerting", Path(__file__).parent / "sql")
SYSTEM_USER = "triage"
#: A delivery claimed by a dispatcher that died is taken up again after this long.
CLAIM_LEASE = timedelta(minutes=5)

_DELIVERY_COLUMNS = (
    "id, alert_id, incident_id, channel, team, recipient, address, kind, escalation_level, due_at, status,"
    " attempts, sent_at, error"
)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class TickReport:
    escalated: list[str] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)
    failed: list[Delivery] = field(default_factory=list)


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment).replace(tzinfo=None)


class AlertService:
    def __init__(
        self,
        db: Database,
        *,
        config: AlertingConfig | None = None,
        notifiers: Mapping[Channel, Notifier] | None = None,
        clock: Callable[[], datetime] = system_clock,
    ) -> None:
        self.db = db
        self.config = config or AlertingConfig()
        self.notifiers = dict(notifiers) if notifiers is not None else dict(build_notifiers(self.config))
        self.clock = clock
        self._migrated = False

    def ensure_schema(self) -> None:
        if not self._migrated:
            self.db.migrate([*AUDIT_MIGRATIONS, *MIGRATIONS])
            self._migrated = True

    def _now(self) -> datetime:
        return utc(self.clock())

    # ---------------------------------------------------------------- storage helpers
    @staticmethod
    def _save(session: Session, alert: Alert, *, new: bool) -> None:
        values = [
            alert.dedup_key,
            str(alert.state),
            str(alert.severity),
            str(alert.type),
            alert.incident_id,
            alert.team,
            _naive(alert.first_seen),
            _naive(alert.last_seen),
            _naive(alert.next_escalation_at),
            alert.model_dump_json(),
            alert.id,
        ]
        if new:
            session.execute(
                "INSERT INTO alerts (dedup_key, state, severity, type, incident_id, team, first_seen, last_seen,"
                " next_escalation_at, doc, id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
        else:
            session.execute(
                "UPDATE alerts SET dedup_key=?, state=?, severity=?, type=?, incident_id=?, team=?, first_seen=?,"
                " last_seen=?, next_escalation_at=?, doc=? WHERE id=?",
                values,
            )

    @staticmethod
    def _load(session: Session, alert_id: str) -> Alert:
        doc = session.scalar("SELECT doc FROM alerts WHERE id = ?", [alert_id])
        if doc is None:
            raise NotFound(f"no alert {alert_id}")
        return Alert.model_validate_json(doc)

    @staticmethod
    def _insert_deliveries(session: Session, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        start = int(session.scalar("SELECT coalesce(max(id), 0) FROM alert_deliveries"))
        rows = [
            [
                start + i + 1,
                d.alert_id,
                d.incident_id,
                str(d.channel),
                d.team,
                d.recipient,
                d.address,
                str(d.kind),
                d.escalation_level,
                _naive(d.due_at),
                str(d.status),
                d.attempts,
                _naive(d.sent_at),
                d.error,
            ]
            for i, d in enumerate(deliveries)
        ]
        session.executemany(
            f"INSERT INTO alert_deliveries ({_DELIVERY_COLUMNS}) VALUES ({', '.join('?' * 14)})", rows
        )

    @staticmethod
    def _event(
        action: str, alert: Alert, actor: str, now: datetime, before: Alert | None, **details: Any
    ) -> AuditEvent:
        def view(a: Alert) -> dict[str, Any]:
            return {
                "state": str(a.state),
                "severity": str(a.severity),
                "escalation_level": a.escalation_level,
            }

        return AuditEvent(
            actor=actor,
            action=action,
            subject_kind="alert",
            subject_id=alert.id,
            at=now,
            before=None if before is None else view(before),
            after=view(alert),
            details={
                "incident_id": alert.incident_id,
                "type": str(alert.type),
                "team": alert.team,
                **details,
            },
        )

    # ---------------------------------------------------------------- raising
    def raise_signal(self, *, signal: AlertSignal, dispatch: bool = True) -> Alert:
        """Open an alert, or fold a repeat into the open one with the same key (incident + type)."""
        self.ensure_schema()
        with self.db.write() as session:
            now = self._now()
            doc = session.scalar(
                "SELECT doc FROM alerts WHERE dedup_key = ? AND state <> 'resolved' ORDER BY first_seen DESC LIMIT 1",
                [signal.key()],
            )
            events = []
            if doc is None:
                last = session.scalar("SELECT max(CAST(substr(id, 5) AS BIGINT)) FROM alerts")
                alert, deliveries = engine.open_alert(f"ALT-{(last or 0) + 1:06d}", signal, now, self.config)
                self._save(session, alert, new=True)
                events.append(
                    self._event(
                        Actions.ALERT_RAISED,
                        alert,
                        SYSTEM_USER,
                        now,
                        None,
                        source=signal.source,
                        channels=[str(c) for c in alert.channels_used],
                    )
                )
            else:
                before = Alert.model_validate_json(doc)
                alert, deliveries = engine.merge_signal(before, signal, now, self.config)
                self._save(session, alert, new=False)
                if alert.severity is not before.severity:
                    events.append(
                        self._event(
                            Actions.ALERT_RAISED,
                            alert,
                            SYSTEM_USER,
                            now,
                            before,
                            source=signal.source,
                            upgraded=True,
                        )
                    )
            self._insert_deliveries(session, deliveries)
            append_events(session, events)
            claim = self._claim(session, now) if dispatch else (now, [], {})
        self._deliver(claim)  # sends; the alert record itself does not change
        return alert

    def raise_from_diagnosis(
        self, *, diagnosis: DiagnosisSummary | Mapping[str, Any], dispatch: bool = True
    ) -> Alert | None:
        """Apply the rules to a diagnosis (the seed's JSON or a DiagnosisSummary); None if below threshold."""
        signal = signal_from_diagnosis(diagnosis, self.config)
        return None if signal is None else self.raise_signal(signal=signal, dispatch=dispatch)

    # ---------------------------------------------------------------- people
    def acknowledge(self, *, alert_id: str, user: str, comment: str | None = None) -> Alert:
        """Someone owns it: escalation stops (PagerDuty is told too)."""
        return self._change(alert_id, user, engine.acknowledge, Actions.ALERT_ACKNOWLEDGED, comment)

    def resolve(self, *, alert_id: str, user: str, reason: str | None = None) -> Alert:
        return self._change(alert_id, user, engine.resolve, Actions.ALERT_RESOLVED, reason)

    def acknowledge_incident(self, *, incident_id: str, user: str) -> list[Alert]:
        """Acknowledge every open alert of an incident (the group)."""
        open_ids = [a.id for a in self.list(incident_id=incident_id, state=AlertState.OPEN)]
        if not open_ids and not self.list(incident_id=incident_id):
            raise NotFound(f"no alerts for incident {incident_id}")
        return [self.acknowledge(alert_id=i, user=user) for i in open_ids]

    def _change(self, alert_id: str, user: str, step: Callable, action: str, reason: str | None) -> Alert:
        if not user.strip():
            raise InvalidInput("say who you are (--as USER)")
        self.ensure_schema()
        with self.db.write() as session:
            now = self._now()
            before = self._load(session, alert_id)
            alert, deliveries = step(before, user, now, self.config)
            self._save(session, alert, new=False)
            self._insert_deliveries(session, deliveries)
            event = self._event(action, alert, user, now, before)
            append_events(session, [event.model_copy(update={"reason": reason})])
            claim = self._claim(session, now)
        self._deliver(claim)
        return alert

    # ---------------------------------------------------------------- time passing
    def tick(self) -> TickReport:
        """Escalate every open alert whose acknowledgement is overdue, then send what is due."""
        self.ensure_schema()
        report = TickReport()
        with self.db.write() as session:
            now = self._now()
            rows = session.execute(
                "SELECT doc FROM alerts WHERE state = 'open' AND next_escalation_at IS NOT NULL"
                " AND next_escalation_at <= ? ORDER BY id",
                [_naive(now)],
            )
            events = []
            for (doc,) in rows:
                before = Alert.model_validate_json(doc)
                outcome = engine.escalate(before, now, self.config)
                if outcome is None:
                    continue
                alert, deliveries = outcome
                self._save(session, alert, new=False)
                self._insert_deliveries(session, deliveries)
                if alert.escalation_level != before.escalation_level:
                    report.escalated.append(alert.id)
                    events.append(
                        self._event(
                            Actions.ALERT_ESCALATED,
                            alert,
                            SYSTEM_USER,
                            now,
                            before,
                            to_team=alert.escalated_to[-1],
                        )
                    )
            append_events(session, events)
            claim = self._claim(session, now)
        sent = self._deliver(claim)
        report.sent = [d for d in sent if d.status is DeliveryStatus.SENT]
        report.failed = [d for d in sent if d.status is not DeliveryStatus.SENT]
        return report

    def dispatch(self) -> list[Delivery]:
        """Send the due deliveries, grouped by incident per destination; returns them with their outcome."""
        self.ensure_schema()
        with self.db.write() as session:
            claim = self._claim(session, self._now())
        return self._deliver(claim)

    @staticmethod
    def _claim(session: Session, now: datetime) -> tuple[datetime, list[Delivery], dict[str, Alert]]:
        """Mark due deliveries as being sent (inside the caller's write session) and load their alerts."""
        rows = session.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries WHERE (status = 'pending' AND due_at <= ?)"
            " OR (status = 'sending' AND claimed_at <= ?) ORDER BY id",
            [_naive(now), _naive(now - CLAIM_LEASE)],
        )
        if not rows:
            return now, [], {}
        claimed = [_delivery_of(row) for row in rows]
        # Deliveries of the same incident to the same place that are not due yet travel with these.
        incidents = sorted({d.incident_id for d in claimed if d.incident_id})
        if incidents:
            keys = {_group_key(d) for d in claimed}
            early = session.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries WHERE status = 'pending' AND due_at > ?"
                " AND list_contains(?, incident_id) ORDER BY id",
                [_naive(now), incidents],
            )
            claimed += [d for d in map(_delivery_of, early) if _group_key(d) in keys]
        session.execute(
            "UPDATE alert_deliveries SET status = 'sending', claimed_at = ? WHERE list_contains(?, id)",
            [_naive(now), [d.id for d in claimed]],
        )
        alert_ids = sorted({d.alert_id for d in claimed})
        docs = session.execute("SELECT doc FROM alerts WHERE list_contains(?, id)", [alert_ids])
        return now, claimed, {a.id: a for a in (Alert.model_validate_json(doc) for (doc,) in docs)}

    def _deliver(self, claim: tuple[datetime, list[Delivery], dict[str, Alert]]) -> list[Delivery]:
        """Send claimed deliveries outside the store's lock, then record each outcome."""
        now, claimed, alerts = claim
        if not claimed:
            return []
        outcomes: list[Delivery] = []
        for group in _group(claimed):
            first = group[0]
            message = Message(
                channel=first.channel,
                kind=first.kind,
                team=first.team,
                recipient=first.recipient,
                address=first.address,
                incident_id=first.incident_id,
                alerts=tuple(alerts[d.alert_id] for d in group if d.alert_id in alerts),
            )
            error = self._send(message)
            for delivery in group:
                outcomes.append(self._outcome(delivery, error, now))
        with self.db.write() as session:
            for d in outcomes:
                session.execute(
                    "UPDATE alert_deliveries SET status = ?, attempts = ?, due_at = ?, sent_at = ?, error = ?,"
                    " claimed_at = NULL WHERE id = ?",
                    [str(d.status), d.attempts, _naive(d.due_at), _naive(d.sent_at), d.error, d.id],
                )
        return outcomes

    def _send(self, message: Message) -> str | None:
        notifier = self.notifiers.get(message.channel)
        if notifier is None:
            return f"no notifier for channel {message.channel}"
        try:
            notifier.send(message)
        except DeliveryError as exc:
            return str(exc)
        return None

    def _outcome(self, delivery: Delivery, error: str | None, now: datetime) -> Delivery:
        attempts = delivery.attempts + 1
        if error is None:
            return delivery.model_copy(
                update={"status": DeliveryStatus.SENT, "attempts": attempts, "sent_at": now, "error": None}
            )
        if attempts >= self.config.max_attempts:
            return delivery.model_copy(
                update={"status": DeliveryStatus.FAILED, "attempts": attempts, "error": error}
            )
        return delivery.model_copy(
            update={
                "status": DeliveryStatus.PENDING,
                "attempts": attempts,
                "error": error,
                "due_at": now + self.config.retry_after,
            }
        )

    # ---------------------------------------------------------------- reads
    def get(self, *, alert_id: str) -> Alert:
        self.ensure_schema()
        with self.db.read() as session:
            return self._load(session, alert_id)

    def list(
        self,
        *,
        state: AlertState | None = None,
        incident_id: str | None = None,
        open_only: bool = False,
        limit: int = 500,
    ) -> list[Alert]:
        self.ensure_schema()
        clauses, params = [], []
        if state is not None:
            clauses.append("state = ?")
            params.append(str(state))
        if incident_id is not None:
            clauses.append("incident_id = ?")
            params.append(incident_id)
        if open_only:
            clauses.append("state <> 'resolved'")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.db.read() as session:
            rows = session.execute(f"SELECT doc FROM alerts{where} ORDER BY id LIMIT {int(limit)}", params)
        return [Alert.model_validate_json(doc) for (doc,) in rows]

    def groups(self, *, open_only: bool = True) -> dict[str, list[Alert]]:
        """Alerts grouped by incident (alerts without one are their own group)."""
        out: dict[str, list[Alert]] = {}
        for alert in self.list(open_only=open_only):
            out.setdefault(alert.incident_id or alert.id, []).append(alert)
        return out

    def deliveries(self, *, alert_id: str | None = None) -> list[Delivery]:
        self.ensure_schema()
        where, params = ("", []) if alert_id is None else (" WHERE alert_id = ?", [alert_id])
        with self.db.read() as session:
            rows = session.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM alert_deliveries{where} ORDER BY id", params
            )
        return [_delivery_of(row) for row in rows]


def _delivery_of(row: Sequence[Any]) -> Delivery:
    (
        id_,
        alert_id,
        incident_id,
        channel,
        team,
        recipient,
        address,
        kind,
        level,
        due_at,
        status,
        attempts,
        sent_at,
        error,
    ) = row
    return Delivery(
        id=id_,
        alert_id=alert_id,
        incident_id=incident_id,
        channel=Channel(channel),
        team=team,
        recipient=recipient,
        address=address,
        kind=DeliveryKind(kind),
        escalation_level=level,
        due_at=utc(due_at),
        status=DeliveryStatus(status),
        attempts=attempts,
        sent_at=None if sent_at is None else utc(sent_at),
        error=error,
    )


def _group(deliveries: Sequence[Delivery]) -> list[list[Delivery]]:
    """Deliveries to the same place, of the same kind, for the same incident travel as one message."""
    groups: dict[tuple, list[Delivery]] = {}
    for d in deliveries:
        groups.setdefault(_group_key(d), []).append(d)
    return list(groups.values())


def _group_key(d: Delivery) -> tuple:
    return (d.channel, d.team, d.recipient, d.address, d.kind, d.incident_id or d.alert_id)

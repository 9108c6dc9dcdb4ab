"""What to send, to whom and when: opening and merging alerts, escalation, acknowledgement. Pure.

Deliveries are planned here as outbox rows (:class:`Delivery`); the service stores them and the
dispatcher sends the due ones through the notifier adapters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from triage.alerting.config import AlertingConfig
from triage.alerting.schemas import (
    Alert,
    AlertSignal,
    AlertState,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Severity,
)
from triage.audit.schemas import utc
from triage.errors import Conflict


class AlertStateError(Conflict):
    """The alert is not in a state that allows this (e.g. acknowledging a resolved alert)."""


def plan_deliveries(
    alert: Alert,
    *,
    team: str,
    channels: Iterable[Channel],
    kind: DeliveryKind,
    level: int,
    due: datetime,
    config: AlertingConfig,
) -> list[Delivery]:
    """One row per person for email/SMS/phone, one per team for Slack/PagerDuty/webhook. A channel with no
    endpoint or a person with no address gives a SKIPPED row, so the gap is visible, not silent."""
    out: list[Delivery] = []
    members = config.team(team)

    def row(channel: Channel, recipient: str | None, address: str | None, error: str | None = None) -> None:
        out.append(
            Delivery(
                alert_id=alert.id,
                incident_id=alert.incident_id,
                channel=channel,
                team=team,
                recipient=recipient,
                address=address,
                kind=kind,
                escalation_level=level,
                due_at=due,
                status=DeliveryStatus.SKIPPED if error else DeliveryStatus.PENDING,
                error=error,
            )
        )

    for channel in dict.fromkeys(channels):
        if channel not in config.channels:
            row(channel, None, None, f"channel {channel} has no endpoint configured")
            continue
        if not channel.per_person:
            row(channel, None, None)
            continue
        if not members:
            row(channel, None, None, f"team {team} has no members")
            continue
        for person in members:
            address = person.address(channel)
            row(channel, person.name, address, None if address else f"{person.name} has no {channel} address")
    return out


def _sent_channels(deliveries: Iterable[Delivery]) -> tuple[Channel, ...]:
    return tuple(dict.fromkeys(d.channel for d in deliveries if d.status is DeliveryStatus.PENDING))


def open_alert(
    alert_id: str, signal: AlertSignal, now: datetime, config: AlertingConfig
) -> tuple[Alert, list[Delivery]]:
    now = utc(now)
    policy = config.levels[signal.severity]
    team = config.routes[signal.type]
    due = now + policy.group_wait
    alert = Alert(
        id=alert_id,
        dedup_key=signal.key(),
        type=signal.type,
        severity=signal.severity,
        title=signal.title,
        summary=signal.summary,
        services=signal.services,
        incident_id=signal.incident_id,
        source=signal.source,
        first_seen=now,
        last_seen=now,
        team=team,
        next_escalation_at=due + config.escalation.after,
        details=signal.details,
    )
    deliveries = plan_deliveries(
        alert, team=team, channels=policy.channels, kind=DeliveryKind.NEW, level=0, due=due, config=config
    )
    return alert.model_copy(update={"channels_used": _sent_channels(deliveries)}), deliveries


def merge_signal(
    alert: Alert, signal: AlertSignal, now: datetime, config: AlertingConfig
) -> tuple[Alert, list[Delivery]]:
    """A repeat of an open alert: count it; notify again only if the severity went up (on the new channels)."""
    now = utc(now)
    update: dict = {
        "occurrences": alert.occurrences + 1,
        "last_seen": now,
        "services": tuple(dict.fromkeys((*alert.services, *signal.services))),
    }
    deliveries: list[Delivery] = []
    if signal.severity.rank > alert.severity.rank:
        policy = config.levels[signal.severity]
        fresh = [c for c in policy.channels if c not in alert.channels_used]
        update |= {"severity": signal.severity, "title": signal.title, "summary": signal.summary}
        upgraded = alert.model_copy(update=update)
        deliveries = plan_deliveries(
            upgraded,
            team=alert.team,
            channels=fresh,
            kind=DeliveryKind.UPDATE,
            level=alert.escalation_level,
            due=now + policy.group_wait,
            config=config,
        )
        update["channels_used"] = (*alert.channels_used, *_sent_channels(deliveries))
        if alert.state is AlertState.OPEN and alert.next_escalation_at is not None:
            update["next_escalation_at"] = min(
                alert.next_escalation_at, now + policy.group_wait + config.escalation.after
            )
    return alert.model_copy(update=update), deliveries


def escalate(alert: Alert, now: datetime, config: AlertingConfig) -> tuple[Alert, list[Delivery]] | None:
    """The next escalation step, if the alert is still unacknowledged and its timer ran out."""
    now = utc(now)
    if (
        alert.state is not AlertState.OPEN
        or alert.next_escalation_at is None
        or now < alert.next_escalation_at
    ):
        return None
    chain = config.escalation.chain
    # The next step that applies to this type and is not the team already holding the alert.
    steps = range(alert.escalation_level, len(chain))
    index = next((i for i in steps if chain[i].applies_to(alert.type) and chain[i].team != alert.team), None)
    if index is None:
        return alert.model_copy(update={"next_escalation_at": None}), []
    step = chain[index]
    channels = config.escalation.channels or config.levels[alert.severity].channels
    escalated = alert.model_copy(
        update={
            "escalation_level": index + 1,
            "escalated_to": (*alert.escalated_to, step.team),
            "next_escalation_at": now + config.escalation.after,
        }
    )
    deliveries = plan_deliveries(
        escalated,
        team=step.team,
        channels=channels,
        kind=DeliveryKind.ESCALATION,
        level=index + 1,
        due=now,
        config=config,
    )
    used = (
        *escalated.channels_used,
        *(c for c in _sent_channels(deliveries) if c not in escalated.channels_used),
    )
    return escalated.model_copy(update={"channels_used": used}), deliveries


def acknowledge(
    alert: Alert, user: str, now: datetime, config: AlertingConfig
) -> tuple[Alert, list[Delivery]]:
    if alert.state is not AlertState.OPEN:
        raise AlertStateError(f"alert {alert.id} is {alert.state}; only an open alert can be acknowledged")
    acked = alert.model_copy(
        update={
            "state": AlertState.ACKNOWLEDGED,
            "acknowledged_by": user,
            "acknowledged_at": utc(now),
            "next_escalation_at": None,
        }
    )
    return acked, _pagerduty_follow_up(acked, DeliveryKind.ACKNOWLEDGED, now, config)


def resolve(alert: Alert, user: str, now: datetime, config: AlertingConfig) -> tuple[Alert, list[Delivery]]:
    if alert.state is AlertState.RESOLVED:
        raise AlertStateError(f"alert {alert.id} is already resolved")
    done = alert.model_copy(
        update={
            "state": AlertState.RESOLVED,
            "resolved_by": user,
            "resolved_at": utc(now),
            "next_escalation_at": None,
        }
    )
    return done, _pagerduty_follow_up(done, DeliveryKind.RESOLVED, now, config)


def _pagerduty_follow_up(
    alert: Alert, kind: DeliveryKind, now: datetime, config: AlertingConfig
) -> list[Delivery]:
    """PagerDuty keeps incident state: tell it about acknowledgements and resolutions (same dedup_key)."""
    if Channel.PAGERDUTY not in alert.channels_used:
        return []
    return plan_deliveries(
        alert,
        team=alert.team,
        channels=[Channel.PAGERDUTY],
        kind=kind,
        level=alert.escalation_level,
        due=utc(now),
        config=config,
    )


def severity_of(text: str) -> Severity:
    return Severity(text.upper())

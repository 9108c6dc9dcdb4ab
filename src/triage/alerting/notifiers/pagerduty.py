"""PagerDuty Events API v2: trigger / acknowledge / resolve, one event per alert keyed by its dedup_key."""

from __future__ import annotations

from triage.alerting.config import PagerDutyConfig
from triage.alerting.notifiers.base import Message
from triage.alerting.notifiers.webhook import post_json
from triage.alerting.schemas import Alert, DeliveryKind

_SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info"}
_ACTION = {DeliveryKind.ACKNOWLEDGED: "acknowledge", DeliveryKind.RESOLVED: "resolve"}


def pagerduty_event(alert: Alert, kind: DeliveryKind, *, routing_key: str, source: str) -> dict:
    action = _ACTION.get(kind, "trigger")
    event: dict = {"routing_key": routing_key, "event_action": action, "dedup_key": alert.dedup_key}
    if action == "trigger":
        event["payload"] = {
            "summary": f"{alert.title}"[:1024],
            "source": source,
            "severity": _SEVERITY[alert.severity],
            "timestamp": alert.first_seen.isoformat(),
            "component": alert.services[0] if alert.services else None,
            "group": alert.incident_id,
            "class": str(alert.type),
            "custom_details": {
                "alert_id": alert.id,
                "summary": alert.summary,
                "services": list(alert.services),
                "occurrences": alert.occurrences,
                "escalation_level": alert.escalation_level,
            },
        }
    return event


class PagerDutyNotifier:
    def __init__(self, config: PagerDutyConfig) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        key = self.config.routing_key.get_secret_value()
        for alert in message.alerts:
            post_json(
                self.config.url,
                pagerduty_event(alert, message.kind, routing_key=key, source=self.config.source),
                timeout=self.config.timeout_s,
            )

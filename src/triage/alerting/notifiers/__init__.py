"""Notifier adapters at the edge: each turns a Message into one external system's format and sends it.

``webhook`` (generic JSON, SMS and voice gateways; the only module that speaks HTTP), ``slack``
(Slack-compatible incoming webhooks), ``pagerduty`` (Events API v2), ``email`` (SMTP).
"""

from __future__ import annotations

from collections.abc import Mapping

from triage.alerting.config import AlertingConfig, HttpConfig, PagerDutyConfig, SmtpConfig
from triage.alerting.notifiers.base import DeliveryError, Message, Notifier
from triage.alerting.schemas import Channel

__all__ = ["DeliveryError", "Message", "Notifier", "build_notifiers"]


def build_notifiers(config: AlertingConfig) -> Mapping[Channel, Notifier]:
    """One notifier per configured channel."""
    from triage.alerting.notifiers.email import EmailNotifier
    from triage.alerting.notifiers.pagerduty import PagerDutyNotifier
    from triage.alerting.notifiers.slack import SlackNotifier
    from triage.alerting.notifiers.webhook import GatewayNotifier, WebhookNotifier

    out: dict[Channel, Notifier] = {}
    for channel, endpoint in config.channels.items():
        if isinstance(endpoint, SmtpConfig):
            out[channel] = EmailNotifier(endpoint)
        elif isinstance(endpoint, PagerDutyConfig):
            out[channel] = PagerDutyNotifier(endpoint)
        elif isinstance(endpoint, HttpConfig) and endpoint.kind == "slack":
            out[channel] = SlackNotifier(endpoint)
        elif isinstance(endpoint, HttpConfig) and endpoint.kind in ("sms_gateway", "voice_gateway"):
            out[channel] = GatewayNotifier(endpoint)
        else:
            out[channel] = WebhookNotifier(endpoint)
    return out

"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat accept this shape)."""

from __future__ import annotations

from triage.alerting.config import HttpConfig
from triage.alerting.notifiers.base import Message
from triage.alerting.notifiers.webhook import post_json

_EMOJI = {
    "CRITICAL": ":red_circle:",
    "HIGH": ":large_orange_circle:",
    "MEDIUM": ":large_yellow_circle:",
    "LOW": ":white_circle:",
}


def slack_payload(message: Message) -> dict:
    head = message.primary
    lines = [
        f"{_EMOJI[head.severity]} *{alert.severity}* `{alert.id}` {alert.title} — {', '.join(alert.services)}"
        for alert in sorted(message.alerts, key=lambda a: -a.severity.rank)
    ]
    context = f"team: {message.team}; kind: {message.kind}"
    if message.incident_id:
        context += f"; incident {message.incident_id}"
    return {
        "text": message.subject(),  # fallback for notifications
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.subject()[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


class SlackNotifier:
    def __init__(self, config: HttpConfig) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        post_json(self.config.url, slack_payload(message), timeout=self.config.timeout_s)

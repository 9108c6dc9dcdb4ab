"""Generic JSON webhooks and SMS / voice gateways over HTTP (httpx). The only notifier module doing HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from triage.alerting.config import HttpConfig
from triage.alerting.notifiers.base import DeliveryError, Message


def post_json(
    url: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None, timeout: float
) -> None:
    """POST one JSON document; any non-2xx answer or transport error is a DeliveryError (no secret in it)."""
    try:
        response = httpx.post(url, json=payload, headers=headers or {}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{_host(url)}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"{_host(url)}: HTTP {response.status_code}")


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or "endpoint"
    except httpx.InvalidURL:
        return "endpoint"


def _headers(config: HttpConfig) -> dict[str, str]:
    return {name: value.get_secret_value() for name, value in config.headers.items()}


class WebhookNotifier:
    """POSTs the alerts as JSON: {"type": "triage.alert", "kind", "incident_id", "team", "alerts": [...]}."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        payload = {
            "type": "triage.alert",
            "kind": str(message.kind),
            "incident_id": message.incident_id,
            "team": message.team,
            "subject": message.subject(),
            "alerts": [alert.public() for alert in message.alerts],
        }
        post_json(self.config.url, payload, headers=_headers(self.config), timeout=self.config.timeout_s)


class GatewayNotifier:
    """SMS or voice through an HTTP gateway: {"to": phone, "kind": "sms"|"voice", "text": one line}."""

    def __init__(self, config: HttpConfig) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        if not message.address:
            raise DeliveryError("no phone number")
        payload = {
            "to": message.address,
            "kind": "voice" if self.config.kind == "voice_gateway" else "sms",
            "text": message.short(),
            "alert_ids": [alert.id for alert in message.alerts],
        }
        post_json(self.config.url, payload, headers=_headers(self.config), timeout=self.config.timeout_s)

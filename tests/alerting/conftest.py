"""Real local receivers on 127.0.0.1: a threaded HTTP server and an aiosmtpd SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from triage.alerting.config import AlertingConfig
from triage.alerting.schemas import Recipient
from triage.alerting.service import AlertService
from triage.settings import Settings
from triage.storage.database import Database


@dataclass
class HttpReceiver:
    base: str
    requests: list[tuple[str, dict]] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # path -> status to answer (default 202)

    def bodies(self, path: str) -> list[dict]:
        return [body for p, body in self.requests if p == path]


@dataclass
class SmtpReceiver:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(base="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"null")
            with lock:
                receiver.requests.append((self.path, body))
            code = receiver.status.get(self.path, 202)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status":"success"}')

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver(port=_free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
            receiver.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=receiver.port)
    controller.start()
    yield receiver
    controller.stop()


T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def person(name: str, phone: bool = True) -> Recipient:
    return Recipient(name=name, email=f"{name}@example.org", phone="+1555010" + str(len(name)) if phone else None)


@pytest.fixture
def alert_config(http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver) -> AlertingConfig:
    base = http_receiver.base
    return AlertingConfig.model_validate({
        "teams": {
            "on_call_engineer": [person("olga").model_dump()],
            "database_admin": [person("dev").model_dump(), person("dora", phone=False).model_dump()],
            "security_team": [person("sam").model_dump()],
            "technical_lead": [person("carol").model_dump()],
            "infrastructure_lead": [person("ivan").model_dump()],
            "ciso": [person("cecil").model_dump()],
            "cto": [person("dan").model_dump()],
        },
        "channels": {
            "email": {"kind": "smtp", "host": "127.0.0.1", "port": smtp_receiver.port, "sender": "triage@example.org"},
            "slack": {"kind": "slack", "url": f"{base}/slack"},
            "pagerduty": {"kind": "pagerduty", "url": f"{base}/pagerduty", "routing_key": "R0UT1NGKEY"},
            "sms": {"kind": "sms_gateway", "url": f"{base}/sms", "headers": {"Authorization": "Bearer gw-secret"}},
            "phone": {"kind": "voice_gateway", "url": f"{base}/voice"},
            "webhook": {"kind": "webhook", "url": f"{base}/hook"},
        },
    })


@pytest.fixture
def alerts(settings: Settings, alert_config: AlertingConfig, clock: Clock) -> AlertService:
    return AlertService(Database(settings.store_path), config=alert_config, clock=clock)

"""Email over SMTP (stdlib smtplib), optionally with STARTTLS and login."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from triage.alerting.config import SmtpConfig
from triage.alerting.notifiers.base import DeliveryError, Message


def email_message(message: Message, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.address or ""
    mail["Subject"] = message.subject()
    mail["X-Triage-Alerts"] = ",".join(alert.id for alert in message.alerts)
    if message.incident_id:
        mail["X-Triage-Incident"] = message.incident_id
    mail.set_content(message.body())
    return mail


class EmailNotifier:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: Message) -> None:
        if not message.address:
            raise DeliveryError("no email address")
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if cfg.username and cfg.password is not None:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
                smtp.send_message(email_message(message, cfg.sender))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp {cfg.host}:{cfg.port}: {type(exc).__name__}") from None

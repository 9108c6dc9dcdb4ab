"""What every notifier receives (a Message) and raises (DeliveryError)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from triage.alerting.schemas import Alert, Channel, DeliveryKind
from triage.errors import TriageError


class DeliveryError(TriageError):
    """A notifier could not hand the message over (the dispatcher records it and retries)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: to a person (address set) or a team, about one or more alerts of one incident."""

    channel: Channel
    kind: DeliveryKind
    team: str
    recipient: str | None
    address: str | None
    incident_id: str | None
    alerts: tuple[Alert, ...]

    @property
    def primary(self) -> Alert:
        """The most severe alert of the group (the message leads with it)."""
        return max(self.alerts, key=lambda a: (a.severity.rank, a.last_seen))

    def subject(self) -> str:
        head = self.primary
        tag = {"escalation": "ESCALATED ", "acknowledged": "ACK ", "resolved": "RESOLVED "}.get(self.kind, "")
        more = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        incident = f" [{self.incident_id}]" if self.incident_id else ""
        return f"[{head.severity}] {tag}{head.title}{more}{incident}"[:250]

    def body(self) -> str:
        lines = [self.subject(), ""]
        if self.kind == "escalation":
            lines.append(f"Not acknowledged in time: escalated to {self.team}.")
        for alert in sorted(self.alerts, key=lambda a: -a.severity.rank):
            lines += [
                f"- {alert.id} {alert.severity} {alert.type}: {alert.title}",
                f"  {alert.summary}" if alert.summary else "",
                f"  services: {', '.join(alert.services) or 'n/a'}; seen {alert.occurrences}x since "
                f"{alert.first_seen:%Y-%m-%d %H:%M:%S} UTC; state {alert.state}",
            ]
        lines += ["", "Acknowledge: triage alerts ack " + " ".join(a.id for a in self.alerts)]
        return "\n".join(lines)

    def short(self) -> str:
        """For SMS and voice: one line."""
        head = self.primary
        return f"triage {head.severity}: {head.title} ({head.id}; {len(self.alerts)} alert(s))"[:300]


class Notifier(Protocol):
    def send(self, message: Message) -> None: ...

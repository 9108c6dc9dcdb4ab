from __future__ import annotations

import pytest

from triage.alerting.schemas import AlertSignal, AlertState, AlertType, Channel, DeliveryStatus, Severity
from triage.alerting.service import AlertService
from triage.audit.log import AuditLog
from triage.errors import Conflict


def diagnosis(clock, severity="CRITICAL", category="database", issue="connection pool exhausted",
              incident="INC-0042", service="records") -> dict:
    return {
        "errorId": "err-1", "incidentId": incident, "detectedAt": clock.now.isoformat(), "severity": severity,
        "category": category, "affectedServices": [service, "api"],
        "rootCause": {"service": service, "issue": issue, "confidence": 0.9},
    }


def signal(clock, key: str, severity=Severity.MEDIUM, type_=AlertType.SYSTEM_OUTAGE, incident="INC-7"):
    return AlertSignal(type=type_, severity=severity, title=f"{key} failing", services=(key,), incident_id=incident,
                       dedup_key=f"{incident}:{key}", occurred_at=clock.now)


def test_critical_goes_at_once_to_every_channel_of_the_routed_team(alerts, http_receiver, smtp_receiver, clock):
    alert = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock))
    assert alert.type is AlertType.DATABASE and alert.team == "database_admin"
    assert set(alert.channels_used) == {Channel.SMS, Channel.PHONE, Channel.EMAIL, Channel.SLACK, Channel.PAGERDUTY}
    # email: one per person of the database team, through the real SMTP server
    assert {m["To"] for m in smtp_receiver.messages} == {"dev@example.org", "dora@example.org"}
    mail = smtp_receiver.to("dev@example.org")[0]
    assert mail["Subject"].strip().startswith("[CRITICAL]") and "INC-0042" in mail["Subject"]
    assert mail["X-Triage-Alerts"] == alert.id and "connection pool exhausted" in mail.get_content()
    # SMS and voice through the gateways: dora has no phone, so only dev
    assert [b["to"] for b in http_receiver.bodies("/sms")] == ["+15550103"]
    assert http_receiver.bodies("/voice")[0]["kind"] == "voice"
    # Slack-compatible and PagerDuty Events v2
    slack = http_receiver.bodies("/slack")
    assert len(slack) == 1 and alert.id in slack[0]["blocks"][1]["text"]["text"]
    (pd,) = http_receiver.bodies("/pagerduty")
    assert pd["routing_key"] == "R0UT1NGKEY" and pd["event_action"] == "trigger"
    assert pd["dedup_key"] == "INC-0042:database" and pd["payload"]["severity"] == "critical"
    assert pd["payload"]["source"] == "triage" and pd["payload"]["group"] == "INC-0042"
    assert http_receiver.bodies("/hook") == []  # webhook is not a CRITICAL channel by default
    skipped = [d for d in alerts.deliveries(alert_id=alert.id) if d.status is DeliveryStatus.SKIPPED]
    assert [(d.channel, d.recipient) for d in skipped] == [(Channel.SMS, "dora"), (Channel.PHONE, "dora")]
    assert AuditLog(alerts.db).entries(action="alert.raised")[0].event.subject_id == alert.id


def test_repeats_are_deduplicated_and_a_severity_rise_notifies_the_new_channels(alerts, http_receiver,
                                                                                  smtp_receiver, clock):
    first = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="HIGH"))
    assert set(first.channels_used) == {Channel.EMAIL, Channel.SLACK, Channel.PAGERDUTY}
    sent = len(http_receiver.requests) + len(smtp_receiver.messages)
    clock.advance(minutes=1)
    again = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="HIGH"))
    assert again.id == first.id and again.occurrences == 2
    assert len(http_receiver.requests) + len(smtp_receiver.messages) == sent  # nothing new sent
    worse = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="CRITICAL"))
    assert worse.id == first.id and worse.severity is Severity.CRITICAL and worse.occurrences == 3
    assert len(http_receiver.bodies("/sms")) == 1 and len(http_receiver.bodies("/voice")) == 1
    assert len(http_receiver.bodies("/slack")) == 1  # Slack had it already
    assert len(alerts.list()) == 1


def test_alerts_of_one_incident_are_grouped_into_one_message(alerts, http_receiver, smtp_receiver, clock):
    a = alerts.raise_signal(signal=signal(clock, "web"))
    clock.advance(minutes=2)
    b = alerts.raise_signal(signal=signal(clock, "mobile"))
    other = alerts.raise_signal(signal=signal(clock, "billing", incident="INC-8"))
    assert a.id != b.id and smtp_receiver.messages == []  # MEDIUM waits up to 5 min to gather its incident
    clock.advance(minutes=3)
    report = alerts.tick()
    assert report.escalated == [] and len(report.sent) == 4  # a's email+slack, b's email+slack
    mails = smtp_receiver.to("olga@example.org")
    assert len(mails) == 1 and mails[0]["X-Triage-Alerts"] == f"{a.id},{b.id}" and "(+1 more)" in mails[0]["Subject"]
    assert len(http_receiver.bodies("/slack")) == 1
    clock.advance(minutes=2)
    alerts.tick()
    assert len(smtp_receiver.to("olga@example.org")) == 2  # INC-8 goes alone, at its own time
    assert smtp_receiver.to("olga@example.org")[1]["X-Triage-Alerts"] == other.id
    groups = alerts.groups()
    assert [x.id for x in groups["INC-7"]] == [a.id, b.id] and [x.id for x in groups["INC-8"]] == [other.id]


def test_unacknowledged_alerts_escalate_every_15_minutes_until_acknowledged(alerts, http_receiver, smtp_receiver,
                                                                             clock):
    alert = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="HIGH"))
    clock.advance(minutes=14)
    assert alerts.tick().escalated == []
    clock.advance(minutes=1)
    assert alerts.tick().escalated == [alert.id]
    assert smtp_receiver.to("carol@example.org")[0]["Subject"].strip().startswith("[HIGH] ESCALATED")
    clock.advance(minutes=15)
    alerts.tick()
    assert len(smtp_receiver.to("ivan@example.org")) == 1  # database alerts go to the infrastructure lead next
    current = alerts.get(alert_id=alert.id)
    assert current.escalation_level == 2 and current.escalated_to == ("technical_lead", "infrastructure_lead")
    acked = alerts.acknowledge(alert_id=alert.id, user="ivan")
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_by == "ivan"
    assert http_receiver.bodies("/pagerduty")[-1] == {"routing_key": "R0UT1NGKEY", "event_action": "acknowledge",
                                                      "dedup_key": "INC-0042:database"}
    clock.advance(hours=2)
    assert alerts.tick().escalated == [] and smtp_receiver.to("dan@example.org") == []
    with pytest.raises(Conflict):
        alerts.acknowledge(alert_id=alert.id, user="ivan")
    done = alerts.resolve(alert_id=alert.id, user="ivan", reason="pool resized")
    assert done.state is AlertState.RESOLVED and http_receiver.bodies("/pagerduty")[-1]["event_action"] == "resolve"
    actions = [e.event.action for e in AuditLog(alerts.db).entries(subject_id=alert.id)]
    assert actions == ["alert.raised", "alert.escalated", "alert.escalated", "alert.acknowledged", "alert.resolved"]
    # after resolution the same incident and type opens a fresh alert
    assert alerts.raise_from_diagnosis(diagnosis=diagnosis(clock)).id != alert.id


def test_security_alerts_escalate_along_their_own_chain(alerts, smtp_receiver, clock):
    alert = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="HIGH", category="authentication",
                                                            issue="brute force on login", service="gateway"))
    assert alert.type is AlertType.SECURITY and smtp_receiver.to("sam@example.org")
    for _ in range(4):
        clock.advance(minutes=15)
        alerts.tick()
    final = alerts.get(alert_id=alert.id)
    assert final.escalated_to == ("technical_lead", "ciso", "cto") and final.next_escalation_at is None
    assert smtp_receiver.to("cecil@example.org") and smtp_receiver.to("dan@example.org")


def test_acknowledging_an_incident_acknowledges_its_group(alerts, clock):
    alerts.raise_signal(signal=signal(clock, "web"))
    alerts.raise_signal(signal=signal(clock, "mobile"))
    acked = alerts.acknowledge_incident(incident_id="INC-7", user="olga")
    assert [a.state for a in acked] == [AlertState.ACKNOWLEDGED] * 2
    clock.advance(hours=1)
    assert alerts.tick().escalated == []


def test_failed_deliveries_are_retried_then_given_up(alerts, http_receiver, clock):
    http_receiver.status["/slack"] = 500
    alert = alerts.raise_from_diagnosis(diagnosis=diagnosis(clock, severity="HIGH"))
    slack = next(d for d in alerts.deliveries(alert_id=alert.id) if d.channel is Channel.SLACK)
    assert slack.status is DeliveryStatus.PENDING and slack.attempts == 1 and "HTTP 500" in slack.error
    clock.advance(minutes=1)
    http_receiver.status["/slack"] = 200
    alerts.tick()
    slack = next(d for d in alerts.deliveries(alert_id=alert.id) if d.channel is Channel.SLACK)
    assert slack.status is DeliveryStatus.SENT and slack.attempts == 2 and len(http_receiver.bodies("/slack")) == 2

    http_receiver.status["/pagerduty"] = 400
    other = alerts.raise_signal(signal=signal(clock, "api", severity=Severity.HIGH))
    for _ in range(3):
        clock.advance(minutes=1)
        alerts.dispatch()
    pd = next(d for d in alerts.deliveries(alert_id=other.id) if d.channel is Channel.PAGERDUTY)
    assert pd.status is DeliveryStatus.FAILED and pd.attempts == 3 and "R0UT1NGKEY" not in (pd.error or "")


def test_unconfigured_channels_and_empty_teams_are_visible(settings, clock):
    service = AlertService(alerts_db(settings), clock=clock)  # default config: no endpoints, no teams
    alert = service.raise_from_diagnosis(diagnosis=diagnosis(clock))
    rows = service.deliveries(alert_id=alert.id)
    assert {d.status for d in rows} == {DeliveryStatus.SKIPPED} and len(rows) == 5
    assert "no endpoint configured" in rows[0].error


def alerts_db(settings):
    from triage.storage.database import Database

    return Database(settings.store_path)

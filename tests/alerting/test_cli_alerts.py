"""`triage alerts …` with a YAML configuration pointing at the local receivers, and a missed emergency
deadline escalating through alerting (the wiring the CLI and API use)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from triage.alerting.config import AlertingConfig
from triage.alerting.schemas import AlertType, Severity
from triage.alerting.service import AlertService
from triage.changes.config import ChangeConfig
from triage.changes.emergency import EmergencyTrigger
from triage.changes.schemas import Milestone
from triage.changes.service import ChangeService
from triage.cli import main
from triage.cli.change import breach_to_alert
from triage.settings import Settings
from triage.storage.database import Database


def run(capsys, settings: Settings, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(settings.home), *args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_raise_list_ack_from_the_command_line(capsys, settings, alert_config: AlertingConfig, smtp_receiver,
                                              http_receiver, tmp_path) -> None:
    settings.config_dir.mkdir(parents=True)
    raw = alert_config.model_dump(mode="json")
    raw["channels"]["pagerduty"]["routing_key"] = "R0UT1NGKEY"  # SecretStr dumps masked
    raw["channels"]["sms"]["headers"] = {"Authorization": "Bearer gw-secret"}
    (settings.config_dir / "alerting.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    diagnosis = tmp_path / "d.json"
    diagnosis.write_text(json.dumps({
        "errorId": "e7", "incidentId": "INC-77", "detectedAt": "2030-01-01T00:00:00Z", "severity": "HIGH",
        "category": "model", "affectedServices": ["scorer"],
        "rootCause": {"service": "scorer", "issue": "inference latency above budget", "confidence": 0.7},
    }), encoding="utf-8")
    code, out, err = run(capsys, settings, "alerts", "raise", "--diagnosis", str(diagnosis), "--json")
    assert code == 0, err
    alert = json.loads(out)
    assert alert["type"] == "ai_service" and alert["team"] == "ai_team_lead"
    code, out, _ = run(capsys, settings, "alerts", "list")
    assert "INC-77: 1 alert(s)" in out and alert["id"] in out
    code, _, err = run(capsys, settings, "alerts", "ack", alert["id"])
    assert code == 2 and "--as" in err
    code, _, err = run(capsys, settings, "alerts", "ack", "--as", "olga")  # neither an id nor --incident
    assert code == 2 and "exactly one of an alert id or --incident" in err
    code, out, _ = run(capsys, settings, "alerts", "ack", "--incident", "INC-77", "--as", "olga")
    assert code == 0 and "acknowledged by olga" in out
    assert http_receiver.bodies("/pagerduty")[-1]["event_action"] == "acknowledge"
    code, out, _ = run(capsys, settings, "alerts", "tick", "--json")
    assert code == 0 and json.loads(out)["escalated"] == []
    code, out, _ = run(capsys, settings, "alerts", "show", alert["id"])
    shown = json.loads(out)
    assert shown["state"] == "acknowledged" and {d["channel"] for d in shown["deliveries"]} >= {"slack", "pagerduty"}


def test_a_missed_emergency_deadline_escalates_through_alerting(settings, alert_config, smtp_receiver, clock):
    db = Database(settings.store_path)
    alerts = AlertService(db, config=alert_config, clock=clock)
    changes = ChangeService(db, config=ChangeConfig(), clock=clock, on_breach=breach_to_alert(alerts))
    trigger = EmergencyTrigger(incident_id="INC-5", severity="CRITICAL", detected_at=clock.now,
                               services=("records",), summary="disk full on records")
    cr = changes.open_emergency_change(trigger=trigger)
    clock.advance(minutes=11)  # nobody approved within 10 minutes
    (breach,) = changes.check_deadlines()
    assert breach.milestone is Milestone.APPROVAL
    (alert,) = alerts.list(incident_id="INC-5")
    assert alert.type is AlertType.CHANGE_DEADLINE and alert.severity is Severity.CRITICAL
    assert alert.team == "technical_lead" and alert.source == f"change:{cr.id}"
    assert "approval deadline" in smtp_receiver.to("carol@example.org")[0]["Subject"]
    clock.advance(minutes=15)  # still unacknowledged: past the technical lead (who has it) to the next step
    assert alerts.tick().escalated == [alert.id]
    assert smtp_receiver.to("ivan@example.org")[-1]["Subject"].strip().startswith("[CRITICAL] ESCALATED")
    clock.advance(minutes=15)
    alerts.tick()
    assert smtp_receiver.to("dan@example.org")
    assert alerts.get(alert_id=alert.id).escalated_to == ("infrastructure_lead", "cto")
    assert clock.now - trigger.detected_at == timedelta(minutes=41)

from __future__ import annotations

from pathlib import Path

import pytest

from triage.alerting.config import AlertingConfig, load_alerting_config
from triage.alerting.schemas import AlertType, Channel, Severity
from triage.errors import InvalidInput


def test_defaults_follow_the_seed() -> None:
    config = AlertingConfig()
    assert config.levels[Severity.CRITICAL].channels == (Channel.SMS, Channel.PHONE, Channel.EMAIL, Channel.SLACK,
                                                         Channel.PAGERDUTY)
    assert config.levels[Severity.CRITICAL].within.total_seconds() == 0
    assert [config.levels[s].within.total_seconds() / 60 for s in (Severity.HIGH, Severity.MEDIUM, Severity.LOW)] \
        == [5, 15, 60]
    assert config.routes[AlertType.SYSTEM_OUTAGE] == "on_call_engineer"
    assert config.routes[AlertType.DATABASE] == "database_admin"
    assert config.routes[AlertType.SECURITY] == "security_team"
    assert config.routes[AlertType.HIPAA] == "compliance_officer"
    assert config.routes[AlertType.AI_SERVICE] == "ai_team_lead"
    assert config.escalation.after.total_seconds() == 15 * 60
    assert [s.team for s in config.escalation.chain] == ["technical_lead", "infrastructure_lead", "ciso", "legal", "cto"]
    assert config.channels == {}  # nothing leaves the machine until configured


def test_yaml_configuration_keeps_secrets_secret(tmp_path: Path) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(
        "channels:\n  pagerduty: {kind: pagerduty, routing_key: s3cr3t}\n"
        "  sms: {kind: sms_gateway, url: 'http://127.0.0.1:9/sms'}\n"
        "routes:\n  database: on_call_engineer\n"
        "levels:\n  HIGH: {within: PT2M, channels: [slack]}\n",
        encoding="utf-8",
    )
    config = load_alerting_config(path)
    assert config.routes[AlertType.DATABASE] == "on_call_engineer"
    assert config.routes[AlertType.SECURITY] == "security_team"
    assert config.levels[Severity.HIGH].channels == (Channel.SLACK,)
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in config.model_dump_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channels: {email: {kind: fax}}", "channels.email"),
        ("levels:\n  LOW: {within: PT1M, group_wait: PT5M, channels: [email]}\n", "group_wait"),
        ("teams: [", "not valid YAML"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerting.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        load_alerting_config(path)

from __future__ import annotations

from pathlib import Path

import pytest

from triage.changes.config import ChangeConfig, load_change_config
from triage.changes.schemas import Actor, Authority, Milestone, Role
from triage.errors import InvalidInput

YAML = """
authorities:
  technical_lead: {roles: [approver, admin], users: [carol]}
policy:
  major_risk_score: 8
dependencies:
  web: [api]
  api: [postgres]
blackouts:
  - {name: clinic hours, weekdays: [0, 1, 2, 3, 4], from_time: "08:00", to_time: "18:00"}
deadlines:
  approval: PT15M
"""


def test_yaml_configuration(tmp_path: Path) -> None:
    path = tmp_path / "changes.yaml"
    path.write_text(YAML, encoding="utf-8")
    config = load_change_config(path)
    carol, bob = Actor(user="carol", role=Role.APPROVER), Actor(user="bob", role=Role.APPROVER)
    assert Authority.TECHNICAL_LEAD in config.authorities_of(carol)
    assert Authority.TECHNICAL_LEAD not in config.authorities_of(bob)  # right role, not named
    assert config.authorities_of(bob) == [Authority.ON_CALL_ENGINEER]  # the default names nobody
    assert Authority.CTO in config.authorities_of(Actor(user="bob", role=Role.ADMIN))  # defaults kept
    assert config.policy.major_risk_score == 8
    assert config.graph().impacted_by(["postgres"]) == ["postgres", "api", "web"]
    assert config.deadlines[Milestone.APPROVAL].total_seconds() == 900
    assert config.deadlines[Milestone.DECLARED].total_seconds() == 120
    assert config.blackouts[0].name == "clinic hours"


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_change_config(tmp_path / "absent.yaml") == ChangeConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("authorities: [", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
        ("authorities:\n  cfo: {roles: [admin]}\n", "authorities.cfo"),
        ("unknown_key: 1\n", "unknown_key"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "changes.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        load_change_config(path)

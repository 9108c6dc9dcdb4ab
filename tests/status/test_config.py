"""The status configuration file: defaults, validation, clear errors."""

from __future__ import annotations

import pytest

from triage.errors import InvalidInput
from triage.status.config import StatusConfig, load_status_config
from triage.status.schemas import ComponentState


def test_defaults_without_a_file(tmp_path) -> None:
    config = load_status_config(tmp_path / "status.yaml")
    assert [c.id for c in config.components] == ["diagnosis-api", "platform"]
    assert config.severity_impact["CRITICAL"] is ComponentState.MAJOR_OUTAGE


def test_a_file_overrides_and_merges(tmp_path) -> None:
    path = tmp_path / "status.yaml"
    path.write_text("title: Example\ninterval_s: 5\nseverity_impact: {medium: operational}\n"
                    "components:\n  - {id: portal, name: Portal, services: ['portal-*']}\n")
    config = load_status_config(path)
    assert config.title == "Example" and config.interval_s == 5
    assert config.severity_impact["MEDIUM"] is ComponentState.OPERATIONAL
    assert config.severity_impact["HIGH"] is ComponentState.PARTIAL_OUTAGE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("components: [{id: a, name: A}, {id: a, name: B}]", "unique"),
        ("components: [{id: 'Bad Id', name: A}]", "components.0.id"),
        ("components: [{id: a, name: A, probes: [{url: 'ftp://x'}]}]", "url"),
        ("interval_s: 0", "interval_s"),
        ("title: [unclosed", "not valid YAML"),
        ("- a list", "mapping"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, text, message) -> None:
    path = tmp_path / "status.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_status_config(path)


def test_unknown_component_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="known: diagnosis-api, platform"):
        StatusConfig().component("nope")

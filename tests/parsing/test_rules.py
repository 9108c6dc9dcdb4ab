from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import InvalidInput
from triage.parsing.rules import RuleSet


def test_defaults_load_with_both_lists_in_order() -> None:
    rules = RuleSet.defaults()
    names = [r.name for r in rules.masking]
    assert {"email", "ssn", "mrn", "phone", "credit_card", "jwt", "secret_assignment"} <= {
        r.name for r in rules.redaction
    }
    assert {"ipv4", "ipv6", "url", "path", "hex", "number", "uuid", "block_id", "time", "key_value"} <= set(
        names
    )
    assert names.index("ipv4") < names.index("number")  # specific before general


def test_user_file_runs_first_and_replaces_by_name(tmp_path: Path) -> None:
    extra = tmp_path / "rules.yaml"
    extra.write_text(
        "masking:\n"
        "  - name: ticket\n"
        "    pattern: 'TCK-\\d+'\n"
        "    replacement: '<TICKET>'\n"
        "redaction:\n"
        "  - name: email\n"
        "    pattern: '\\S+@\\S+'\n"
        "    replacement: '<MAIL>'\n",
        encoding="utf-8",
    )
    rules = RuleSet.load(extra)
    assert rules.masking[0].name == "ticket"
    emails = [r for r in rules.redaction if r.name == "email"]
    assert len(emails) == 1 and emails[0].replacement == "<MAIL>"
    assert rules.redaction[0].name == "email"
    assert rules.fingerprint() != RuleSet.defaults().fingerprint()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("masking: [{name: x, pattern: '(', replacement: '<X>'}]", "does not compile"),
        ("masking: [{name: x, pattern: 'a', replacement: 'X'}]", "<NAME>"),
        ("masking: [{name: x, pattern: 'a', replacement: '<X>', colour: red}]", "colour"),
        ("redaction: [{name: x, pattern: 'a', replacement: '<X>', group: 2}]", "group"),
        ("masking: [{name: x, pattern: 'a', replacement: '<NUM>', render: '<*>-<*>'}]", "disagree"),
        ("- just a list", "mapping"),
        ("masking: [unclosed", "not valid YAML"),
    ],
)
def test_bad_rule_files_are_invalid_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        RuleSet.load(path)


def test_missing_rule_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        RuleSet.load(tmp_path / "nope.yaml")


def test_settings_field_reaches_parser_config(tmp_path: Path) -> None:
    from triage.parsing import ParserConfig
    from triage.settings import Settings

    path = tmp_path / "r.yaml"
    config = ParserConfig.from_settings(Settings(home=tmp_path, parsing_rules_path=path))
    assert config.rules_path == path


def test_defaults_read_as_the_pure_python_safe_loader_reads_them() -> None:
    """The defaults are read with libyaml's safe loader when PyYAML has it: the same rules, fingerprint
    and all, as ``yaml.safe_load`` gives."""
    from importlib import resources

    import yaml

    from triage.parsing.rules import DEFAULT_RULES_RESOURCE

    text = resources.files("triage.parsing").joinpath(DEFAULT_RULES_RESOURCE).read_text("utf-8")
    pure = RuleSet.from_mapping(yaml.safe_load(text), origin=DEFAULT_RULES_RESOURCE)
    assert RuleSet.defaults() == pure
    assert RuleSet.defaults().fingerprint() == pure.fingerprint()
    assert len(pure.redaction) > 5 and len(pure.masking) > 5

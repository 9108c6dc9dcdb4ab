from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.modeling.labels import (
    LABELLED_COLUMNS,
    LabelError,
    combine_examples,
    dataset_label_map,
    feedback_examples,
    load_rule_pack,
    seed_examples,
    validate_examples,
    weak_labels,
)
from triage.modeling.taxonomy import DEFAULT_TAXONOMY

from .conftest import read_events


def test_seed_pack_is_valid_and_covers_most_categories() -> None:
    pack = load_rule_pack()
    assert pack.reviewed.by and pack.reviewed.date
    categories = {r.category for r in pack.rules}
    assert len(categories) >= 10 and categories <= set(DEFAULT_TAXONOMY.names)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("java.net.ConnectException: Connection refused", "NETWORK"),
        ("FATAL: sorry, too many clients already", "DATABASE_CONNECTION"),
        ("org.postgresql.util.PSQLException: Connection to db:5432 refused", "DATABASE_CONNECTION"),
        ("OSError: [Errno 28] No space left on device", "RESOURCE_EXHAUSTION"),
        ("Read timed out after 30000 ms", "TIMEOUT"),
        ("No route to host ... failed on socket timeout exception", "NETWORK"),  # the cause beats the symptom
        ("Failed password for invalid user admin from 1.2.3.4", "SECURITY"),
        ("Failed password for root from 1.2.3.4 port 22 ssh2", "AUTHENTICATION"),
        ("java.lang.NullPointerException at Foo.bar", "CODE_DEFECT"),
        ("duplicate key value violates unique constraint", "DATA_INTEGRITY"),
        ("Block stored in memory (estimated size 4.0 KB, free 403.2 MB)", None),  # a 403 that is no HTTP status
    ],
)
def test_rules_label_well_known_messages(text: str, category: str | None) -> None:
    rule = load_rule_pack().match(text)
    assert (rule.category if rule else None) == category


def test_weak_labels_on_real_lines(fixtures_dir: Path) -> None:
    examples = weak_labels(read_events())
    assert list(examples.columns) == list(LABELLED_COLUMNS)
    # informational lines are no error examples; error-level lines without a rule are UNKNOWN
    assert not examples["level"].isin(["INFO", "DEBUG"]).any()
    assert set(examples.loc[examples["label_source"] == "rule:none", "category"]) == {"UNKNOWN"}
    ssh = examples[examples["service"] == "OpenSSH"]
    assert {"AUTHENTICATION", "SECURITY"} <= set(ssh["category"])
    invalid_user = ssh[ssh["message"].str.contains("invalid user", case=False)]
    assert len(invalid_user) and (invalid_user["category"] == "SECURITY").all()
    assert examples["severity"].isin(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).all()


def test_feedback_overrides_rule_labels_for_the_same_text() -> None:
    events = read_events()
    weak = weak_labels(events)
    template = weak.loc[weak["label_source"] == "rule:none", "template"].iloc[0]
    feedback = pd.DataFrame({"message": ["whatever the analyst saw"], "template": [template], "service": ["x"],
                             "level": ["ERROR"], "category": ["CONFIGURATION"], "severity": ["HIGH"]})  # fmt: skip
    combined = combine_examples(weak, feedback_examples(feedback))
    same = combined[combined["template"] == template]
    assert len(same) == (weak["template"] == template).sum() + 1
    assert (same["category"] == "CONFIGURATION").all() and (same["label_source"] == "feedback").all()
    assert len(combined[combined["template"] != template]) == len(weak[weak["template"] != template])


def test_dataset_maps_and_seed_examples_are_valid() -> None:
    assert dataset_label_map("bgl")["APPTO"] == "TIMEOUT"
    assert dataset_label_map("hadoop")["disk_full"] == "RESOURCE_EXHAUSTION"
    seeds = seed_examples()
    assert set(seeds["category"]) == set(DEFAULT_TAXONOMY.names)  # every category has examples
    with pytest.raises(LabelError, match="no label mapping"):
        dataset_label_map("openstack")


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not in the taxonomy"):
        validate_examples(pd.DataFrame({"message": ["x"], "category": ["NETWRK"], "severity": ["LOW"]}))
    with pytest.raises(InvalidInput, match="severity"):
        validate_examples(pd.DataFrame({"message": ["x"], "category": ["NETWORK"], "severity": ["URGENT"]}))
    with pytest.raises(InvalidInput, match="lacks column"):
        feedback_examples(pd.DataFrame({"message": ["x"], "category": ["NETWORK"]}))
    bad = tmp_path / "pack.yaml"
    bad.write_text("version: 1\nreviewed: {by: me, date: today}\nrules:\n  - {id: x1, category: NETWORK, pattern: '(('}\n")
    with pytest.raises(LabelError, match="does not compile"):
        load_rule_pack(bad)
    bad.write_text("version: 1\nreviewed: {by: me, date: today}\nrules:\n  - {id: x1, category: NOPE, pattern: 'a'}\n")
    with pytest.raises(LabelError, match="not in the taxonomy"):
        load_rule_pack(bad)

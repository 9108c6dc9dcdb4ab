from __future__ import annotations

import pytest

from triage.errors import InvalidInput
from triage.modeling.taxonomy import (
    DEFAULT_TAXONOMY,
    UNKNOWN,
    Category,
    Severity,
    normalise_level,
    parse_severity,
    severity_for,
)

REQUIRED = {"DATABASE_CONNECTION", "NETWORK", "TIMEOUT", "RESOURCE_EXHAUSTION", "AUTHENTICATION", "CONFIGURATION",
            "DEPENDENCY_FAILURE", "CODE_DEFECT", "DATA_INTEGRITY", "HARDWARE", "SECURITY", "UNKNOWN"}  # fmt: skip


def test_default_taxonomy_has_every_required_category_documented() -> None:
    assert set(DEFAULT_TAXONOMY.names) >= REQUIRED
    for category in DEFAULT_TAXONOMY:
        assert len(category.definition) > 20, category.name


def test_severities_are_ordered_and_shift_clamps() -> None:
    ranked = [s.value for s in sorted(Severity, key=lambda s: s.rank)]
    assert ranked == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    assert Severity.HIGH.shifted(1) is Severity.CRITICAL
    assert Severity.CRITICAL.shifted(3) is Severity.CRITICAL
    assert Severity.MEDIUM.shifted(-5) is Severity.LOW


def test_severity_for_follows_category_default_and_level() -> None:
    assert severity_for("NETWORK", "ERROR") is Severity.HIGH
    assert severity_for("NETWORK", "FATAL") is Severity.CRITICAL
    assert severity_for("NETWORK", "warning") is Severity.MEDIUM
    assert severity_for("NETWORK", "INFO") is Severity.LOW
    assert severity_for("TIMEOUT", None) is Severity.MEDIUM  # no level: the default


def test_extend_adds_a_category_and_keeps_the_built_ins() -> None:
    extended = DEFAULT_TAXONOMY.extend(Category("QUEUE_BACKLOG", "Messages pile up faster than consumers drain them.",
                                                Severity.MEDIUM))  # fmt: skip
    assert "QUEUE_BACKLOG" in extended and "QUEUE_BACKLOG" not in DEFAULT_TAXONOMY
    assert severity_for("QUEUE_BACKLOG", "ERROR", extended) is Severity.MEDIUM
    with pytest.raises(InvalidInput, match="twice"):
        extended.extend(Category("NETWORK", "a duplicate definition of network", Severity.LOW))


def test_bad_names_and_labels_are_refused() -> None:
    with pytest.raises(InvalidInput, match="UPPER_SNAKE_CASE"):
        Category("lower-case", "not a valid name for a category", Severity.LOW)
    with pytest.raises(InvalidInput, match="not in the taxonomy"):
        DEFAULT_TAXONOMY.validate_labels(["NETWORK", "NETWRK"])
    with pytest.raises(InvalidInput, match="unknown category"):
        severity_for("NOPE", "ERROR")
    with pytest.raises(InvalidInput):
        parse_severity("urgent")
    assert UNKNOWN in DEFAULT_TAXONOMY
    assert normalise_level(" warning ") == "WARN" and normalise_level(float("nan")) == ""

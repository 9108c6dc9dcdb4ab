"""CSV export: every column, one line per incident, safe in spreadsheets."""

from __future__ import annotations

import csv
import io

import pandas as pd

from triage.history.export import safe_cell, to_csv
from triage.history.queries import COLUMNS


def test_formula_cells_are_defused_but_numbers_are_not() -> None:
    assert safe_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("+1") == "'+1" and safe_cell("@cmd") == "'@cmd" and safe_cell("-x") == "'-x"
    assert safe_cell(-3.5) == "-3.5" and safe_cell(None) == "" and safe_cell(float("nan")) == ""
    assert safe_cell(["a", "=b"]) == "a;=b"
    assert safe_cell(pd.Timestamp("2026-11-27T10:00:00Z")) == "2026-11-27T10:00:00+00:00"


def test_round_trip_through_a_csv_reader() -> None:
    row = {c: None for c in COLUMNS} | {
        "incident_id": "INC-1", "title": 'Timeout, "slow" on\nscheduling', "services": ["a", "b"],
        "root_issue": "=cmd|' /C calc'!A0", "minutes_to_resolve": 12.5, "error_count": 3,
        "first_seen": pd.Timestamp("2026-11-27T10:00:00Z"),
    }
    text = to_csv(pd.DataFrame([row]))
    [parsed] = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed) == list(COLUMNS)
    assert parsed["title"] == 'Timeout, "slow" on\nscheduling' and parsed["services"] == "a;b"
    assert parsed["root_issue"].startswith("'=") and parsed["minutes_to_resolve"] == "12.5"
    assert parsed["resolved_at"] == ""

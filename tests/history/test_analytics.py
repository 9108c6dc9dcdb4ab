"""MTTR and weekly trends over a history frame (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from triage.history.analytics import mttr_by, mttr_summary, trends, weekly_by_category, weekly_mttr


def frame(rows: list[tuple[str, str, str, str, float | None]]) -> pd.DataFrame:
    """(first_seen, category, severity, status, minutes_to_resolve)"""
    return pd.DataFrame({
        "first_seen": pd.to_datetime([r[0] for r in rows], utc=True),
        "category": [r[1] for r in rows], "severity": [r[2] for r in rows], "status": [r[3] for r in rows],
        "minutes_to_resolve": [r[4] for r in rows],
    })


DATA = frame([
    ("2026-11-02T10:00:00Z", "TIMEOUT", "HIGH", "resolved", 30.0),  # Monday, week of 11-02
    ("2026-11-08T23:59:00Z", "TIMEOUT", "LOW", "resolved", 90.0),  # Sunday, same week
    ("2026-11-09T00:00:00Z", "NETWORK", "HIGH", "resolved", 60.0),  # Monday, next week
    ("2026-11-24T08:00:00Z", "TIMEOUT", "HIGH", "investigating", None),  # two weeks later, open
])


def test_mttr_counts_resolved_incidents_only() -> None:
    summary = mttr_summary(DATA)
    assert summary == {"incidents": 4, "resolved": 3, "open": 1, "meanMinutes": 60.0, "medianMinutes": 60.0,
                       "p90Minutes": pytest.approx(84.0)}
    empty = mttr_summary(DATA.iloc[3:])
    assert empty["meanMinutes"] is None and empty["open"] == 1
    by_category = {r["category"]: r for r in mttr_by(DATA, "category")}
    assert by_category["TIMEOUT"]["meanMinutes"] == 60.0 and by_category["TIMEOUT"]["incidents"] == 3
    assert by_category["NETWORK"]["meanMinutes"] == 60.0


def test_weeks_start_on_monday_utc_and_gaps_are_zero() -> None:
    weekly = weekly_by_category(DATA)
    table = {(str(r.week), r.category): r.incidents for r in weekly.itertuples()}
    assert table[("2026-11-02", "TIMEOUT")] == 2 and table[("2026-11-02", "NETWORK")] == 0
    assert table[("2026-11-09", "NETWORK")] == 1
    assert table[("2026-11-16", "TIMEOUT")] == 0  # an empty week inside the span
    assert table[("2026-11-23", "TIMEOUT")] == 1
    assert len(weekly) == 4 * 2
    mttr = weekly_mttr(DATA)
    assert list(mttr["week"].astype(str)) == ["2026-11-02", "2026-11-09"]
    assert list(mttr["mean_minutes"]) == [60.0, 60.0] and list(mttr["resolved"]) == [2, 1]


def test_trends_is_json_ready_and_handles_no_incidents() -> None:
    import json

    body = trends(DATA)
    json.dumps(body)
    assert body["weeklyMttr"][0] == {"week": "2026-11-02", "resolved": 2, "meanMinutes": 60.0, "medianMinutes": 60.0}
    empty = trends(DATA.iloc[0:0])
    assert empty["mttr"]["incidents"] == 0 and empty["weeklyByCategory"] == [] and empty["weeklyMttr"] == []

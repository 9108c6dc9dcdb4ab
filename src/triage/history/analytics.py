"""Trends over a history frame (the output of ``IncidentHistory.frame``); pure pandas, no I/O.

MTTR here is the mean time to resolve: from the incident's first error to its resolution, over resolved
incidents only (open ones have no repair time yet; they are counted separately, never as zero).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def mttr_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Count, resolved count, and mean / median / p90 minutes to resolve."""
    minutes = frame["minutes_to_resolve"].dropna().astype(float)
    return {
        "incidents": len(frame),
        "resolved": len(minutes),
        "open": int((frame["status"] != "resolved").sum()),
        "meanMinutes": _round(minutes.mean()) if len(minutes) else None,
        "medianMinutes": _round(minutes.median()) if len(minutes) else None,
        "p90Minutes": _round(minutes.quantile(0.9)) if len(minutes) else None,
    }


def mttr_by(frame: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    """MTTR per value of ``key`` (category, severity, root_service), largest count first."""
    if frame.empty:
        return []
    rows = []
    for value, group in frame.groupby(key, dropna=True, sort=True):
        rows.append({key: value, **mttr_summary(group)})
    return sorted(rows, key=lambda r: (-r["incidents"], str(r[key])))


def week_start(times: pd.Series) -> pd.Series:
    """The Monday (UTC) of each time's ISO week, as a date."""
    utc = pd.to_datetime(times, utc=True)
    day = utc.dt.floor("D")
    return (day - pd.to_timedelta(day.dt.day_of_week, unit="D")).dt.date


def weekly_by_category(frame: pd.DataFrame) -> pd.DataFrame:
    """Incidents opened per ISO week (Monday, UTC) and category: columns week, category, incidents.

    Weeks without incidents inside the covered span are included with zero, so trends are not skewed.
    """
    if frame.empty:
        return pd.DataFrame({"week": [], "category": [], "incidents": []})
    weeks = week_start(frame["first_seen"])
    counts = frame.assign(week=weeks).groupby(["week", "category"]).size()
    all_weeks = pd.date_range(min(weeks), max(weeks), freq="7D").date
    index = pd.MultiIndex.from_product([all_weeks, sorted(frame["category"].unique())], names=["week", "category"])
    return counts.reindex(index, fill_value=0).rename("incidents").reset_index()


def weekly_mttr(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and median minutes to resolve per ISO week of the incidents' start: week, resolved, mean, median."""
    done = frame.dropna(subset=["minutes_to_resolve"])
    if done.empty:
        return pd.DataFrame({"week": [], "resolved": [], "mean_minutes": [], "median_minutes": []})
    grouped = done.assign(week=week_start(done["first_seen"])).groupby("week")["minutes_to_resolve"]
    out = grouped.agg(resolved="count", mean_minutes="mean", median_minutes="median").reset_index()
    out["mean_minutes"] = out["mean_minutes"].round(2)
    out["median_minutes"] = out["median_minutes"].round(2)
    return out


def trends(frame: pd.DataFrame) -> dict[str, Any]:
    """Everything the history page charts, as JSON-ready values."""
    weekly = weekly_by_category(frame)
    mttr_weeks = weekly_mttr(frame)
    return {
        "mttr": mttr_summary(frame),
        "mttrByCategory": [_camel(r) for r in mttr_by(frame, "category")],
        "mttrBySeverity": [_camel(r) for r in mttr_by(frame, "severity")],
        "weeklyByCategory": [
            {"week": str(r.week), "category": r.category, "incidents": int(r.incidents)}
            for r in weekly.itertuples(index=False)
        ],
        "weeklyMttr": [
            {"week": str(r.week), "resolved": int(r.resolved), "meanMinutes": float(r.mean_minutes),
             "medianMinutes": float(r.median_minutes)}
            for r in mttr_weeks.itertuples(index=False)
        ],
    }


def _round(value: float) -> float:
    return round(float(value), 2)


def _camel(row: dict[str, Any]) -> dict[str, Any]:
    return {("rootService" if k == "root_service" else k): v for k, v in row.items()}

"""Helpers of the modeling tests (the shared fixtures live in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

MODELING = Path(__file__).resolve().parents[1] / "fixtures" / "modeling"


def read_events() -> pd.DataFrame:
    """910 real log lines (Loghub 2k samples): ts, service, level, template, message."""
    return pd.read_csv(MODELING / "loghub_events.csv", keep_default_na=False, na_values=[""])


def read_labelled(name: str) -> pd.DataFrame:
    return pd.read_csv(MODELING / f"{name}.csv", keep_default_na=False, na_values=[""])

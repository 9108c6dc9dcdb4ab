"""Small file helpers shared by the importers: find a table (plain or gzip), read label fields safely."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from triage.rca.bundle import BundleError

#: The only label.json fields an importer may read: times, windows, system, baseline pointers.
#: Answers (root cause service/pod/indicator, fault type, case id, source paths) are never read,
#: so held-out cases whose label.json keeps only these fields are diagnosed the same way.
NON_ANSWER_LABEL_FIELDS = frozenset({
    "system", "date", "inject_time_utc", "inject_unix", "fault_duration_s", "metrics_window_unix",
    "minute_files", "baseline", "normal_period", "anomalous_period", "detection_time",
})


def find_table(folder: Path, stem: str) -> Path | None:
    """``folder/stem.csv.gz`` or ``folder/stem.csv``, whichever exists."""
    for suffix in (".csv.gz", ".csv"):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def read_csv(path: Path, *, usecols: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Read a CSV table (optionally only the columns ``usecols`` accepts); parse failures are InvalidInput."""
    try:
        return pd.read_csv(path, usecols=usecols, low_memory=False)
    except (ValueError, OSError, UnicodeDecodeError, EOFError, pd.errors.ParserError) as exc:
        raise BundleError(f"{path}: not a readable CSV table ({type(exc).__name__}: {exc})") from exc


def csv_header(path: Path) -> list[str]:
    """Column names of a CSV table without reading it whole."""
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (ValueError, OSError, UnicodeDecodeError, EOFError, pd.errors.ParserError):
        return []


def read_label(folder: Path) -> dict[str, Any]:
    """The non-answer fields of ``folder/label.json`` (empty when there is none)."""
    path = folder / "label.json"
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not valid JSON") from exc
    if not isinstance(raw, dict):
        raise BundleError(f"{path}: expected a JSON object")
    return {k: v for k, v in raw.items() if k in NON_ANSWER_LABEL_FIELDS}


def label_detection_time(label: dict[str, Any]) -> float | None:
    """The detection (injection) time a label gives, as unix seconds."""
    for key in ("detection_time", "inject_unix"):
        value = label.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    text = label.get("inject_time_utc")
    if isinstance(text, str):
        stamp = pd.to_datetime(text, utc=True, errors="coerce")
        if not pd.isna(stamp):
            return float(stamp.timestamp())
    return None

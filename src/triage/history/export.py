"""CSV export of a history frame, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import pandas as pd

from triage.history.queries import COLUMNS

#: A cell starting with one of these is a formula to a spreadsheet (CSV injection); such cells get a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    if isinstance(value, list | tuple):
        text = ";".join(str(v) for v in value)
    elif isinstance(value, pd.Timestamp):
        return value.isoformat()
    elif isinstance(value, str):
        text = value
    else:  # numbers and booleans cannot carry a formula
        return str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(frame: pd.DataFrame, columns: Iterable[str] = COLUMNS) -> str:
    """The frame as RFC 4180 CSV (header + one line per incident)."""
    columns = list(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in frame[columns].itertuples(index=False, name=None):
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()

"""Importer for wide metric tables, as in RCD's Sock Shop cases and RCAEval's datasets.

Two shapes are recognised by content:

* ``normal.csv[.gz]`` + ``anomalous.csv[.gz]`` (RCD / "Sock Shop 1"): a fault-free period and the incident
  period, each with a ``time`` column (unix s) and one column per ``<service>_<metric>``.
  The normal period is the baseline, the anomalous period the incident; it starts at the detection time
  unless ``label.json`` or the caller gives one.
* ``data.csv[.gz]`` + ``inject_time.txt`` (RCAEval RE1/RE2): one series; the detection time comes from
  ``inject_time.txt``, ``label.json`` or the caller, and splits it into baseline and incident.

A column name is ``<service>_<metric>``: the service is the part before the first underscore
(service names such as ``carts-db`` use dashes), the metric the rest (``cpu``, ``mem``, ``lat_50``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from triage.rca.bundle import BundleError, BundleManifest, IncidentBundle, TimeWindow
from triage.rca.importers._files import csv_header, find_table, label_detection_time, read_csv, read_label

_TIME_COLUMNS = ("time", "timestamp", "unix", "ts")
#: With a single series, the incident is this long after the detection time.
INCIDENT_S = 600.0


def looks_like_wide_metrics(folder: Path) -> bool:
    """True for a normal/anomalous pair or a data.csv with a time column and ``svc_metric`` columns."""
    pair = [find_table(folder, "normal"), find_table(folder, "anomalous")]
    if all(p is not None for p in pair):
        return all(_time_column(csv_header(p)) is not None for p in pair if p is not None)
    data = find_table(folder, "data")
    return data is not None and _time_column(csv_header(data)) is not None


def load_wide_metrics_case(folder: Path, *, detection_time: float | None = None) -> IncidentBundle:
    """Build a metrics-only bundle from a wide-table case folder."""
    label = read_label(folder)
    t0 = detection_time if detection_time is not None else label_detection_time(label)
    normal, anomalous = find_table(folder, "normal"), find_table(folder, "anomalous")
    notes: list[str] = []
    if normal is not None and anomalous is not None:
        base = _long(read_csv(normal), normal)
        incident_rows = _long(read_csv(anomalous), anomalous)
        if not len(base) or not len(incident_rows):
            raise BundleError(f"{folder}: the normal or anomalous table has no samples")
        metrics = pd.concat([base, incident_rows], ignore_index=True)
        baseline = TimeWindow(start=float(base["ts"].min()), end=float(base["ts"].max()) + 1.0)
        start, end = float(incident_rows["ts"].min()), float(incident_rows["ts"].max()) + 1.0
        if t0 is None:
            t0 = start
            notes.append("detection time: the first sample of the anomalous period")
        incident = TimeWindow(start=min(start, t0), end=max(end, t0 + 1.0))
        baselines: tuple[TimeWindow, ...] = (baseline,)
    else:
        data = find_table(folder, "data")
        if data is None:
            raise BundleError(f"{folder}: no normal/anomalous or data table")
        metrics = _long(read_csv(data), data)
        if t0 is None:
            t0 = _inject_time_file(folder)
        if t0 is None:
            raise BundleError(f"{folder}: no detection time (give --at, label.json or inject_time.txt)")
        first, last = float(metrics["ts"].min()), float(metrics["ts"].max()) + 1.0
        if not first < t0 < last:
            raise BundleError(f"{folder}: the detection time is outside the data ({first:.0f}..{last:.0f})")
        incident = TimeWindow(start=t0, end=min(last, t0 + INCIDENT_S))
        baselines = (TimeWindow(start=first, end=t0),)
    manifest = BundleManifest(
        source="wide-metrics",
        system=str(label["system"]) if label.get("system") else None,
        detection_time=t0,
        incident_window=incident,
        baseline_windows=baselines,
        notes=tuple(notes),
    )
    return IncidentBundle(manifest=manifest, metrics=metrics)


def _time_column(columns: list[str]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in _TIME_COLUMNS if c in lowered), None)


def _long(wide: pd.DataFrame, path: Path) -> pd.DataFrame:
    time_column = _time_column([str(c) for c in wide.columns])
    if time_column is None:
        raise BundleError(f"{path}: no time column")
    frames = []
    ts = pd.to_numeric(wide[time_column], errors="coerce")
    if ts.notna().any() and float(ts.max()) > 1e11:  # milliseconds or finer
        ts = ts / (1e3 if float(ts.max()) < 1e14 else 1e9)
    for column in wide.columns:
        if column == time_column or "_" not in str(column):
            continue
        service, metric = str(column).split("_", 1)
        if not service or not metric:
            continue
        values = pd.to_numeric(wide[column], errors="coerce")
        frames.append(pd.DataFrame({"ts": ts, "service": service, "instance": "", "metric": metric,
                                    "value": values}))
    if not frames:
        raise BundleError(f"{path}: no <service>_<metric> columns")
    out = pd.concat(frames, ignore_index=True)
    keep = out["ts"].notna().to_numpy() & np.isfinite(out["value"].to_numpy(dtype=float))
    return out[keep].reset_index(drop=True)


def _inject_time_file(folder: Path) -> float | None:
    path = folder / "inject_time.txt"
    if not path.is_file():
        return None
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a number") from exc

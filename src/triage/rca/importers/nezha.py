"""Importer for Nezha-style cases (TrainTicket, OnlineBoutique): per-pod metrics, logs, span aggregates.

A case folder holds some of: ``metrics.csv[.gz]`` (unix, pod, service, <metric columns>),
``logs.csv[.gz]`` (unix_nano, pod, service, level, ..., message), ``trace_ops.csv[.gz]`` (span aggregates
per minute file, service, operation, parent service), ``edge_latency_{source,destination}_50.csv[.gz]``
(p50 latency per call edge, measured at the caller / the callee) and ``label.json`` (times only are read).
A label's ``baseline`` points at a fault-free minute recorded earlier that day (``info.json`` plus
optional logs / trace_ops); it becomes a second baseline window.

Recognised by content: a metrics table with ``pod`` and ``service`` columns, or Nezha-shaped logs/traces.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.rca.bundle import BundleError, BundleManifest, DependencyEdge, IncidentBundle, TimeWindow
from triage.rca.importers._files import csv_header, find_table, label_detection_time, read_csv, read_label

_METRIC_ID_COLUMNS = ("unix", "pod", "service")
_ENTRY_PARENTS = {"root", "unknown", "", "nan"}
#: Fault-free stretch before the detection time used as the metric baseline (the case files hold 20 min).
PRE_WINDOW_S = 1200.0
#: How long after the detection time counts as the incident when the label gives no duration.
DEFAULT_FAULT_S = 180.0


def looks_like_nezha(folder: Path) -> bool:
    """True when the folder's tables have Nezha's shape (checked on headers, never on names)."""
    metrics = find_table(folder, "metrics")
    if metrics is not None and set(_METRIC_ID_COLUMNS) <= set(csv_header(metrics)):
        return True
    logs = find_table(folder, "logs")
    if logs is not None and {"unix_nano", "service", "message"} <= set(csv_header(logs)):
        return True
    traces = find_table(folder, "trace_ops")
    return traces is not None and {"source_minute_file", "service", "parent_service"} <= set(csv_header(traces))


def load_nezha_case(folder: Path, *, detection_time: float | None = None) -> IncidentBundle:
    """Build a bundle from a Nezha-style case folder. ``detection_time`` overrides the label's."""
    label = read_label(folder)
    t0 = detection_time if detection_time is not None else label_detection_time(label)

    metrics = _read_metrics(folder)
    services = set(metrics["service"].unique()) if metrics is not None else set()
    logs = _read_logs(folder)
    if logs is not None:
        services.update(logs["service"].unique())
    reference = t0 if t0 is not None else _reference_time(metrics, logs)
    calls = _read_trace_ops(folder, reference)
    if calls is not None:
        services.update(calls["callee"].unique())
    edge_calls = _read_edge_latency(folder, services)
    calls = _concat(calls, edge_calls)

    baseline_windows: list[TimeWindow] = []
    notes: list[str] = []
    base = _baseline_folder(folder, label)
    if base is not None:
        base_logs, base_calls, window = _read_baseline_minute(base)
        logs = _concat(logs, base_logs)
        calls = _concat(calls, base_calls)
        if window is not None:
            baseline_windows.append(window)
            notes.append("second baseline: the dataset's fault-free minute for that day")

    if metrics is None and logs is None and calls is None:
        raise BundleError(f"{folder}: no metrics, logs or traces found")

    incident = None
    if t0 is not None:
        duration = label.get("fault_duration_s")
        duration = float(duration) if isinstance(duration, int | float) and duration > 0 else DEFAULT_FAULT_S
        incident = TimeWindow(start=t0, end=t0 + duration + 60.0)
        baseline_windows.insert(0, TimeWindow(start=t0 - PRE_WINDOW_S, end=t0))

    manifest = BundleManifest(
        source="nezha",
        system=str(label["system"]) if label.get("system") else None,
        detection_time=t0,
        incident_window=incident,
        baseline_windows=tuple(baseline_windows),
        notes=tuple(notes),
    )
    bundle = IncidentBundle(manifest=manifest, logs=logs, metrics=metrics, calls=calls)
    edges = _dependencies(bundle.calls)
    return bundle.model_copy(update={"manifest": manifest.model_copy(update={"dependencies": edges})})


def _read_metrics(folder: Path) -> pd.DataFrame | None:
    path = find_table(folder, "metrics")
    if path is None:
        return None
    wide = read_csv(path)
    missing = [c for c in _METRIC_ID_COLUMNS if c not in wide.columns]
    if missing:
        raise BundleError(f"{path}: missing column(s) {', '.join(missing)}")
    value_columns = [c for c in wide.columns if c not in _METRIC_ID_COLUMNS]
    numeric = wide[value_columns].apply(pd.to_numeric, errors="coerce")
    long = (
        pd.concat([wide[list(_METRIC_ID_COLUMNS)], numeric], axis=1)
        .melt(id_vars=list(_METRIC_ID_COLUMNS), var_name="metric", value_name="value")
        .rename(columns={"unix": "ts", "pod": "instance"})
    )
    return long.dropna(subset=["value"])


def _read_logs(folder: Path) -> pd.DataFrame | None:
    path = find_table(folder, "logs")
    if path is None:
        return None
    wanted = {"unix_nano", "pod", "service", "level", "trace_id", "message"}
    return _logs_frame(read_csv(path, usecols=lambda c: c in wanted), path)


def _logs_frame(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in ("unix_nano", "service", "message") if c not in raw.columns]
    if missing:
        raise BundleError(f"{path}: missing column(s) {', '.join(missing)}")
    ts = pd.to_numeric(raw["unix_nano"], errors="coerce") / 1e9
    return pd.DataFrame({
        "ts": ts,
        "service": raw["service"],
        "instance": raw["pod"] if "pod" in raw.columns else "",
        "level": raw["level"] if "level" in raw.columns else "",
        "message": raw["message"].fillna(""),
        "trace_id": raw["trace_id"] if "trace_id" in raw.columns else "",
    })[ts.notna().to_numpy()]


def _read_trace_ops(folder: Path, reference: float | None, *, day: str | None = None) -> pd.DataFrame | None:
    path = find_table(folder, "trace_ops")
    if path is None:
        return None
    raw = read_csv(path)
    needed = ("source_minute_file", "service", "parent_service", "span_count")
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise BundleError(f"{path}: missing column(s) {', '.join(missing)}")
    ends = {m: _minute_file_end(str(m), reference, day) for m in raw["source_minute_file"].unique()}
    if any(v is None for v in ends.values()):
        raise BundleError(f"{path}: cannot place minute files in time (no detection time or date)")
    parent = raw["parent_service"].fillna("").astype(str)
    caller = parent.where(~parent.str.lower().isin(_ENTRY_PARENTS), "")

    def seconds(column: str) -> pd.Series:
        return pd.to_numeric(raw[column], errors="coerce") / 1e6 if column in raw.columns else np.nan

    return pd.DataFrame({
        # a minute file holds the minute before its name: stamp rows just before that end
        "ts": raw["source_minute_file"].map(ends).astype(float) - 1.0,
        "caller": caller,
        "callee": raw["service"].astype(str),
        "operation": raw["operation"].astype(str) if "operation" in raw.columns else "",
        "observer": "span",
        "count": pd.to_numeric(raw["span_count"], errors="coerce"),
        "latency_mean": seconds("duration_us_mean"),
        "latency_p50": seconds("duration_us_p50"),
        "latency_p90": seconds("duration_us_p90"),
        "latency_p99": seconds("duration_us_p99"),
    })


def _minute_file_end(name: str, reference: float | None, day: str | None) -> float | None:
    """Unix time of a ``HH_MM`` minute file's nominal end: on ``day``, else the one nearest ``reference``."""
    try:
        hour, minute = (int(p) for p in name.split("_")[:2])
    except ValueError:
        return None
    if day is not None:
        try:
            date = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return None
        return (date + timedelta(hours=hour, minutes=minute)).timestamp()
    if reference is None:
        return None
    ref = datetime.fromtimestamp(reference, tz=UTC)
    candidates = [
        (ref.replace(hour=hour, minute=minute, second=0, microsecond=0) + timedelta(days=d)).timestamp()
        for d in (-1, 0, 1)
    ]
    return min(candidates, key=lambda c: abs(c - reference))


def _read_edge_latency(folder: Path, services: set[str]) -> pd.DataFrame | None:
    frames = []
    for stem, observer in (("edge_latency_source_50", "caller"), ("edge_latency_destination_50", "callee")):
        path = find_table(folder, stem)
        if path is None:
            continue
        wide = read_csv(path)
        if "unix" not in wide.columns:
            raise BundleError(f"{path}: missing column unix")
        for column in wide.columns:
            if column == "unix":
                continue
            pair = _split_edge(str(column), services)
            if pair is None:
                continue
            frames.append(pd.DataFrame({
                "ts": pd.to_numeric(wide["unix"], errors="coerce"),
                "caller": pair[0],
                "callee": pair[1],
                "operation": "",
                "observer": observer,
                "latency_p50": pd.to_numeric(wide[column], errors="coerce"),
            }))
    if not frames:
        return None
    out = pd.concat(frames, ignore_index=True)
    return out[out["ts"].notna()]


def _split_edge(column: str, services: set[str]) -> tuple[str, str] | None:
    """``caller_callee`` -> (caller, callee), preferring a split where both sides are known services."""
    parts = column.split("_")
    splits = [("_".join(parts[:i]), "_".join(parts[i:])) for i in range(1, len(parts))]
    for caller, callee in splits:
        if caller in services and callee in services:
            return caller, callee
    return splits[0] if len(splits) == 1 else None


def _baseline_folder(folder: Path, label: dict[str, Any]) -> Path | None:
    pointer = label.get("baseline")
    if not isinstance(pointer, str) or not pointer or Path(pointer).is_absolute() or ".." in Path(pointer).parts:
        return None
    # the pointer is relative to the dataset root; the case sits one or two levels below it
    for root in (folder.parent.parent, folder.parent, folder):
        candidate = root / pointer
        if (candidate / "info.json").is_file():
            return candidate
    return None


def _read_baseline_minute(base: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None, TimeWindow | None]:
    try:
        info = json.loads((base / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{base / 'info.json'}: not valid JSON") from exc
    day = info.get("date") if isinstance(info, dict) else None
    minute = info.get("normal_minute_file") if isinstance(info, dict) else None
    logs = _read_logs(base)
    calls = _read_trace_ops(base, None, day=day) if isinstance(day, str) else None
    stamps = []
    if logs is not None and len(logs):
        stamps += [float(logs["ts"].min()), float(logs["ts"].max())]
    if calls is not None and len(calls):
        stamps += [float(calls["ts"].min()), float(calls["ts"].max())]
    if isinstance(day, str) and isinstance(minute, str):
        end = _minute_file_end(minute, None, day)
        if end is not None:
            stamps += [end - 60.0, end]
    if not stamps:
        return logs, calls, None
    return logs, calls, TimeWindow(start=min(stamps), end=max(stamps) + 1.0)


def _reference_time(metrics: pd.DataFrame | None, logs: pd.DataFrame | None) -> float | None:
    for frame in (logs, metrics):
        if frame is not None and len(frame):
            return float(np.median(frame["ts"]))
    return None


def _dependencies(calls: pd.DataFrame | None) -> tuple[DependencyEdge, ...]:
    if calls is None or not len(calls):
        return ()
    edges = calls[(calls["caller"] != "") & (calls["caller"] != calls["callee"])]
    weights = edges.assign(n=edges["count"].fillna(1.0)).groupby(["caller", "callee"])["n"].sum()
    return tuple(
        DependencyEdge(caller=str(a), callee=str(b), weight=float(w)) for (a, b), w in weights.items()
    )


def _concat(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame | None:
    if a is None:
        return b
    if b is None:
        return a
    return pd.concat([a, b], ignore_index=True)

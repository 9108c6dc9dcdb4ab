"""Incident bundles: everything triage knows about one incident window, in one typed object.

A bundle holds up to three tables (any of them may be absent) and a manifest:

* ``logs``    — ts, service, instance, level, message, template_id, trace_id (``""`` when unknown)
* ``metrics`` — ts, service, instance, metric, value (long format: one row per sample)
* ``calls``   — ts, caller, callee, operation, observer, count, errors, latency_mean/p50/p90/p99
  (aggregates of calls between services; ``caller == callee`` for a service's internal spans;
  ``observer`` says where latency was measured: ``span`` (trace spans), ``caller`` or ``callee``)

Times are unix seconds (float). Latencies are seconds. For bucketed tables (``calls``, minute metrics)
``ts`` is the time the row stands for (the middle of its bucket). The manifest carries the detection
time, the incident window, the baseline windows (fault-free reference; may be several, e.g. a
pre-incident stretch plus a known-good minute earlier that day) and the service dependency graph.

The bundle is pure data; reading and writing folders lives in :mod:`triage.rca.bundle_io`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.errors import InvalidInput

BUNDLE_FORMAT = "triage.rca.bundle"
BUNDLE_VERSION = 1

#: Canonical columns per table: name -> (kind, default for a missing optional column or None if required).
LOG_COLUMNS: dict[str, tuple[str, object]] = {
    "ts": ("float", None),
    "service": ("str", None),
    "instance": ("str", ""),
    "level": ("str", ""),
    "message": ("str", None),
    "template_id": ("str", ""),
    "trace_id": ("str", ""),
}
METRIC_COLUMNS: dict[str, tuple[str, object]] = {
    "ts": ("float", None),
    "service": ("str", None),
    "instance": ("str", ""),
    "metric": ("str", None),
    "value": ("float", None),
}
CALL_COLUMNS: dict[str, tuple[str, object]] = {
    "ts": ("float", None),
    "caller": ("str", None),
    "callee": ("str", None),
    "operation": ("str", ""),
    "observer": ("str", "span"),
    "count": ("float", np.nan),
    "errors": ("float", np.nan),
    "latency_mean": ("float", np.nan),
    "latency_p50": ("float", np.nan),
    "latency_p90": ("float", np.nan),
    "latency_p99": ("float", np.nan),
}
TABLE_COLUMNS: dict[str, dict[str, tuple[str, object]]] = {
    "logs": LOG_COLUMNS,
    "metrics": METRIC_COLUMNS,
    "calls": CALL_COLUMNS,
}
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "ERROR", "FATAL")
_LEVEL_ALIASES = {"WARNING": "WARN", "ERR": "ERROR", "CRITICAL": "FATAL", "CRIT": "FATAL", "SEVERE": "ERROR",
                  "PANIC": "FATAL", "EMERG": "FATAL", "ALERT": "FATAL", "INFORMATION": "INFO"}


class BundleError(InvalidInput):
    """A bundle or a table in it is not usable (missing columns, bad values, bad windows)."""


class TimeWindow(BaseModel):
    """A half-open interval [start, end) in unix seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float
    end: float

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if not (np.isfinite(self.start) and np.isfinite(self.end)) or self.end <= self.start:
            raise ValueError(f"window end must be after start (got {self.start}..{self.end})")
        return self

    def mask(self, ts: pd.Series | np.ndarray) -> np.ndarray:
        values = np.asarray(ts, dtype=float)
        return (values >= self.start) & (values < self.end)


class DependencyEdge(BaseModel):
    """``caller`` calls ``callee`` (so a fault in ``callee`` can show up as symptoms in ``caller``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    caller: str = Field(min_length=1)
    callee: str = Field(min_length=1)
    weight: float = 1.0


class TableInfo(BaseModel):
    """Where a saved table lives inside a bundle folder, and its checksum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    rows: int
    sha256: str


class BundleManifest(BaseModel):
    """The JSON half of a bundle: times, windows, graph, provenance. No answers, no labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["triage.rca.bundle"] = BUNDLE_FORMAT
    version: int = BUNDLE_VERSION
    source: str = "native"  # where it came from: nezha, rcaeval, store, native, ...
    system: str | None = None
    detection_time: float | None = None
    incident_window: TimeWindow | None = None
    baseline_windows: tuple[TimeWindow, ...] = ()
    dependencies: tuple[DependencyEdge, ...] = ()
    notes: tuple[str, ...] = ()
    tables: dict[str, TableInfo] = Field(default_factory=dict)  # filled when saved

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != BUNDLE_VERSION:
            raise ValueError(f"unsupported bundle version {value} (this triage reads {BUNDLE_VERSION})")
        return value


class IncidentBundle(BaseModel):
    """One incident window: manifest + up to three canonical tables (validated and normalised)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    manifest: BundleManifest
    logs: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    calls: pd.DataFrame | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: object) -> object:
        if isinstance(data, dict):
            data = dict(data)
            for name in TABLE_COLUMNS:
                if data.get(name) is not None:
                    data[name] = normalise_table(name, data[name])
        return data

    @property
    def modalities(self) -> tuple[str, ...]:
        """The tables that hold at least one row, in a fixed order."""
        return tuple(n for n in TABLE_COLUMNS if (t := getattr(self, n)) is not None and len(t))

    @property
    def services(self) -> tuple[str, ...]:
        """Every service named anywhere in the bundle, sorted."""
        names: set[str] = set()
        if self.logs is not None:
            names.update(self.logs["service"].unique())
        if self.metrics is not None:
            names.update(self.metrics["service"].unique())
        if self.calls is not None:
            names.update(self.calls["caller"].unique())
            names.update(self.calls["callee"].unique())
        for edge in self.manifest.dependencies:
            names.update((edge.caller, edge.callee))
        names.discard("")
        return tuple(sorted(names))

    def with_detection_time(self, detection_time: float, *, replace: bool = False) -> IncidentBundle:
        """This bundle with a detection time (and default windows where it has none)."""
        manifest = self.manifest
        if manifest.detection_time is not None and not replace:
            return self
        update: dict[str, object] = {"detection_time": float(detection_time)}
        if replace or manifest.incident_window is None or not manifest.baseline_windows:
            incident, baseline = default_windows(float(detection_time))
            if replace or manifest.incident_window is None:
                update["incident_window"] = incident
            if replace or not manifest.baseline_windows:
                update["baseline_windows"] = (baseline,)
        return self.model_copy(update={"manifest": manifest.model_copy(update=update)})


def default_windows(
    detection_time: float, *, lookback_s: float = 1800.0, lead_s: float = 60.0, horizon_s: float = 300.0
) -> tuple[TimeWindow, TimeWindow]:
    """(incident, baseline) around a detection time when nothing better is known.

    Detection lags the fault's start, so the incident window opens ``lead_s`` before it; the baseline is
    the ``lookback_s`` before that.
    """
    incident = TimeWindow(start=detection_time - lead_s, end=detection_time + horizon_s)
    baseline = TimeWindow(start=detection_time - lead_s - lookback_s, end=detection_time - lead_s)
    return incident, baseline


def normalise_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns of table ``name``, typed, NaN-free where required."""
    if not isinstance(frame, pd.DataFrame):
        raise BundleError(f"{name}: expected a DataFrame, got {type(frame).__name__}")
    spec = TABLE_COLUMNS[name]
    missing = [c for c, (_, default) in spec.items() if default is None and c not in frame.columns]
    if missing:
        raise BundleError(f"{name}: missing required column(s) {', '.join(missing)}")
    out: dict[str, object] = {}
    n = len(frame)
    for column, (kind, default) in spec.items():
        values = frame[column] if column in frame.columns else pd.Series([default] * n, index=frame.index)
        if kind == "float":
            if column == "ts":
                values = _to_unix_seconds(values, name)
            else:
                values = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            values = values.fillna("" if default is None else default).astype(str)
        out[column] = values
    result = pd.DataFrame(out).reset_index(drop=True)
    if "value" in spec:
        result = result[np.isfinite(result["value"].to_numpy())].reset_index(drop=True)
    if "level" in spec:
        result["level"] = normalise_levels(result["level"])
    bad_ts = ~np.isfinite(result["ts"].to_numpy())
    if bad_ts.any():
        raise BundleError(f"{name}: {int(bad_ts.sum())} row(s) without a usable timestamp")
    return result


def normalise_levels(levels: pd.Series) -> pd.Series:
    """Upper-case severity words, with common aliases folded (WARNING -> WARN, CRITICAL -> FATAL)."""
    upper = levels.astype(str).str.strip().str.upper()
    return upper.replace(_LEVEL_ALIASES)


def _to_unix_seconds(values: pd.Series, table: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is None:
            values = values.dt.tz_localize("UTC")
        return (values - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("float64")
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() and values.notna().any():
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
        if parsed.notna().all():
            return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().astype("float64")
        raise BundleError(f"{table}: timestamps must be unix seconds or datetimes")
    return numeric.astype("float64")

"""The champions the scorer serves: loaded from their exported copies (``models/served/<name>/``, checked
against their sha256, no MLflow import on the hot path), reloaded when an alias moves, and adapted to what
the engine needs. A champion that fails to load never replaces the last good one; the failure is kept for
``/readyz``.

:func:`scan_recent` is the pattern models' serving hook: recent events in, per (service, template) findings
(new / rare / burst / recurring / cascade, with scores) and per service an anomaly score out. It is pure
and vectorised, cheap enough to call every few seconds on ~100k events (``benchmarks/recent_scan.py``);
:meth:`ServedModels.scan` calls it with the champions currently loaded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.diagnosis.engine import Classification
from triage.diagnosis.schemas import Severity
from triage.errors import InvalidInput, TriageError
from triage.modeling.anomaly import WINDOW_MODEL_NAME, SessionModel
from triage.modeling.classification import MODEL_NAME as CLASSIFIER_NAME
from triage.modeling.forecast import MODEL_NAME as FORECASTER_NAME
from triage.modeling.forecast import EarlyWarning, ErrorRateForecaster
from triage.modeling.patterns import MODEL_NAME as PATTERNS_NAME
from triage.modeling.patterns import PatternFinding, TemplatePatternDetector
from triage.modeling.tracking import MANIFEST, LoadedModel, load_served

#: The champions the scorer watches: the error classifier (per event) and the pattern models behind
#: :func:`scan_recent`. (The block-session models need a session key the scorer's events do not carry.)
SERVED_MODELS: tuple[str, ...] = (CLASSIFIER_NAME, PATTERNS_NAME, WINDOW_MODEL_NAME, FORECASTER_NAME)


class ChampionClassifier:
    """The registered error classifier behind the engine's ``ErrorClassifier`` protocol."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.name = loaded.name
        self.version = str(loaded.version)

    def classify(self, *, content: str, template: str, level: str, service: str) -> Classification:
        estimator = self.loaded.estimator
        if hasattr(estimator, "classify"):  # the portable copy: plain rows in and out, no DataFrame
            row = estimator.classify([{"message": content, "template": template, "level": level, "service": service}])[0]
        else:
            frame = pd.DataFrame({"message": [content], "template": [template], "level": [level], "service": [service]})
            row = estimator.predict_frame(frame).iloc[0]
        return Classification(
            category=str(row["category"]),
            category_confidence=float(row["category_confidence"]),
            severity=Severity(str(row["severity"])),
            severity_confidence=float(row["severity_confidence"]),
            source=f"model:{self.name}@{self.version}",
        )


@dataclass
class ServedModels:
    """Watches the served champions of ``names`` and keeps the last good copy of each."""

    served_dir: Path
    names: tuple[str, ...] = SERVED_MODELS
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, str] = field(default_factory=dict)  # name -> manifest sha last attempted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self, on_failure: Callable[[str, str], None] | None = None) -> bool:
        """Load champions whose exported copy changed since the last poll; True when any changed."""
        changed = False
        for name in self.names:
            manifest = self.served_dir / name / MANIFEST
            try:
                marker = json.loads(manifest.read_text(encoding="utf-8")).get("sha256", "")
            except (OSError, ValueError):
                continue  # not exported yet (no champion): the engine falls back to the reviewed pack
            if self._seen.get(name) == marker:
                continue
            self._seen[name] = marker
            try:
                model = load_served(self.served_dir, name)
            except TriageError as exc:
                self.errors[name] = str(exc)
                if on_failure:
                    on_failure(name, str(exc))
                continue
            with self._lock:
                self.loaded[name] = model
                self.errors.pop(name, None)
            changed = True
        return changed

    def versions(self) -> dict[str, str]:
        with self._lock:
            return {name: str(model.version) for name, model in self.loaded.items()}

    def classifier(self) -> ChampionClassifier | None:
        with self._lock:
            model = self.loaded.get(CLASSIFIER_NAME)
        return ChampionClassifier(model) if model is not None else None

    def has(self, name: str) -> bool:
        """Whether a champion of ``name`` is loaded."""
        with self._lock:
            return name in self.loaded

    def _estimator(self, name: str, kind: type) -> tuple[Any, str | None]:
        with self._lock:
            model = self.loaded.get(name)
        if model is None or not isinstance(model.estimator, kind):
            return None, None
        return model.estimator, str(model.version)

    def scan(self, events: pd.DataFrame, *, now: datetime | pd.Timestamp | None = None) -> RecentScan:
        """:func:`scan_recent` with the champions loaded now (those missing are left out of the result)."""
        patterns, p_version = self._estimator(PATTERNS_NAME, TemplatePatternDetector)
        windows, w_version = self._estimator(WINDOW_MODEL_NAME, SessionModel)
        forecaster, f_version = self._estimator(FORECASTER_NAME, ErrorRateForecaster)
        versions = {n: v for n, v in ((PATTERNS_NAME, p_version), (WINDOW_MODEL_NAME, w_version),
                                      (FORECASTER_NAME, f_version)) if v is not None}  # fmt: skip
        return scan_recent(events, patterns=patterns, windows=windows, forecaster=forecaster, now=now,
                           versions=versions)

    def describe(self) -> str:
        """For /readyz: what is served, and what failed (the last good model stays in service)."""
        parts = [f"{n} v{v}" for n, v in self.versions().items()] or ["no champion registered (rules only)"]
        if self.errors:
            parts += [f"{n}: load failed, kept last good ({e})" for n, e in self.errors.items()]
        return "; ".join(parts)


def served_names(extra: Iterable[str] = ()) -> tuple[str, ...]:
    return (*SERVED_MODELS, *(n for n in extra if n not in SERVED_MODELS))


# ----------------------------------------------------------------------------------- recent events
#: Columns of :attr:`RecentScan.templates`.
TEMPLATE_COLUMNS = ("service", "template_id", "count", "errors", "windows", "new", "rare", "burst", "recurring",
                    "in_cascade", "kinds", "score", "max_count", "expected", "episodes", "first_window",
                    "last_window")  # fmt: skip
#: Columns of :attr:`RecentScan.services`.
SERVICE_COLUMNS = ("service", "n_events", "n_errors", "error_rate", "anomaly_score", "anomalous", "windows_scored",
                   "latest_window", "latest_score", "n_new", "n_rare", "n_burst", "n_recurring", "pattern_score",
                   "in_cascade", "warning_eta_windows", "warning_threshold")  # fmt: skip
EVENT_COLUMNS = ("ts", "service", "level", "template_id")


@dataclass(frozen=True)
class RecentScan:
    """What the pattern models say about a batch of recent events.

    * ``templates`` — one row per (service, template_id) seen in the batch (:data:`TEMPLATE_COLUMNS`):
      its counts, the pattern flags (``new``/``rare``/``burst``/``recurring`` in any window, ``in_cascade``),
      ``kinds`` (those flags as ``"burst,recurring"``), ``score`` (``-log10`` of the smallest rare/burst
      p-value; 0 for new or ordinary templates) and the historical ``expected`` count per window.
    * ``services`` — one row per service (:data:`SERVICE_COLUMNS`): volumes, the window model's
      ``anomaly_score`` (largest over the batch's complete windows; > 0 is anomalous; NaN when no
      complete window or no window model), the latest complete window's score, how many of its templates
      are new/rare/bursting/recurring, the largest template ``pattern_score``, whether it is in a cascade,
      and the forecaster's early warning (windows until its error-rate threshold; NaN when none).
    * ``cascades`` and ``warnings`` — the findings themselves; ``models`` — name -> version used.
    """

    templates: pd.DataFrame
    services: pd.DataFrame
    cascades: tuple[PatternFinding, ...] = ()
    warnings: tuple[EarlyWarning, ...] = ()
    models: dict[str, str] = field(default_factory=dict)

    def findings(self, service: str | None = None) -> pd.DataFrame:
        """Templates with at least one finding, most unusual first (optionally of one service)."""
        rows = self.templates[self.templates["kinds"] != ""]
        if service is not None:
            rows = rows[rows["service"] == service]
        return rows.sort_values(["new", "score", "count"], ascending=False, kind="stable").reset_index(drop=True)


def scan_recent(
    events: pd.DataFrame,
    *,
    patterns: TemplatePatternDetector | None = None,
    windows: SessionModel | None = None,
    forecaster: ErrorRateForecaster | None = None,
    now: datetime | pd.Timestamp | None = None,
    versions: dict[str, str] | None = None,
) -> RecentScan:
    """Score a batch of recent events (``ts, service, level, template_id``; ``content`` is not needed)
    with whichever pattern models are given. Pure: no I/O, no clock (``now`` defaults to the newest
    event's time).

    The batch should hold *all* recent events of the services (not only errors): rates, bursts and window
    mixes are learnt from all events. The window model scores only **complete** windows, those that
    started at or after the batch's first event and ended by ``now``; a window still filling up, or cut
    at the start of the batch, would look anomalous for having too few events.
    """
    if not isinstance(events, pd.DataFrame):
        raise InvalidInput(f"scan_recent takes an events DataFrame, got {type(events).__name__}")
    missing = [c for c in ("ts", "service", "template_id") if c not in events.columns]
    if missing:
        raise InvalidInput(f"recent events lack column(s) {', '.join(missing)}")
    frame = events[[c for c in EVENT_COLUMNS if c in events.columns]]
    frame = frame.assign(ts=_naive_utc(frame["ts"]))
    frame = frame[frame["ts"].notna()].sort_values("ts", kind="stable")  # each model's own sort is then cheap
    if "level" not in frame.columns:
        frame = frame.assign(level=None)
    services = _volumes(frame)
    if patterns is not None:
        templates, cascades = patterns.summarise(frame)
    else:
        templates, cascades = pd.DataFrame(columns=list(TEMPLATE_COLUMNS)), []
    services = services.join(_pattern_columns(templates, cascades), how="left")
    services = services.join(_window_columns(frame, windows, now), how="left")
    warnings: list[EarlyWarning] = []
    if forecaster is not None and len(frame):
        warnings = forecaster.warnings_from_events(frame)
    eta = pd.DataFrame([(w.service, float(w.eta_windows), w.threshold) for w in warnings],
                       columns=["service", "warning_eta_windows", "warning_threshold"]).set_index("service")
    services = services.join(eta, how="left").reset_index()
    for column in ("n_new", "n_rare", "n_burst", "n_recurring", "windows_scored"):
        services[column] = services[column].fillna(0).astype("int64")
    services["in_cascade"] = services["in_cascade"].astype("boolean").fillna(False).astype(bool)
    services["anomalous"] = services["anomalous"].astype("boolean").fillna(False).astype(bool)
    services["pattern_score"] = services["pattern_score"].fillna(0.0)
    return RecentScan(templates.reset_index(drop=True), services[list(SERVICE_COLUMNS)], tuple(cascades),
                      tuple(warnings), dict(versions or {}))


def _naive_utc(ts: pd.Series) -> pd.Series:
    """Timestamps as naive UTC, as the store keeps them and the models learnt them (aware ones converted)."""
    try:
        out = pd.to_datetime(ts, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"recent events: column ts holds values that are not timestamps ({exc})") from None
    return out.dt.tz_localize(None)


def _volumes(frame: pd.DataFrame) -> pd.DataFrame:
    from triage.features.windows import error_mask

    errors = error_mask(frame["level"]) if len(frame) else np.zeros(0, dtype=bool)
    grouped = frame.assign(error=errors).groupby(frame["service"].astype(str), sort=True)
    out = grouped.agg(n_events=("error", "size"), n_errors=("error", "sum"))
    out.index.name = "service"
    out["n_errors"] = out["n_errors"].astype("int64")
    out["error_rate"] = out["n_errors"] / out["n_events"].clip(lower=1)
    return out


def _pattern_columns(templates: pd.DataFrame, cascades: list[PatternFinding]) -> pd.DataFrame:
    columns = ["n_new", "n_rare", "n_burst", "n_recurring", "pattern_score", "in_cascade"]
    if templates.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="service"))
    grouped = templates.groupby("service", sort=True)
    out = pd.DataFrame({
        "n_new": grouped["new"].sum(), "n_rare": grouped["rare"].sum(), "n_burst": grouped["burst"].sum(),
        "n_recurring": grouped["recurring"].sum(), "pattern_score": grouped["score"].max(),
    })  # fmt: skip
    chained = {s for c in cascades for s in c.services}
    out["in_cascade"] = out.index.isin(list(chained))
    return out


def _window_columns(frame: pd.DataFrame, windows: SessionModel | None, now: Any) -> pd.DataFrame:
    columns = ["anomaly_score", "anomalous", "windows_scored", "latest_window", "latest_score"]
    empty = pd.DataFrame(columns=columns, index=pd.Index([], name="service"))
    if windows is None or frame.empty:
        return empty
    session = windows.session
    if session is None or session.key.value != "time_window" or tuple(session.partition_by) != ("service",):
        raise InvalidInput("the window model must cut sessions by (service, time window)")
    length = pd.Timedelta(session.window)
    end = _naive_utc(pd.Series([now]))[0] if now is not None else frame["ts"].max()
    start = frame["ts"].min()
    starts = frame["ts"].dt.floor(length)
    complete = (starts >= start) & (starts + length <= end)
    scored = windows.score_events(frame[complete.to_numpy()])
    if scored.empty:
        return empty
    scored = scored.assign(service=[s[0] if len(s) else "" for s in scored["services"]],
                           window_start=scored["start"].dt.floor(length))  # fmt: skip
    grouped = scored.sort_values("window_start", kind="stable").groupby("service", sort=True)
    out = pd.DataFrame({
        "anomaly_score": grouped["score"].max(), "anomalous": grouped["anomalous"].any(),
        "windows_scored": grouped.size(), "latest_window": grouped["window_start"].last(),
        "latest_score": grouped["score"].last(),
    })  # fmt: skip
    out.index.name = "service"
    return out

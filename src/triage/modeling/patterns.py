"""Pattern recognition over the event stream: new, rare, bursting and recurring templates, and cascades.

:class:`TemplatePatternDetector` learns, from a history of events (the store's events frame), how often
each (service, template) occurs per time window, and then reports :class:`PatternFinding` records for a
new batch of events:

* ``new`` — the template has never been seen for this service (the detail says if another service
  logged it);
* ``rare`` — seen before, but so seldom that occurring in one window is improbable: under a Poisson
  model with the template's historical rate ``λ`` per window, ``P(N ≥ 1) = 1 - e^-λ < rare_alpha``;
* ``burst`` — the window's count ``c`` is at least ``min_burst_count`` and improbable under the
  template's historical rate: Poisson upper tail ``P(N ≥ c | λ) < burst_alpha``;
* ``recurring`` — the template occurred in at least ``min_episodes`` separate episodes in history
  (runs of windows separated by at least ``episode_gap`` without it): a known, returning problem; the
  detail gives the episode count, the last time, and the period when the gaps are regular;
* ``cascade`` — abnormal templates (new/rare/burst, error-level when levels are known) start in one
  service and then in others, each onset within ``cascade_lag`` of the previous one; the finding names
  the origin service and the chain in onset order.

Thresholds are probabilities under the history's own rates (``alpha`` values), not counts tuned to a
dataset. ``λ`` is smoothed (``(count + 0.5) / (windows + 1)``) so that a template seen once in a short
history is not treated as impossible.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import poisson
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from triage.errors import InvalidInput
from triage.features.windows import (
    ERROR_LEVELS,
    WINDOW_TEMPLATE_COUNTS,
    as_window,
    error_mask,
    normalise_events,
)
from triage.modeling.anomaly import TrainedModel
from triage.modeling.specs import InsufficientData, ModelSpec, TrainingInputs, model_config

PATTERNS_VERSION = "template-patterns/v1"
#: For ``skops.io.load(..., trusted=SKOPS_TRUSTED_TYPES)``: a fitted TemplatePatternDetector holds only this class,
#: dicts, lists, numbers and strings.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (f"{__name__}.TemplatePatternDetector",)


class PatternKind(StrEnum):
    NEW = "new"
    RARE = "rare"
    BURST = "burst"
    RECURRING = "recurring"
    CASCADE = "cascade"


@dataclass(frozen=True, slots=True)
class PatternFinding:
    """One pattern seen in a batch of events. ``score`` grows with how unusual it is (``-log10 p`` for
    rare/burst, episodes for recurring, services for cascade, 0 for new)."""

    kind: PatternKind
    service: str  # for a cascade: the origin
    template_id: str | None  # None for a cascade
    window_start: pd.Timestamp
    count: int
    expected: float  # the historical mean count per window (0 for new templates)
    score: float
    detail: str
    services: tuple[str, ...] = ()  # a cascade's services in onset order

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        out["window_start"] = self.window_start.isoformat() if pd.notna(self.window_start) else None
        return out


_NEG_LOG_FLOOR = 1e-300


class TemplatePatternDetector(BaseEstimator):
    """Learns per-(service, template) window rates from history; :meth:`detect` reports findings."""

    def __init__(
        self,
        window: str | timedelta = "1min",
        rare_alpha: float = 0.01,
        burst_alpha: float = 1e-4,
        min_burst_count: int = 5,
        episode_gap: str | timedelta = "1h",
        min_episodes: int = 3,
        cascade_lag: str | timedelta = "5min",
        error_levels: Iterable[str] = tuple(sorted(ERROR_LEVELS)),
    ) -> None:
        self.window = window
        self.rare_alpha = rare_alpha
        self.burst_alpha = burst_alpha
        self.min_burst_count = min_burst_count
        self.episode_gap = episode_gap
        self.min_episodes = min_episodes
        self.cascade_lag = cascade_lag
        self.error_levels = error_levels

    # ---------------------------------------------------------------------------------------- fit
    def fit(self, events: pd.DataFrame, y: Any = None) -> TemplatePatternDetector:
        for name in ("rare_alpha", "burst_alpha"):
            value = getattr(self, name)
            if not 0.0 < float(value) < 1.0:
                raise InvalidInput(f"{name} must be in (0, 1), got {value!r}")
        step = as_window(self.window)
        gap = as_window(self.episode_gap)
        df = normalise_events(events, need=("template_id", "ts"))
        df = df[df["ts"].notna()]
        if df.empty:
            raise InvalidInput("no timestamped events to learn template patterns from")
        df = df.assign(window_start=df["ts"].dt.floor(step))
        first, last = df["window_start"].min(), df["window_start"].max()
        # Each service's rates are over its own span: sources logged in different periods (or a service
        # added last week) must not dilute each other's rates with windows they were not logging in.
        spans = df.groupby("service", sort=True)["window_start"].agg(["min", "max"])
        self.n_windows_by_service_ = {str(service): int((row["max"] - row["min"]) / step) + 1
                                      for service, row in spans.iterrows()}
        self.n_windows_ = max(self.n_windows_by_service_.values())  # the longest service history
        self.history_start_ = first.isoformat()
        self.history_end_ = (last + step).isoformat()
        counts = df.groupby(["service", "template_id", "window_start"], sort=True).size()
        # Plain dicts of numbers and strings (no DataFrames): the fitted detector serialises with skops as
        # well as pickle. (Scoring builds a lookup table from them once per fitted detector.)
        stats: dict[str, dict[str, dict[str, Any]]] = {}
        for (service, template), windows in counts.groupby(level=["service", "template_id"], sort=True):
            starts = windows.index.get_level_values("window_start").to_numpy()
            n_episodes, period = _episodes(starts, gap, step)
            total = int(windows.sum())
            stats.setdefault(str(service), {})[str(template)] = {
                "count": total,
                "n_windows_present": len(windows),
                "episodes": n_episodes,
                "period_s": float("nan") if pd.isna(period) else float(period.total_seconds()),
                "last_seen": (pd.Timestamp(starts.max()) + step).isoformat(),
                "rate": (total + 0.5) / (self.n_windows_by_service_[str(service)] + 1),
            }
        self.stats_ = stats
        services_by_template: dict[str, list[str]] = {}
        for service, templates in stats.items():
            for template in templates:
                services_by_template.setdefault(template, []).append(service)
        self.services_by_template_ = {t: sorted(s) for t, s in services_by_template.items()}
        return self

    def stats_frame(self) -> pd.DataFrame:
        """The learnt per-(service, template) statistics as a DataFrame (for notebooks)."""
        check_is_fitted(self, "stats_")
        rows = [{"service": s, "template_id": t, **v} for s, ts in self.stats_.items() for t, v in ts.items()]
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame["period"] = pd.to_timedelta(frame.pop("period_s"), unit="s")
            frame["last_seen"] = pd.to_datetime(frame["last_seen"])
        return frame.set_index(["service", "template_id"]) if not frame.empty else frame

    # ------------------------------------------------------------------------------------- detect
    def _lookup(self) -> pd.DataFrame:
        """The learnt statistics as a table indexed by (service, template_id), built once per fit."""
        cached = _LOOKUPS.get(self)
        if cached is not None and cached[0] is self.stats_:
            return cached[1]
        rows = [(s, t, float(v["rate"]), float(v["count"]), int(v["episodes"]), float(v["period_s"]),
                 v["last_seen"], float(self.n_windows_by_service_.get(s, self.n_windows_)))
                for s, ts in self.stats_.items() for t, v in ts.items()]  # fmt: skip
        table = pd.DataFrame(rows, columns=["service", "template_id", "rate", "hist_count", "episodes", "period_s",
                                            "last_seen", "hist_windows"]).set_index(["service", "template_id"])
        _LOOKUPS[self] = (self.stats_, table)
        return table

    def window_table(self, events: pd.DataFrame) -> pd.DataFrame:
        """One row per (service, template_id, window_start) of ``events`` with its count, error count and
        what it is: ``new``, ``rare``, ``burst``, ``recurring`` flags, ``expected`` (historical mean per
        window), ``p_rare``/``p_burst`` and ``score`` (``-log10`` of the smallest p of a rare/burst flag).
        Vectorised: this is what :meth:`detect` and :meth:`summarise` are built on."""
        check_is_fitted(self, "stats_")
        step = as_window(self.window)
        df = normalise_events(events, need=("template_id", "ts"))
        df = df[df["ts"].notna()]
        columns = ["service", "template_id", "window_start", "count", "errors", "new", "rare", "burst", "recurring",
                   "abnormal", "expected", "p_rare", "p_burst", "score", "episodes", "period_s", "last_seen",
                   "hist_count", "hist_windows"]  # fmt: skip
        if df.empty:
            return pd.DataFrame(columns=columns)
        has_level = "level" in df.columns
        df = df.assign(window_start=df["ts"].dt.floor(step),
                       is_error=error_mask(df["level"], self.error_levels) if has_level else True)
        table = (df.groupby(["service", "template_id", "window_start"], sort=True)
                 .agg(count=("is_error", "size"), errors=("is_error", "sum")).reset_index())  # fmt: skip
        table = table.join(self._lookup(), on=["service", "template_id"])
        count = table["count"].to_numpy(dtype=np.float64)
        rate = table["rate"].to_numpy(dtype=np.float64)
        known = ~np.isnan(rate)
        safe_rate = np.where(known, rate, 1.0)
        p_rare = np.where(known, -np.expm1(-safe_rate), np.nan)
        tail = known & (count >= self.min_burst_count)
        p_burst = np.full(len(table), np.nan)
        p_burst[tail] = poisson.sf(count[tail] - 1, safe_rate[tail])
        table["new"] = ~known
        table["rare"] = known & (p_rare < self.rare_alpha)
        table["burst"] = tail & (p_burst < self.burst_alpha)
        table["recurring"] = known & (table["episodes"].fillna(0).to_numpy() >= self.min_episodes)
        table["abnormal"] = table["new"] | table["rare"] | table["burst"]
        if not has_level:  # without levels every abnormal template counts for cascades
            table["errors"] = table["count"]
        table["expected"] = np.where(known, table["hist_count"] / table["hist_windows"], 0.0)
        table["p_rare"], table["p_burst"] = p_rare, p_burst
        smallest = np.fmin(np.where(table["rare"], p_rare, np.nan), np.where(table["burst"], p_burst, np.nan))
        table["score"] = np.where(np.isnan(smallest), 0.0, -np.log10(np.maximum(smallest, _NEG_LOG_FLOOR)))
        return table[columns]

    def detect(self, events: pd.DataFrame) -> list[PatternFinding]:
        """Findings for a batch of events, ordered by window, kind and service."""
        table = self.window_table(events)
        if table.empty:
            return []
        findings: list[PatternFinding] = []
        flagged = table[table["abnormal"] | table["recurring"]]
        first_of_pair = ~flagged.duplicated(["service", "template_id"])  # table is sorted by window
        for row, first in zip(flagged.itertuples(index=False), first_of_pair.to_numpy(), strict=True):
            service, template, start, count = str(row.service), str(row.template_id), row.window_start, int(row.count)
            if row.new:
                others = [s for s in self.services_by_template_.get(template, []) if s != service]
                detail = f"template {template} never seen in {service}"
                detail += f" (seen in {', '.join(others[:3])})" if others else " (nor in any service)"
                findings.append(PatternFinding(PatternKind.NEW, service, template, start, count, 0.0, 0.0, detail))
                continue
            expected = float(row.expected)
            if row.rare:
                findings.append(PatternFinding(
                    PatternKind.RARE, service, template, start, count, expected, _neglog(row.p_rare),
                    f"template {template} seen {int(row.hist_count)} times in {int(row.hist_windows)} windows of "
                    "history"))  # fmt: skip
            if row.burst:
                findings.append(PatternFinding(
                    PatternKind.BURST, service, template, start, count, expected, _neglog(row.p_burst),
                    f"{count} events of template {template} in one window; history averages {expected:.2f}"))
            if row.recurring and first:
                detail = (f"template {template} returned in {int(row.episodes)} separate episodes, last ending "
                          f"{row.last_seen}")
                if not np.isnan(row.period_s):
                    detail += f"; roughly every {pd.Timedelta(seconds=row.period_s)}"
                findings.append(PatternFinding(PatternKind.RECURRING, service, template, start, count, expected,
                                               float(row.episodes), detail))  # fmt: skip
        findings.extend(self._cascades(_onsets(table)))
        order = {k: i for i, k in enumerate(PatternKind)}
        findings.sort(key=lambda f: (f.window_start, order[f.kind], f.service, f.template_id or ""))
        return findings

    def summarise(self, events: pd.DataFrame) -> tuple[pd.DataFrame, list[PatternFinding]]:
        """Per (service, template_id) of ``events``: ``count``, ``errors``, ``windows``, the flags
        (``new``/``rare``/``burst``/``recurring`` in any window, ``in_cascade``), ``kinds`` (the flags as one
        comma-separated string), ``score`` (largest window score), ``max_count``, ``expected``,
        ``episodes``, ``first_window``/``last_window``; and the cascade findings. The cheap path for a
        scorer that looks at recent events every few seconds."""
        table = self.window_table(events)
        columns = ["service", "template_id", "count", "errors", "windows", "new", "rare", "burst", "recurring",
                   "in_cascade", "kinds", "score", "max_count", "expected", "episodes", "first_window",
                   "last_window"]  # fmt: skip
        if table.empty:
            return pd.DataFrame(columns=columns), []
        cascades = self._cascades(_onsets(table))
        summary = table.groupby(["service", "template_id"], sort=True).agg(
            count=("count", "sum"), errors=("errors", "sum"), windows=("count", "size"), new=("new", "any"),
            rare=("rare", "any"), burst=("burst", "any"), recurring=("recurring", "any"), score=("score", "max"),
            max_count=("count", "max"), expected=("expected", "max"), episodes=("episodes", "max"),
            first_window=("window_start", "min"), last_window=("window_start", "max"),
        ).reset_index()  # fmt: skip
        summary["episodes"] = summary["episodes"].fillna(0).astype("int64")
        in_chain = {s for c in cascades for s in c.services}
        abnormal = summary["new"] | summary["rare"] | summary["burst"]
        summary["in_cascade"] = abnormal & summary["service"].isin(in_chain)
        flags = summary[["new", "rare", "burst", "recurring", "in_cascade"]].to_numpy()
        names = ("new", "rare", "burst", "recurring", "cascade")
        summary["kinds"] = [",".join(n for n, on in zip(names, row, strict=True) if on) for row in flags]
        return summary[columns], cascades

    def detect_frame(self, events: pd.DataFrame) -> pd.DataFrame:
        """:meth:`detect` as a DataFrame (one row per finding), for notebooks and the store."""
        rows = [f.as_dict() for f in self.detect(events)]
        columns = ["kind", "service", "template_id", "window_start", "count", "expected", "score", "detail",
                   "services"]
        return pd.DataFrame(rows, columns=columns)

    def _cascades(self, onsets: dict[str, pd.Timestamp]) -> list[PatternFinding]:
        if len(onsets) < 2:
            return []
        lag = as_window(self.cascade_lag)
        ordered = sorted(onsets.items(), key=lambda kv: (kv[1], kv[0]))
        chains: list[list[tuple[str, pd.Timestamp]]] = [[ordered[0]]]
        for service, start in ordered[1:]:
            if start - chains[-1][-1][1] <= lag:
                chains[-1].append((service, start))
            else:
                chains.append([(service, start)])
        out = []
        for chain in chains:
            if len(chain) < 2:
                continue
            names = tuple(s for s, _ in chain)
            span = chain[-1][1] - chain[0][1]
            detail = f"abnormal templates spread from {names[0]} to {len(names) - 1} more service(s) in {span}: "
            detail += " -> ".join(names)
            out.append(PatternFinding(PatternKind.CASCADE, names[0], None, chain[0][1], len(names), 0.0,
                                      float(len(names)), detail, names))
        return out


def _neglog(p: float) -> float:
    return float(-np.log10(max(p, _NEG_LOG_FLOOR)))


def _onsets(table: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """First window per service with an abnormal template that includes error events (a cascade's links)."""
    starts = table.loc[table["abnormal"] & (table["errors"] > 0)].groupby("service")["window_start"].min()
    return {str(service): start for service, start in starts.items()}


#: Lookup tables of fitted detectors (kept outside the estimator so pickles/skops files hold only its dicts).
_LOOKUPS: weakref.WeakKeyDictionary[TemplatePatternDetector, tuple[Any, pd.DataFrame]] = weakref.WeakKeyDictionary()


def _episodes(windows: np.ndarray, gap: pd.Timedelta, step: pd.Timedelta) -> tuple[int, Any]:
    """Number of runs of windows separated by at least ``gap`` of silence, and their median period
    when there are 3+ episodes whose start-to-start gaps vary by less than 25 % (else NaT)."""
    times = np.sort(pd.to_datetime(windows).to_numpy())
    if times.size == 0:
        return 0, pd.NaT
    silence = np.diff(times) - np.timedelta64(step)
    breaks = np.flatnonzero(silence >= np.timedelta64(gap))
    starts = np.concatenate([times[:1], times[breaks + 1]])
    n = int(starts.size)
    if n >= 3:
        gaps = np.diff(starts).astype("timedelta64[s]").astype(np.float64)
        if gaps.mean() > 0 and gaps.std() / gaps.mean() < 0.25:
            return n, pd.Timedelta(seconds=float(np.median(gaps)))
    return n, pd.NaT


class PatternConfig(BaseModel):
    """Run parameters of the pattern detector (validated; logged by the pipeline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str = "1min"
    rare_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    burst_alpha: float = Field(default=1e-4, gt=0.0, lt=1.0)
    min_burst_count: int = Field(default=5, ge=1)
    episode_gap: str = "1h"
    min_episodes: int = Field(default=3, ge=2)
    cascade_lag: str = "5min"
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Latest share of each service's time replayed.")


MODEL_NAME = "template-patterns"
#: Part labels of a pattern evaluation frame (see :func:`pattern_eval_frame`).
HISTORY, HOLDOUT, INJECTED = "history", "holdout", "injected"
#: Injected anomalies sit this long after a service's last held-back event: in a window of their own for
#: any detector window up to a day.
_INJECT_AFTER = pd.Timedelta(days=1)


def split_by_service(frame: pd.DataFrame, holdout: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, recent): per service, the events after ``end - (end - start) * holdout`` of that service's
    own span are recent (services logged in different periods each keep their own recent part)."""
    bounds = frame.groupby("service")["ts"].agg(["min", "max"])
    cut = (bounds["max"] - (bounds["max"] - bounds["min"]) * holdout).rename("cut")
    recent = (frame["ts"] > frame["service"].map(cut)).to_numpy()
    return frame[~recent], frame[recent]


def pattern_eval_frame(history: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """The held-back evaluation frame of the pattern detector: ``ts`` (to the second), ``service``,
    ``level``, ``template_id``, ``part`` (history / holdout / injected) and ``count``.

    Besides the real events it holds two injected anomalies per service that has both parts, a day after
    the service's last event: a **burst** of its most frequent historical template (3x the most it ever
    logged in one hour, at least 20, at most 10,000, in one second) and one ERROR event of a template the
    service never logged. Both are anomalies by construction for any window up to an hour, which gives a
    recall; the real held-back windows give a specificity (treated as normal)."""
    parts = []
    for part, events in ((HISTORY, history), (HOLDOUT, recent)):
        level = events["level"] if "level" in events.columns else pd.Series("", index=events.index)
        parts.append(pd.DataFrame({"ts": events["ts"].dt.floor("s"), "service": events["service"].astype(str),
                                   "level": level.fillna("").astype(str), "template_id": events["template_id"],
                                   "part": part}))  # fmt: skip
    injected = []
    ends = recent.groupby("service")["ts"].max()
    for service, part in history.groupby("service", sort=True):
        if service not in ends.index:
            continue
        hourly = part.groupby([part["template_id"], part["ts"].dt.floor("1h")]).size()
        top = part["template_id"].value_counts().index[0]
        burst = int(min(10_000, max(20, 3 * hourly.loc[top].max())))
        at = (ends[service] + _INJECT_AFTER).floor("s")
        injected.append((at, service, "INFO", str(top), INJECTED, burst))
        injected.append((at, service, "ERROR", f"injected-new:{service}", INJECTED, 1))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.groupby(["ts", "service", "level", "template_id", "part"], sort=True).size()
    frame = frame.rename("count").reset_index()
    extra = pd.DataFrame(injected, columns=["ts", "service", "level", "template_id", "part", "count"])
    out = pd.concat([frame, extra.astype({"ts": frame["ts"].dtype})], ignore_index=True) if injected else frame
    out["count"] = out["count"].astype("int64")
    return out


def evaluate_pattern_detector(estimator: TemplatePatternDetector, frame: pd.DataFrame) -> dict[str, float]:
    """Refit a clone of ``estimator`` (its parameters) on the frame's history and flag the rest:
    ``eval_recall`` = share of injected (service, template, window) groups flagged new/rare/burst,
    ``eval_specificity`` = share of real held-back groups *not* flagged, ``eval_balanced_accuracy`` their
    mean. Refitting makes the comparison fair: the served detector learnt from every event, held-back
    ones included, so scoring it as fitted would grade it on what it has seen."""
    missing = {"ts", "service", "template_id", "part", "count"} - set(frame.columns)
    if missing:
        raise InvalidInput(f"a pattern evaluation frame needs column(s) {', '.join(sorted(missing))}")
    events = frame.loc[frame.index.repeat(frame["count"].astype("int64"))].drop(columns=["count"])
    history, recent = events[events["part"] == HISTORY], events[events["part"] != HISTORY]
    if history.empty or recent.empty:
        raise InvalidInput("a pattern evaluation frame needs history and held-back events")
    model = clone(estimator).fit(history)
    table = model.window_table(recent)
    step = as_window(model.window)
    injected = recent[recent["part"] == INJECTED]
    marks = set(zip(injected["service"].astype(str), injected["ts"].dt.floor(step), strict=True))
    is_injected = np.array([(s, w) in marks for s, w in zip(table["service"], table["window_start"], strict=True)],
                           dtype=bool)  # fmt: skip
    flagged = table["abnormal"].to_numpy(dtype=bool)
    recall = float(flagged[is_injected].mean()) if is_injected.any() else float("nan")
    specificity = float(1.0 - flagged[~is_injected].mean()) if (~is_injected).any() else float("nan")
    balanced = float(np.nanmean([recall, specificity])) if not (np.isnan(recall) and np.isnan(specificity)) else 0.0
    return {"eval_recall": recall, "eval_specificity": specificity, "eval_balanced_accuracy": balanced,
            "eval_injected_groups": float(is_injected.sum()), "eval_real_groups": float((~is_injected).sum())}


def score_pattern_detector(estimator: TemplatePatternDetector, frame: pd.DataFrame) -> float:
    """Balanced accuracy on a pattern evaluation frame (see :func:`evaluate_pattern_detector`): what
    promotion compares."""
    return evaluate_pattern_detector(estimator, frame)["eval_balanced_accuracy"]


def build_pattern_detector(events: pd.DataFrame, config: PatternConfig | None = None) -> TrainedModel:
    """Fit the pattern detector on ``events``; report what it finds on the latest ``holdout`` share of each
    service's time when fitted on the rest (findings per kind and per 1,000 windows: a noise measure on
    normal data) and its balanced accuracy on that share plus injected anomalies
    (:func:`evaluate_pattern_detector`). The returned estimator is fitted on all events; its held-back
    frame is :func:`pattern_eval_frame`."""
    config = config or PatternConfig()
    params = config.model_dump(exclude={"holdout"})
    frame = normalise_events(events, need=("template_id", "ts"))
    frame = frame[frame["ts"].notna()]
    if frame.empty:
        raise InsufficientData("no timestamped events to learn template patterns from")
    metrics: dict[str, float] = {"n_events": float(len(frame)), "n_services": float(frame["service"].nunique()),
                                 "n_templates": float(frame["template_id"].nunique())}
    history, recent = split_by_service(frame, config.holdout)
    eval_frame = pd.DataFrame()
    if config.holdout > 0 and len(history) and len(recent):
        findings = TemplatePatternDetector(**params).fit(history).detect(recent)
        step = as_window(config.window)
        spans = recent.groupby("service")["ts"].agg(["min", "max"])
        windows = max(1, sum(int((b - a) / step) + 1 for a, b in zip(spans["min"], spans["max"], strict=True)))
        for kind in PatternKind:
            n = sum(f.kind is kind for f in findings)
            metrics[f"holdout_{kind.value}"] = float(n)
            metrics[f"holdout_{kind.value}_per_1000_windows"] = 1000.0 * n / windows
        eval_frame = pattern_eval_frame(history, recent)
    final = TemplatePatternDetector(**params).fit(frame)
    metrics["n_windows"] = float(final.n_windows_)
    if len(eval_frame):
        metrics.update(evaluate_pattern_detector(final, eval_frame))
    return TrainedModel(final, metrics, {**params, "model_version": PATTERNS_VERSION},
                        f"{WINDOW_TEMPLATE_COUNTS.tag} {config.window}", len(frame), eval_frame)


def _build_for_pipeline(inputs: TrainingInputs) -> TrainedModel:
    return build_pattern_detector(inputs.events, model_config(PatternConfig, MODEL_NAME, inputs.params))


MODEL_SPECS = (
    ModelSpec(
        name=MODEL_NAME,
        description="New, rare, bursting and recurring templates per service, and cascades across services.",
        build=_build_for_pipeline,
        score=score_pattern_detector,
        primary_metric="eval_balanced_accuracy",
    ),
)

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

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import poisson
from sklearn.base import BaseEstimator
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
        self.n_windows_ = int((last - first) / step) + 1
        self.history_start_ = first.isoformat()
        self.history_end_ = (last + step).isoformat()
        counts = df.groupby(["service", "template_id", "window_start"], sort=True).size()
        # Plain dicts of numbers and strings (no DataFrames): fast lookups when scoring, and the fitted
        # detector serialises with skops as well as pickle.
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
                "rate": (total + 0.5) / (self.n_windows_ + 1),
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
    def detect(self, events: pd.DataFrame) -> list[PatternFinding]:
        """Findings for a batch of events, ordered by window, kind and service."""
        check_is_fitted(self, "stats_")
        step = as_window(self.window)
        df = normalise_events(events, need=("template_id", "ts"))
        df = df[df["ts"].notna()]
        if df.empty:
            return []
        has_level = "level" in df.columns
        df = df.assign(window_start=df["ts"].dt.floor(step),
                       is_error=error_mask(df["level"], self.error_levels) if has_level else True)
        grouped = df.groupby(["service", "template_id", "window_start"], sort=True).agg(
            count=("is_error", "size"), errors=("is_error", "sum"))
        findings: list[PatternFinding] = []
        seen_recurring: set[tuple[str, str]] = set()
        onsets: dict[str, pd.Timestamp] = {}
        for (service, template, start), row in grouped.iterrows():
            count = int(row["count"])
            key = (service, template)
            abnormal = False
            stat = self.stats_.get(service, {}).get(template)
            if stat is None:
                others = [s for s in self.services_by_template_.get(template, []) if s != service]
                detail = f"template {template} never seen in {service}"
                detail += f" (seen in {', '.join(others[:3])})" if others else " (nor in any service)"
                findings.append(PatternFinding(PatternKind.NEW, service, template, start, count, 0.0, 0.0, detail))
                abnormal = True
            else:
                rate = float(stat["rate"])
                expected = float(stat["count"]) / self.n_windows_
                p_any = -np.expm1(-rate)
                if p_any < self.rare_alpha:
                    findings.append(PatternFinding(
                        PatternKind.RARE, service, template, start, count, expected, _neglog(p_any),
                        f"template {template} seen {int(stat['count'])} times in {self.n_windows_} windows of history"))
                    abnormal = True
                if count >= self.min_burst_count:
                    p_tail = float(poisson.sf(count - 1, rate))
                    if p_tail < self.burst_alpha:
                        findings.append(PatternFinding(
                            PatternKind.BURST, service, template, start, count, expected, _neglog(p_tail),
                            f"{count} events of template {template} in one window; history averages {expected:.2f}"))
                        abnormal = True
                episodes = int(stat["episodes"])
                if episodes >= self.min_episodes and key not in seen_recurring:
                    seen_recurring.add(key)
                    detail = (f"template {template} returned in {episodes} separate episodes, last ending "
                              f"{stat['last_seen']}")
                    if not np.isnan(stat["period_s"]):
                        detail += f"; roughly every {pd.Timedelta(seconds=stat['period_s'])}"
                    findings.append(PatternFinding(PatternKind.RECURRING, service, template, start, count,
                                                   expected, float(episodes), detail))
            if abnormal and (not has_level or int(row["errors"]) > 0):
                onsets[service] = min(onsets.get(service, start), start)
        findings.extend(self._cascades(onsets))
        order = {k: i for i, k in enumerate(PatternKind)}
        findings.sort(key=lambda f: (f.window_start, order[f.kind], f.service, f.template_id or ""))
        return findings

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
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0, description="Latest share of time replayed.")


def build_pattern_detector(events: pd.DataFrame, config: PatternConfig | None = None) -> TrainedModel:
    """Fit the pattern detector on ``events``; report what it finds on the latest ``holdout`` share of time
    when fitted on the rest (findings per kind and per 1,000 windows: a noise measure on normal data).
    The returned estimator is fitted on all events."""
    config = config or PatternConfig()
    params = config.model_dump(exclude={"holdout"})
    frame = normalise_events(events, need=("template_id", "ts"))
    frame = frame[frame["ts"].notna()]
    if frame.empty:
        raise InvalidInput("no timestamped events to learn template patterns from")
    metrics: dict[str, float] = {"n_events": float(len(frame)), "n_services": float(frame["service"].nunique()),
                                 "n_templates": float(frame["template_id"].nunique())}
    start, end = frame["ts"].min(), frame["ts"].max()
    cut = end - (end - start) * config.holdout
    history, recent = frame[frame["ts"] <= cut], frame[frame["ts"] > cut]
    if config.holdout > 0 and len(history) and len(recent):
        findings = TemplatePatternDetector(**params).fit(history).detect(recent)
        windows = max(1, int((end - cut) / as_window(config.window)))
        for kind in PatternKind:
            n = sum(f.kind is kind for f in findings)
            metrics[f"holdout_{kind.value}"] = float(n)
            metrics[f"holdout_{kind.value}_per_1000_windows"] = 1000.0 * n / windows
    final = TemplatePatternDetector(**params).fit(frame)
    metrics["n_windows"] = float(final.n_windows_)
    return TrainedModel(final, metrics, {**params, "model_version": PATTERNS_VERSION},
                        f"{WINDOW_TEMPLATE_COUNTS.tag} {config.window}", len(frame))

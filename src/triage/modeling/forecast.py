"""Early warning: forecast each service's error rate and flag a rising trend before it crosses a threshold.

Input is the :data:`~triage.features.windows.WINDOW_ERROR_RATES` view (``window_start, service,
n_events, n_errors, error_rate`` on a complete grid). :class:`ErrorRateForecaster`:

* ``fit(history)`` learns, per service, the alert **threshold** (``threshold`` if given, else the
  larger of ``threshold_floor`` and the ``threshold_quantile`` of the service's historical error rate
  over windows that had events) and the noise level σ of the series (the MAD of its first differences,
  scaled to a standard deviation), for prediction bands;
* ``forecast(recent, horizon)`` fits a robust straight line (Theil–Sen: the median of pairwise slopes)
  to each service's last ``lookback`` windows and extrapolates it ``horizon`` windows with a ±z·σ·√h band;
* ``warnings(recent)`` returns an :class:`EarlyWarning` for each service whose fitted current value is
  still *below* its threshold but whose line reaches it within ``horizon`` windows, **and** whose rise is
  a trend, not noise: the Mann–Kendall test over the same windows is one-sided significant at
  ``trend_alpha``. The warning says how many windows are left (``eta_windows``).

Nothing here is tuned to a dataset: the threshold comes from the service's own history or the
operator, and the trend test is a distribution-free significance test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from triage.errors import InvalidInput
from triage.features.windows import WINDOW_ERROR_RATES, error_rates
from triage.modeling.anomaly import TrainedModel
from triage.modeling.specs import InsufficientData, ModelSpec, TrainingInputs, model_config

FORECAST_VERSION = "error-rate-forecast/v1"
#: For ``skops.io.load(..., trusted=SKOPS_TRUSTED_TYPES)``: a fitted ErrorRateForecaster holds only this class,
#: dicts, lists, numbers and strings.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (f"{__name__}.ErrorRateForecaster",)


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    """A service whose error rate is rising towards its threshold."""

    service: str
    window_start: pd.Timestamp  # the last observed window
    current: float  # the fitted trend line's value at the last window
    forecast: float  # forecast at the horizon
    threshold: float
    eta_windows: int  # windows until the forecast reaches the threshold (1 = the next window)
    slope: float  # trend per window
    trend_p_value: float  # Mann-Kendall, one-sided (rising)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        return out


def theil_sen(values: np.ndarray) -> tuple[float, float]:
    """Robust line through ``values`` at x = 0..n-1: (value of the line at the last x, slope per step)."""
    n = values.size
    if n == 0:
        return 0.0, 0.0
    if n == 1:
        return float(values[0]), 0.0
    i, j = np.triu_indices(n, k=1)
    slope = float(np.median((values[j] - values[i]) / (j - i)))
    x = np.arange(n)
    intercept = float(np.median(values - slope * x))
    return intercept + slope * (n - 1), slope


def noise_sigma(values: np.ndarray) -> float:
    """Noise level of a series from its first differences (MAD-based, robust to steps and spikes)."""
    if values.size < 3:
        return 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    sigma = mad / 0.6745 / np.sqrt(2.0)
    return float(sigma) if sigma > 0 else float(np.std(diffs) / np.sqrt(2.0))


def mann_kendall(values: np.ndarray) -> tuple[float, float]:
    """Mann–Kendall statistic S and the one-sided p-value for an increasing trend (normal approximation
    with tie correction and continuity correction). Returns (S, 1.0) for fewer than 3 values."""
    n = values.size
    if n < 3:
        return 0.0, 1.0
    diff = np.sign(values[None, :] - values[:, None])
    s = float(np.triu(diff, k=1).sum())
    _, ties = np.unique(values, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18.0
    if var <= 0:
        return s, 1.0
    z = (s - 1) / np.sqrt(var) if s > 0 else ((s + 1) / np.sqrt(var) if s < 0 else 0.0)
    return s, float(norm.sf(z))


class ErrorRateForecaster(BaseEstimator):
    """Per-service robust-trend forecast of the error rate with trend-tested early warnings (see module doc)."""

    def __init__(
        self,
        horizon: int = 6,
        lookback: int = 12,
        trend_alpha: float = 0.01,
        threshold: float | None = None,
        threshold_quantile: float = 0.99,
        threshold_floor: float = 0.05,
        interval_z: float = 1.96,
        value: str = "error_rate",
        window: str = "5min",
    ) -> None:
        self.window = window
        self.horizon = horizon
        self.lookback = lookback
        self.trend_alpha = trend_alpha
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.threshold_floor = threshold_floor
        self.interval_z = interval_z
        self.value = value

    def _check_params(self) -> None:
        if int(self.horizon) < 1 or int(self.lookback) < 3:
            raise InvalidInput("horizon must be >= 1 and lookback >= 3")
        if not 0.0 < float(self.trend_alpha) < 0.5:
            raise InvalidInput("trend_alpha must be in (0, 0.5)")
        if self.value not in ("error_rate", "n_errors"):
            raise InvalidInput("value must be error_rate or n_errors")

    def _series(self, rates: pd.DataFrame) -> dict[str, pd.DataFrame]:
        WINDOW_ERROR_RATES.validate(rates)
        ordered = rates.sort_values(["service", "window_start"], kind="stable")
        return {str(s): g.reset_index(drop=True) for s, g in ordered.groupby("service", sort=True)}

    def fit(self, history: pd.DataFrame, y: Any = None) -> ErrorRateForecaster:
        self._check_params()
        series = self._series(history)
        if not series:
            raise InvalidInput("no error-rate history to learn from (empty frame)")
        self.thresholds_: dict[str, float] = {}
        self.sigma_: dict[str, float] = {}
        for service, frame in series.items():
            values = frame[self.value].to_numpy(dtype=np.float64)
            active = values[frame["n_events"].to_numpy() > 0] if self.value == "error_rate" else values
            if self.threshold is not None:
                limit = float(self.threshold)
            else:
                learnt = float(np.quantile(active, self.threshold_quantile)) if active.size else 0.0
                limit = max(float(self.threshold_floor), learnt)
            self.thresholds_[service] = limit
            self.sigma_[service] = noise_sigma(values)
        return self

    def threshold_for(self, service: str) -> float:
        """The service's threshold; a service unseen in history gets ``threshold`` or the floor."""
        check_is_fitted(self, "thresholds_")
        default = float(self.threshold) if self.threshold is not None else float(self.threshold_floor)
        return self.thresholds_.get(service, default)

    def forecast(self, recent: pd.DataFrame, horizon: int | None = None) -> pd.DataFrame:
        """Forecast rows ``service, step, window_start, forecast, lower, upper, threshold`` per service."""
        check_is_fitted(self, "thresholds_")
        steps = int(horizon or self.horizon)
        rows = []
        for service, frame in self._series(recent).items():
            values = frame[self.value].to_numpy(dtype=np.float64)[-int(self.lookback):]
            level, trend = theil_sen(values)
            sigma = self.sigma_.get(service) or noise_sigma(values)
            last = pd.Timestamp(frame["window_start"].iloc[-1])
            step_len = _step(frame["window_start"])
            for h in range(1, steps + 1):
                centre = level + h * trend
                band = float(self.interval_z) * sigma * np.sqrt(h)
                rows.append((service, h, last + h * step_len, centre, centre - band, centre + band,
                             self.threshold_for(service)))
        return pd.DataFrame(rows, columns=["service", "step", "window_start", "forecast", "lower", "upper",
                                           "threshold"])

    def warnings(self, recent: pd.DataFrame) -> list[EarlyWarning]:
        """Early warnings for services trending up towards, but not yet at, their threshold."""
        check_is_fitted(self, "thresholds_")
        out = []
        for service, frame in self._series(recent).items():
            values = frame[self.value].to_numpy(dtype=np.float64)
            warning = self._warning(service, values, pd.Timestamp(frame["window_start"].iloc[-1]))
            if warning is not None:
                out.append(warning)
        return sorted(out, key=lambda w: (w.eta_windows, w.service))

    def _warning(self, service: str, values: np.ndarray, last: pd.Timestamp) -> EarlyWarning | None:
        if values.size < 3:
            return None
        window = values[-int(self.lookback):]
        level, trend = theil_sen(window)
        limit = self.threshold_for(service)
        if level >= limit or trend <= 0:
            return None  # already crossed (that is an alert, not a warning) or not rising
        eta = int(np.ceil((limit - level) / trend))
        if eta > int(self.horizon):
            return None
        _, p_value = mann_kendall(window)
        if p_value >= float(self.trend_alpha):
            return None
        return EarlyWarning(service, last, float(level), float(level + int(self.horizon) * trend), float(limit),
                            max(1, eta), float(trend), float(p_value))

    def rates_of(self, events: pd.DataFrame) -> pd.DataFrame:
        """The error-rate series of ``events`` at this model's ``window`` (each service over its own span)."""
        return error_rates(events, window=self.window, span="service")

    def warnings_from_events(self, events: pd.DataFrame) -> list[EarlyWarning]:
        """:meth:`warnings` for raw events (the ``ts, service, level`` columns suffice)."""
        rates = self.rates_of(events)
        return self.warnings(rates) if len(rates) else []

    def forecast_errors(self, rates: pd.DataFrame, *, start: int | Mapping[str, int] = 0) -> dict[str, float]:
        """How far the forecasts land from what happened, replaying each service's series: from every
        origin ``t`` (the window before ``start`` onwards) the trend line over the ``lookback`` windows up
        to ``t`` forecasts ``t + 1 .. t + horizon``; ``mae`` is the mean absolute error over those
        forecasts whose target window exists. ``naive_mae`` scores the last observed value as the forecast
        (the baseline). ``start`` is an index into each service's series, or one per service."""
        check_is_fitted(self, "thresholds_")
        horizon, lookback = int(self.horizon), int(self.lookback)
        errors: list[np.ndarray] = []
        naive: list[np.ndarray] = []
        for service, frame in self._series(rates).items():
            values = frame[self.value].to_numpy(dtype=np.float64)
            origins = np.arange(max(_start_of(start, service, len(values)) - 1, 0), len(values) - 1)
            if not origins.size:
                continue
            level, trend = _trend_lines(values, origins, lookback)
            for h in range(1, horizon + 1):
                ok = origins + h < len(values)
                actual = values[origins[ok] + h]
                errors.append(np.abs(level[ok] + h * trend[ok] - actual))
                naive.append(np.abs(values[origins[ok]] - actual))
        if not errors:
            return {"mae": float("nan"), "naive_mae": float("nan"), "n_forecasts": 0.0}
        flat = np.concatenate(errors)
        return {"mae": float(flat.mean()), "naive_mae": float(np.concatenate(naive).mean()),
                "n_forecasts": float(flat.size)}

    def _warned_at(self, values: np.ndarray, origins: np.ndarray, limit: float) -> list[int]:
        """The origins ``t`` at which :meth:`_warning` fires on ``values[: t + 1]`` (same rule; the trend
        lines are computed for all origins at once and the trend test only for the candidates)."""
        if not origins.size:
            return []
        level, trend = _trend_lines(values, origins, int(self.lookback))
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.ceil((limit - level) / trend)
        candidates = (level < limit) & (trend > 0) & (eta <= int(self.horizon))
        out = []
        for t in origins[candidates]:
            _, p_value = mann_kendall(values[max(0, t - int(self.lookback) + 1) : t + 1])
            if p_value < float(self.trend_alpha):
                out.append(int(t))
        return out

    def backtest(self, rates: pd.DataFrame, *, start: int | Mapping[str, int] = 0) -> dict[str, float]:
        """Replay ``rates`` window by window from index ``start`` of each service's series (one index, or
        one per service) and score the warnings against what happened: an upward **crossing** is a window
        at or above the threshold after one below it; it was *warned* if a warning came 1..``horizon``
        windows before it. A warning with no crossing in the ``horizon`` windows after it is a false
        warning. ``lead_windows`` averages, over warned crossings, how early the first warning came."""
        check_is_fitted(self, "thresholds_")
        horizon = int(self.horizon)
        crossings = warned = warnings = false_warnings = 0
        leads: list[int] = []
        for service, frame in self._series(rates).items():
            values = frame[self.value].to_numpy(dtype=np.float64)
            limit = self.threshold_for(service)
            begin = max(_start_of(start, service, len(values)), 3)
            warned_at = self._warned_at(values, np.arange(begin, len(values)), limit)
            crossed_at = [t for t in range(max(begin, 1), len(values)) if values[t] >= limit > values[t - 1]]
            crossings += len(crossed_at)
            warnings += len(warned_at)
            false_warnings += sum(not any(w < c <= w + horizon for c in crossed_at) for w in warned_at)
            for c in crossed_at:
                early = [w for w in warned_at if c - horizon <= w < c]
                if early:
                    warned += 1
                    leads.append(c - min(early))
        return {
            "crossings": float(crossings),
            "crossings_warned": float(warned),
            "warned_share": warned / crossings if crossings else float("nan"),
            "warnings": float(warnings),
            "false_warnings": float(false_warnings),
            "lead_windows": float(np.mean(leads)) if leads else float("nan"),
        }


class ForecastConfig(BaseModel):
    """Run parameters of the error-rate forecaster (validated; logged by the pipeline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: str = "5min"
    horizon: int = Field(default=6, ge=1)
    lookback: int = Field(default=12, ge=3)
    trend_alpha: float = Field(default=0.01, gt=0.0, lt=0.5)
    threshold: float | None = Field(default=None, ge=0.0)
    threshold_quantile: float = Field(default=0.99, gt=0.0, le=1.0)
    threshold_floor: float = Field(default=0.05, ge=0.0)
    holdout: float = Field(default=0.3, ge=0.0, lt=1.0,
                           description="Latest share of each service's windows replayed.")


def _trend_lines(values: np.ndarray, origins: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`theil_sen` over ``values[t - lookback + 1 : t + 1]`` for every origin ``t``, vectorised for the
    origins with a full window (the same arithmetic), looped for the few at the start of a series."""
    level = np.empty(origins.size)
    trend = np.empty(origins.size)
    full = origins >= lookback - 1
    if full.any():
        windows = np.lib.stride_tricks.sliding_window_view(values, lookback)[origins[full] - lookback + 1]
        i, j = np.triu_indices(lookback, k=1)
        slope = np.median((windows[:, j] - windows[:, i]) / (j - i), axis=1)
        intercept = np.median(windows - slope[:, None] * np.arange(lookback), axis=1)
        level[full], trend[full] = intercept + slope * (lookback - 1), slope
    for k in np.flatnonzero(~full):
        level[k], trend[k] = theil_sen(values[: origins[k] + 1])
    return level, trend


def holdout_starts(rates: pd.DataFrame, holdout: float) -> dict[str, int]:
    """Per service, the index of its first held-back window: the latest ``holdout`` share of *its own*
    series (services logged in different periods each keep their own recent part)."""
    sizes = rates.groupby("service", sort=True).size()
    return {str(s): int(n - round(n * holdout)) for s, n in sizes.items()}


def _start_of(start: int | Mapping[str, int], service: str, n: int) -> int:
    if isinstance(start, Mapping):
        return int(start.get(service, n))  # a service with no held-back part is not replayed
    return int(start)


def build_error_rate_forecaster(events: pd.DataFrame, config: ForecastConfig | None = None) -> TrainedModel:
    """Fit the forecaster on the error-rate view of ``events`` and backtest it on each service's latest
    windows.

    The series is per service over its own span (:func:`~triage.features.windows.error_rates` with
    ``span="service"``). Thresholds and noise levels are learnt from each service's windows before its
    held-out share; the backtest replays the held-out windows (with the ``lookback`` before them as
    context) for warnings and for forecast error (``backtest_mae``, against the last-value baseline
    ``backtest_naive_mae``). The returned estimator is refitted on every window, ready to serve; its
    held-back frame is the whole rate view with a ``holdout`` column, so promotion replays challenger and
    champion on the same windows (:func:`score_error_rate_forecaster`).
    """
    config = config or ForecastConfig()
    rates = error_rates(events, window=config.window, span="service")
    if rates.empty:
        raise InsufficientData("no timestamped events with a level: nothing to forecast")
    params = config.model_dump(exclude={"holdout"})
    starts = holdout_starts(rates, config.holdout)
    metrics: dict[str, float] = {"n_services": float(rates["service"].nunique()),
                                 "n_windows": float(rates["window_start"].nunique()),
                                 "n_rows": float(len(rates))}  # fmt: skip
    ordered = rates.sort_values(["service", "window_start"], kind="stable").reset_index(drop=True)
    position = ordered.groupby("service", sort=True).cumcount().to_numpy()
    held = position >= ordered["service"].map(starts).to_numpy()
    if held.any() and (~held).any():
        model = ErrorRateForecaster(**params).fit(ordered[~held])
        for key, value in model.backtest(ordered, start=starts).items():
            metrics[f"backtest_{key}"] = value
    final = ErrorRateForecaster(**params).fit(rates)
    for key, value in final.forecast_errors(ordered, start=starts).items():
        metrics[f"backtest_{key}"] = value
    metrics["mean_threshold"] = float(np.mean(list(final.thresholds_.values())))
    frame = ordered.assign(holdout=held)
    return TrainedModel(final, metrics, {**params, "model_version": FORECAST_VERSION},
                        f"{WINDOW_ERROR_RATES.tag} {config.window}", len(rates), frame)


def score_error_rate_forecaster(estimator: ErrorRateForecaster, frame: pd.DataFrame) -> float:
    """Mean absolute forecast error over the held-back windows of ``frame`` (lower is better): what
    promotion compares. ``frame`` is a builder's held-back frame (the rate view plus ``holdout``)."""
    if "holdout" not in frame.columns:
        raise InvalidInput("a forecaster evaluation frame needs a 'holdout' column")
    ordered = frame.sort_values(["service", "window_start"], kind="stable").reset_index(drop=True)
    position = ordered.groupby("service", sort=True).cumcount()
    held = ordered["holdout"].astype(bool)
    starts = {str(s): int(p.min()) for s, p in position[held].groupby(ordered.loc[held, "service"])}
    rates = ordered.drop(columns=["holdout"])
    return estimator.forecast_errors(rates, start={s: starts.get(s, n) for s, n in
                                                   rates.groupby("service").size().items()})["mae"]


MODEL_NAME = "error-rate-forecaster"


def _build_for_pipeline(inputs: TrainingInputs) -> TrainedModel:
    return build_error_rate_forecaster(inputs.events, model_config(ForecastConfig, MODEL_NAME, inputs.params))


MODEL_SPECS = (
    ModelSpec(
        name=MODEL_NAME,
        description="Early warning: per-service error-rate trend forecast, warns before a threshold is crossed.",
        build=_build_for_pipeline,
        score=score_error_rate_forecaster,
        primary_metric="backtest_mae",
        greater_is_better=False,
    ),
)


def _step(starts: pd.Series) -> pd.Timedelta:
    if len(starts) < 2:
        return pd.Timedelta(minutes=1)
    diffs = pd.Series(pd.to_datetime(starts)).diff().dropna()
    return pd.Timedelta(diffs.min())

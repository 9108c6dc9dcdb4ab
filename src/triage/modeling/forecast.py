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
    ) -> None:
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

    def backtest(self, rates: pd.DataFrame, *, start: int = 0) -> dict[str, float]:
        """Replay ``rates`` window by window from index ``start`` of each service's series and score the
        warnings against what happened: an upward **crossing** is a window at or above the threshold after
        one below it; it was *warned* if a warning came 1..``horizon`` windows before it. A warning with no
        crossing in the ``horizon`` windows after it is a false warning. ``lead_windows`` averages, over
        warned crossings, how early the first warning came."""
        check_is_fitted(self, "thresholds_")
        horizon = int(self.horizon)
        crossings = warned = warnings = false_warnings = 0
        leads: list[int] = []
        for service, frame in self._series(rates).items():
            values = frame[self.value].to_numpy(dtype=np.float64)
            limit = self.threshold_for(service)
            begin = max(int(start), 3)
            warned_at = [t for t in range(begin, len(values))
                         if self._warning(service, values[: t + 1], pd.Timestamp(frame["window_start"].iloc[t]))]
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
    holdout: float = Field(default=0.3, ge=0.0, lt=1.0, description="Latest share of windows replayed.")


def build_error_rate_forecaster(events: pd.DataFrame, config: ForecastConfig | None = None) -> TrainedModel:
    """Fit the forecaster on the error-rate view of ``events`` and backtest it on the latest windows.

    The thresholds and noise levels are learnt from the windows before the held-out share; the backtest
    replays the held-out windows (with the ``lookback`` before them as context). The returned estimator
    is refitted on every window, ready to serve.
    """
    config = config or ForecastConfig()
    rates = error_rates(events, window=config.window)
    if rates.empty:
        raise InvalidInput("no timestamped events with a level: nothing to forecast")
    params = config.model_dump(exclude={"holdout", "window"})
    windows = np.sort(rates["window_start"].unique())
    cut = len(windows) - round(len(windows) * config.holdout)
    metrics: dict[str, float] = {"n_services": float(rates["service"].nunique()), "n_windows": float(len(windows))}
    if 0 < cut < len(windows):
        history = rates[rates["window_start"] < windows[cut]]
        model = ErrorRateForecaster(**params).fit(history)
        for key, value in model.backtest(rates, start=cut).items():
            metrics[f"backtest_{key}"] = value
    final = ErrorRateForecaster(**params).fit(rates)
    metrics["mean_threshold"] = float(np.mean(list(final.thresholds_.values())))
    return TrainedModel(final, metrics, {**params, "window": config.window, "model_version": FORECAST_VERSION},
                        f"{WINDOW_ERROR_RATES.tag} {config.window}", len(windows))


def _step(starts: pd.Series) -> pd.Timedelta:
    if len(starts) < 2:
        return pd.Timedelta(minutes=1)
    diffs = pd.Series(pd.to_datetime(starts)).diff().dropna()
    return pd.Timedelta(diffs.min())

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.features.windows import error_rates
from triage.modeling.forecast import ErrorRateForecaster, mann_kendall, noise_sigma, theil_sen

T0 = pd.Timestamp("2024-05-01")


def rates_frame(series: dict[str, np.ndarray], events_per_window: int = 200) -> pd.DataFrame:
    """A WINDOW_ERROR_RATES frame with the given error-rate series per service (one-minute windows)."""
    rows = []
    for service, values in series.items():
        for i, rate in enumerate(values):
            errors = round(float(rate) * events_per_window)
            rows.append((T0 + pd.Timedelta(minutes=i), service, events_per_window, errors, errors / events_per_window))
    frame = pd.DataFrame(rows, columns=["window_start", "service", "n_events", "n_errors", "error_rate"])
    frame["n_events"] = frame["n_events"].astype("int64")
    frame["n_errors"] = frame["n_errors"].astype("int64")
    return frame


def noisy(n: int, level: float, seed: int, sd: float = 0.004) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(level, sd, n), 0, 1)


def test_rising_service_is_warned_before_it_crosses() -> None:
    flat = noisy(180, 0.01, seed=1)
    rise = 0.01 + 0.003 * np.arange(1, 31) + np.random.default_rng(3).normal(0, 0.002, 30)
    ramp = np.r_[noisy(150, 0.01, seed=2), rise]
    model = ErrorRateForecaster(threshold=0.08, horizon=10).fit(rates_frame({"api": flat, "db": flat}))
    crossed_at = int(np.argmax(ramp >= 0.08))
    assert crossed_at > 150
    warned_at = None
    for end in range(150, 180):
        recent = rates_frame({"api": flat[:end], "db": ramp[:end]})
        warnings = model.warnings(recent)
        assert all(w.service == "db" for w in warnings)  # the flat service never warns
        if warnings and warned_at is None:
            warned_at = end - 1
            w = warnings[0]
            assert w.current < w.threshold <= w.forecast and 1 <= w.eta_windows <= 10
            assert w.slope > 0 and w.trend_p_value < 0.01
    assert warned_at is not None and warned_at < crossed_at - 3  # warned well before the crossing


def test_noise_alone_does_not_warn() -> None:
    model = ErrorRateForecaster().fit(rates_frame({f"s{i}": noisy(120, 0.02, seed=i) for i in range(5)}))
    false_alarms = 0
    for end in range(20, 120, 5):
        recent = rates_frame({f"s{i}": noisy(120, 0.02, seed=100 + i)[:end] for i in range(5)})
        false_alarms += len(model.warnings(recent))
    assert false_alarms <= 1  # 100 checks at trend_alpha 0.01


def test_thresholds_from_history_and_floor() -> None:
    history = rates_frame({"api": noisy(200, 0.10, seed=4, sd=0.01), "db": noisy(200, 0.001, seed=5, sd=0.0005)})
    model = ErrorRateForecaster().fit(history)
    assert model.thresholds_["api"] == pytest.approx(np.quantile(history.loc[history.service == "api", "error_rate"], 0.99))
    assert model.thresholds_["db"] == 0.05  # quiet service: the floor
    assert model.threshold_for("new-service") == 0.05
    assert ErrorRateForecaster(threshold=0.2).fit(history).threshold_for("api") == 0.2


def test_already_above_threshold_is_not_an_early_warning() -> None:
    model = ErrorRateForecaster(threshold=0.05).fit(rates_frame({"api": noisy(60, 0.01, seed=6)}))
    high = rates_frame({"api": np.linspace(0.06, 0.2, 20)})
    assert model.warnings(high) == []


def test_forecast_frame() -> None:
    model = ErrorRateForecaster(horizon=3).fit(rates_frame({"api": noisy(60, 0.01, seed=8)}))
    out = model.forecast(rates_frame({"api": np.linspace(0.0, 0.11, 12)}))
    assert list(out["step"]) == [1, 2, 3]
    assert out["window_start"].iloc[0] == T0 + pd.Timedelta(minutes=12)
    assert out["forecast"].tolist() == pytest.approx([0.12, 0.13, 0.14], abs=1e-9)
    assert (out["lower"] <= out["forecast"]).all() and (out["forecast"] <= out["upper"]).all()


def test_works_on_the_error_rates_view() -> None:
    rng = np.random.default_rng(9)
    rows = []
    for minute in range(40):
        p = 0.01 if minute < 25 else 0.01 + 0.01 * (minute - 24)
        for second in range(100):
            level = "ERROR" if rng.random() < p else "INFO"
            rows.append((T0 + pd.Timedelta(minutes=minute, seconds=second * 0.5), "pay", "T", level))
    events = pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])
    rates = error_rates(events, window="1min")
    model = ErrorRateForecaster(threshold=0.2, horizon=12).fit(rates.iloc[:20])
    warnings = model.warnings(rates.iloc[:36])
    assert [w.service for w in warnings] == ["pay"]
    assert warnings[0].current < 0.2 and warnings[0].eta_windows <= 12


def test_helpers() -> None:
    level, slope = theil_sen(np.array([1.0, 2.0, 3.0, 40.0, 5.0]))
    assert slope == pytest.approx(1.0) and level == pytest.approx(5.0)  # the outlier does not move it
    assert mann_kendall(np.arange(10.0))[1] < 0.001
    assert mann_kendall(np.arange(10.0)[::-1])[1] > 0.99
    assert mann_kendall(np.ones(10)) == (0.0, 1.0)  # no variation: no evidence of a trend
    assert noise_sigma(np.full(10, 0.3)) == 0.0
    assert noise_sigma(np.random.default_rng(0).normal(0, 1, 2000)) == pytest.approx(1.0, rel=0.1)


def test_bad_input() -> None:
    empty = rates_frame({}).astype({"window_start": "datetime64[ns]"})
    with pytest.raises(InvalidInput, match="empty"):
        ErrorRateForecaster().fit(empty)
    with pytest.raises(InvalidInput, match="horizon"):
        ErrorRateForecaster(horizon=0).fit(rates_frame({"a": np.zeros(5)}))
    with pytest.raises(InvalidInput, match="value"):
        ErrorRateForecaster(value="latency").fit(rates_frame({"a": np.zeros(5)}))
    with pytest.raises(InvalidInput, match="missing column"):
        ErrorRateForecaster().fit(pd.DataFrame({"service": ["a"]}))


def test_backtest_counts_warned_crossings_and_false_warnings() -> None:
    flat = noisy(100, 0.01, seed=11)
    ramp = np.r_[noisy(60, 0.01, seed=12), 0.01 + 0.004 * np.arange(1, 41)]  # crosses 0.08 once
    model = ErrorRateForecaster(threshold=0.08, horizon=8).fit(rates_frame({"a": flat, "b": flat}))
    result = model.backtest(rates_frame({"a": flat, "b": ramp}), start=40)
    assert result["crossings"] == 1 and result["crossings_warned"] == 1 and result["warned_share"] == 1.0
    assert 1 <= result["lead_windows"] <= 8
    assert result["false_warnings"] <= result["warnings"] and result["warnings"] >= 1


def test_build_error_rate_forecaster_from_events() -> None:
    from triage.modeling.forecast import ForecastConfig, build_error_rate_forecaster

    rng = np.random.default_rng(13)
    rows = []
    for minute in range(120):
        for service in ("api", "db"):
            p = 0.01 if service == "api" or minute < 90 else 0.01 + 0.01 * (minute - 89)
            for second in range(0, 60, 2):
                rows.append((T0 + pd.Timedelta(minutes=minute, seconds=second), service, "T",
                             "ERROR" if rng.random() < p else "INFO"))
    events = pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])
    trained = build_error_rate_forecaster(events, ForecastConfig(window="1min", threshold=0.2, horizon=10))
    assert trained.metrics["n_services"] == 2 and trained.metrics["n_windows"] == 120
    assert trained.metrics["backtest_crossings"] >= 1
    assert trained.metrics["backtest_crossings_warned"] >= 1
    assert trained.feature_view == "window_error_rates/v1 1min"
    assert trained.estimator.threshold_for("db") == 0.2
    with pytest.raises(InvalidInput, match="nothing to forecast"):
        build_error_rate_forecaster(events.assign(ts=pd.NaT))


def test_fitted_forecaster_serialises_with_skops(tmp_path) -> None:
    import skops.io as sio

    from triage.modeling.forecast import SKOPS_TRUSTED_TYPES

    model = ErrorRateForecaster(threshold=0.08).fit(rates_frame({"a": noisy(60, 0.01, seed=20)}))
    sio.dump(model, tmp_path / "f.skops")
    assert sio.get_untrusted_types(file=tmp_path / "f.skops") == list(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(tmp_path / "f.skops", trusted=list(SKOPS_TRUSTED_TYPES))
    recent = rates_frame({"a": np.r_[noisy(40, 0.01, seed=21), 0.01 + 0.005 * np.arange(1, 11)]})
    assert len(model.warnings(recent)) == 1
    assert loaded.warnings(recent) == model.warnings(recent) and loaded.thresholds_ == model.thresholds_


def test_forecast_errors_replay_the_trend_line_against_what_happened() -> None:
    trend = 0.01 + 0.001 * np.arange(60)  # a steady rise: the trend line forecasts it exactly
    series = rates_frame({"a": trend}, events_per_window=1000)
    model = ErrorRateForecaster(horizon=3, lookback=6).fit(series)
    exact = model.forecast_errors(series, start=40)
    assert exact["n_forecasts"] == 3 * 18 + 2 + 1  # origins 39..58, horizons cut at the end of the series
    assert exact["mae"] == pytest.approx(0.0, abs=1e-9)
    assert exact["naive_mae"] == pytest.approx(0.001 * (18 * 6 + 3 + 1) / 57)  # last value lags by 1..3 steps
    noisy_series = noisy(60, 0.02, seed=5)
    short, long = ErrorRateForecaster(lookback=3), ErrorRateForecaster(lookback=24)
    frame = rates_frame({"a": noisy_series})
    errors = {m.lookback: m.fit(frame).forecast_errors(frame, start={"a": 30})["mae"] for m in (short, long)}
    assert errors[24] < errors[3]  # on stationary noise a longer line is steadier
    assert model.forecast_errors(frame, start={"other": 3})["n_forecasts"] == 0  # a service not named: not replayed


def test_build_forecaster_on_services_years_apart_and_score_it_for_promotion() -> None:
    from triage.modeling.forecast import (
        ForecastConfig,
        build_error_rate_forecaster,
        score_error_rate_forecaster,
    )
    from triage.modeling.registry import model_spec
    from triage.modeling.specs import InsufficientData, TrainingInputs

    rng = np.random.default_rng(21)
    rows = []
    for service, start in (("old", T0), ("new", T0 + pd.Timedelta(days=3650))):  # ten years apart
        for minute in range(90):
            p = 0.02 + (0.004 * (minute - 60) if service == "new" and minute > 60 else 0.0)
            for second in range(0, 60, 3):
                rows.append((start + pd.Timedelta(minutes=minute, seconds=second), service, "T",
                             "ERROR" if rng.random() < p else "INFO"))
    events = pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])
    trained = build_error_rate_forecaster(events, ForecastConfig(window="1min", holdout=0.3))
    frame = trained.eval_sessions
    assert frame.groupby("service").size().to_dict() == {"new": 90, "old": 90}  # no grid across the decade
    assert frame.groupby("service")["holdout"].sum().to_dict() == {"new": 27, "old": 27}
    assert trained.estimator.window == "1min" and trained.metrics["backtest_n_forecasts"] > 0
    assert 0 < trained.metrics["backtest_mae"] < trained.metrics["backtest_naive_mae"] * 2
    score = score_error_rate_forecaster(trained.estimator, frame)
    assert score == pytest.approx(trained.metrics["backtest_mae"])
    jumpy = ErrorRateForecaster(lookback=3, window="1min").fit(frame.drop(columns=["holdout"]))
    assert score_error_rate_forecaster(jumpy, frame) > score  # the gate tells a worse forecaster apart
    spec = model_spec("error-rate-forecaster")
    assert spec.primary_metric == "backtest_mae" and spec.greater_is_better is False
    with pytest.raises(InsufficientData, match="nothing to forecast"):
        spec.build(TrainingInputs(events=events.assign(ts=pd.NaT), templates=pd.DataFrame()))
    with pytest.raises(InvalidInput, match="error-rate-forecaster parameter horizon"):
        spec.build(TrainingInputs(events=events, templates=pd.DataFrame(), params={"horizon": 0}))
    recent = events[events["service"] == "new"]
    assert [w.service for w in trained.estimator.warnings_from_events(recent)] in ([], ["new"])

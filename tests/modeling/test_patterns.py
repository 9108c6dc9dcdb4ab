from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from triage.errors import InvalidInput
from triage.modeling.patterns import SKOPS_TRUSTED_TYPES, PatternKind, TemplatePatternDetector

T0 = pd.Timestamp("2024-01-01")


def history(seed: int = 0, hours: int = 10) -> pd.DataFrame:
    """Two services logging template T1 ~5/min; db logs error T9 for 3 minutes every 2 hours;
    api logs T7 once."""
    rng = np.random.default_rng(seed)
    rows = []
    for minute in range(hours * 60):
        for service in ("api", "db"):
            for _ in range(rng.poisson(5)):
                rows.append((T0 + pd.Timedelta(minutes=minute, seconds=int(rng.integers(60))), service, "T1", "INFO"))
        if minute % 120 < 3:
            rows.append((T0 + pd.Timedelta(minutes=minute, seconds=1), "db", "T9", "ERROR"))
        if minute == 300:
            rows.append((T0 + pd.Timedelta(minutes=minute), "api", "T7", "WARN"))
    return pd.DataFrame(rows, columns=["ts", "service", "template_id", "level"])


@pytest.fixture(scope="module")
def detector() -> TemplatePatternDetector:
    return TemplatePatternDetector(window="1min").fit(history())


def batch(rows: list[tuple[float, str, str, str]], start: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame([(start + pd.Timedelta(seconds=s), svc, t, lvl) for s, svc, t, lvl in rows],
                        columns=["ts", "service", "template_id", "level"])


def test_history_statistics(detector) -> None:
    stats = detector.stats_frame()
    assert detector.n_windows_ == 600
    assert stats.loc[("db", "T9"), "episodes"] == 5
    assert stats.loc[("db", "T9"), "period"] == pd.Timedelta(hours=2)
    assert stats.loc[("api", "T1"), "episodes"] == 1  # always present: one long episode, not recurring
    assert stats.loc[("api", "T7"), "count"] == 1


def test_burst_new_rare_recurring_and_cascade(detector) -> None:
    start = T0 + pd.Timedelta(hours=11)
    rows = [(2 * i, "db", "T9", "ERROR") for i in range(20)]  # 20 in one minute: a burst of a recurring error
    rows += [(125, "api", "T8", "ERROR"), (126, "api", "T7", "ERROR"), (1, "api", "T1", "INFO")]
    findings = detector.detect(batch(rows, start))
    kinds = {(f.kind, f.service, f.template_id) for f in findings}
    assert (PatternKind.BURST, "db", "T9") in kinds
    assert (PatternKind.RECURRING, "db", "T9") in kinds
    assert (PatternKind.NEW, "api", "T8") in kinds
    assert (PatternKind.RARE, "api", "T7") in kinds
    assert not any(f.template_id == "T1" for f in findings)  # the usual template is left alone
    cascade = [f for f in findings if f.kind is PatternKind.CASCADE]
    assert len(cascade) == 1 and cascade[0].services == ("db", "api") and cascade[0].service == "db"
    burst = next(f for f in findings if f.kind is PatternKind.BURST)
    assert burst.count == 20 and burst.score > 10 and burst.expected == pytest.approx(15 / 600)
    recurring = next(f for f in findings if f.kind is PatternKind.RECURRING)
    assert "5 separate episodes" in recurring.detail and "2:00:00" in recurring.detail
    frame = detector.detect_frame(batch(rows, start))
    assert len(frame) == len(findings) and set(frame["kind"]) == {"burst", "recurring", "cascade", "new", "rare"}


def test_ordinary_traffic_raises_nothing(detector) -> None:
    quiet = history(seed=7, hours=1)
    quiet = quiet[quiet["template_id"] == "T1"].assign(ts=lambda d: d["ts"] + pd.Timedelta(hours=12))
    assert detector.detect(quiet) == []


def test_template_new_to_one_service_names_the_others(detector) -> None:
    findings = detector.detect(batch([(0, "web", "T9", "ERROR")], T0 + pd.Timedelta(hours=12)))
    new = [f for f in findings if f.kind is PatternKind.NEW]
    assert len(new) == 1 and "seen in db" in new[0].detail


def test_services_far_apart_are_not_a_cascade(detector) -> None:
    rows = [(0, "db", "T8", "ERROR"), (3600, "api", "T8", "ERROR")]
    findings = detector.detect(batch(rows, T0 + pd.Timedelta(hours=12)))
    assert not [f for f in findings if f.kind is PatternKind.CASCADE]


def test_bad_input(detector) -> None:
    with pytest.raises(InvalidInput, match="no timestamped events"):
        TemplatePatternDetector().fit(history().assign(ts=pd.NaT))
    with pytest.raises(InvalidInput, match="burst_alpha"):
        TemplatePatternDetector(burst_alpha=2).fit(history(hours=1))
    with pytest.raises(InvalidInput, match="template_id"):
        detector.detect(pd.DataFrame({"ts": [T0]}))
    assert detector.detect(batch([], T0)) == []
    assert clone(detector).get_params() == detector.get_params()


def test_fitted_detector_serialises_with_skops(detector, tmp_path) -> None:
    import skops.io as sio

    path = tmp_path / "patterns.skops"
    sio.dump(detector, path)
    assert sio.get_untrusted_types(file=path) == list(SKOPS_TRUSTED_TYPES)
    loaded = sio.load(path, trusted=list(SKOPS_TRUSTED_TYPES))
    rows = [(0, "db", "T8", "ERROR"), (60, "api", "T8", "ERROR")]
    start = T0 + pd.Timedelta(hours=12)
    assert loaded.detect(batch(rows, start)) == detector.detect(batch(rows, start))


def test_build_pattern_detector_reports_holdout_noise() -> None:
    from triage.modeling.patterns import PatternConfig, build_pattern_detector

    trained = build_pattern_detector(history(hours=9), PatternConfig(holdout=0.25))
    assert isinstance(trained.estimator, TemplatePatternDetector)
    assert trained.estimator.n_windows_ == 540  # the returned detector learnt from every event
    m = trained.metrics
    assert m["n_services"] == 2 and m["n_templates"] == 3
    assert m["holdout_burst"] == 0  # ordinary traffic: no burst
    assert m["holdout_new"] == 0  # T7 (minute 300) is in the history part
    assert m["holdout_recurring"] == 1  # T9 (4 episodes before) came back at minute 480
    assert trained.params["model_version"] == "template-patterns/v1"
    with pytest.raises(InvalidInput):
        build_pattern_detector(history(hours=1).assign(ts=pd.NaT))


def test_rates_are_per_service_span_for_sources_years_apart() -> None:
    old = history(hours=2)
    new = old.assign(ts=old["ts"] + pd.Timedelta(days=3650), service=old["service"].map({"api": "web", "db": "cache"}))
    detector = TemplatePatternDetector(window="1min").fit(pd.concat([old, new]))
    assert detector.n_windows_by_service_ == {"api": 120, "db": 120, "cache": 120, "web": 120}
    # a usual minute of each service is ordinary: one decade-long grid would have made every template rare
    usual = batch([(s, svc, "T1", "INFO") for s in range(0, 60, 12) for svc in ("api", "web")],
                  T0 + pd.Timedelta(hours=3))
    assert detector.detect(usual) == []


def test_summarise_agrees_with_detect(detector) -> None:
    start = T0 + pd.Timedelta(hours=11)
    rows = [(2 * i, "db", "T9", "ERROR") for i in range(20)]
    rows += [(125, "api", "T8", "ERROR"), (126, "api", "T7", "ERROR"), (1, "api", "T1", "INFO")]
    events = batch(rows, start)
    findings = detector.detect(events)
    summary, cascades = detector.summarise(events)
    row = summary.set_index(["service", "template_id"])
    for f in findings:
        if f.template_id is not None:
            assert bool(row.loc[(f.service, f.template_id), f.kind.value]), f
    assert row.loc[("db", "T9"), "kinds"] == "burst,recurring,cascade"
    assert row.loc[("api", "T8"), "kinds"] == "new,cascade" and row.loc[("api", "T1"), "kinds"] == ""
    burst = next(f for f in findings if f.kind is PatternKind.BURST)
    assert row.loc[("db", "T9"), "score"] == pytest.approx(burst.score)
    assert [c.services for c in cascades] == [("db", "api")]
    empty, none = detector.summarise(batch([], T0))
    assert empty.empty and none == []


def test_the_promotion_score_refits_on_history_and_counts_injected_anomalies() -> None:
    from triage.modeling.patterns import (
        INJECTED,
        PatternConfig,
        build_pattern_detector,
        score_pattern_detector,
    )
    from triage.modeling.registry import model_spec
    from triage.modeling.specs import InsufficientData, TrainingInputs, held_back_frame

    events = pd.concat([history(hours=8), history(seed=3, hours=8).assign(
        ts=lambda d: d["ts"] + pd.Timedelta(days=400), service=lambda d: d["service"] + "-eu")])  # fmt: skip
    trained = build_pattern_detector(events, PatternConfig(holdout=0.25))
    frame = held_back_frame(trained)
    injected = frame[frame["part"] == INJECTED]
    assert sorted(injected["service"].unique()) == ["api", "api-eu", "db", "db-eu"] and len(injected) == 8
    assert injected["count"].max() >= 20 and (injected["template_id"].str.startswith("injected-new:")).sum() == 4
    assert frame.loc[frame["part"] != INJECTED, "count"].sum() == len(events)
    m = trained.metrics
    assert m["eval_recall"] == 1.0 and m["eval_specificity"] > 0.9 and m["eval_injected_groups"] == 8
    assert score_pattern_detector(trained.estimator, frame) == m["eval_balanced_accuracy"]
    # a detector that flags everything is worse, one that flags nothing is worse: the gate sees both
    noisy_detector = clone(trained.estimator).set_params(rare_alpha=0.999, burst_alpha=0.999, min_burst_count=1)
    deaf = clone(trained.estimator).set_params(rare_alpha=1e-300, burst_alpha=1e-300, min_burst_count=10**9)
    assert score_pattern_detector(noisy_detector, frame) < m["eval_balanced_accuracy"]
    assert score_pattern_detector(deaf, frame) < m["eval_balanced_accuracy"]
    spec = model_spec("template-patterns")
    assert spec.primary_metric == "eval_balanced_accuracy"
    with pytest.raises(InsufficientData):
        spec.build(TrainingInputs(events=events.assign(ts=pd.NaT), templates=pd.DataFrame()))
    with pytest.raises(InvalidInput, match="needs history"):
        score_pattern_detector(trained.estimator, frame[frame["part"] == "history"])

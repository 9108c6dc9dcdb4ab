from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from triage.errors import InvalidInput
from triage.features.sessions import SessionConfig, parse_session_lines
from triage.modeling.anomaly import (
    DEFAULT_FPR,
    SKOPS_TRUSTED_TYPES,
    AnomalyModelError,
    CountVectorNovelty,
    InvariantsMiner,
    NgramNovelty,
    PCAResidual,
    SessionAnomalyDetector,
    SessionModelConfig,
    SessionVectorizer,
    binary_metrics,
    build_session_anomaly_model,
    build_supervised_session_model,
    build_window_anomaly_model,
    is_anomaly,
    make_event_alert_model,
    make_session_detector,
    make_supervised_session_model,
    parse_method,
)

# scikit-learn's estimator checks of the numeric detectors run once, in test_sklearn_api.py.


def read(fixtures_dir: Path, name: str) -> list[tuple[str, ...]]:
    with (fixtures_dir / "sessions" / name).open() as handle:
        return list(parse_session_lines(handle).sequences)


@pytest.fixture(scope="module")
def hdfs(request) -> dict[str, list[tuple[str, ...]]]:
    folder = Path(request.config.rootpath) / "tests" / "fixtures"
    return {name: read(folder, f) for name, f in
            (("train", "hdfs_train_400"), ("abnormal", "hdfs_abnormal_300"), ("normal", "hdfs_normal_300"))}


def f1_on(detector, hdfs) -> dict[str, float]:
    flags = np.r_[is_anomaly(detector, hdfs["abnormal"]), is_anomaly(detector, hdfs["normal"])]
    truth = np.r_[np.ones(len(hdfs["abnormal"]), bool), np.zeros(len(hdfs["normal"]), bool)]
    return binary_metrics(truth, flags)


# ------------------------------------------------------------------------------------------ HDFS slice
def test_default_detector_separates_hdfs_sessions(hdfs) -> None:
    detector = make_session_detector().fit(hdfs["train"])
    assert set(detector.members_) == {"count", "ngram", "pca"}
    m = f1_on(detector, hdfs)
    assert m["recall"] >= 0.97, m
    assert m["f1"] >= 0.95, m
    # 400 training sessions cannot support a 0.1 % tail: each member aims for 5/400 instead
    assert detector.effective_fpr_ == pytest.approx(3 * 5 / 400)
    assert detector.effective_fpr_ > DEFAULT_FPR
    assert detector.estimated_fpr_ <= detector.effective_fpr_  # the budget holds on the training data


@pytest.mark.parametrize("method", ["count", "new+pca", "new+invariants", "ngram"])
def test_each_method_beats_flagging_everything(hdfs, method: str) -> None:
    detector = make_session_detector(method).fit(hdfs["train"])
    m = f1_on(detector, hdfs)
    flag_all = 2 * 300 / (2 * 300 + 300)  # F1 of flagging every test session (P 0.5, R 1)
    assert m["f1"] > flag_all, (method, m)
    assert m["fp"] <= 30, (method, m)


def test_supervised_model_on_hdfs_slice(hdfs) -> None:
    half = len(hdfs["abnormal"]) // 2
    x = hdfs["train"] + hdfs["abnormal"][:half]
    y = np.r_[np.zeros(len(hdfs["train"]), int), np.ones(half, int)]
    model = make_supervised_session_model().fit(x, y)
    test = hdfs["abnormal"][half:] + hdfs["normal"]
    truth = np.r_[np.ones(len(hdfs["abnormal"]) - half, bool), np.zeros(len(hdfs["normal"]), bool)]
    m = binary_metrics(truth, model.predict(test) == 1)
    assert m["f1"] >= 0.95, m


# ------------------------------------------------------------------------------------------ members
def test_count_novelty_threshold_is_zero_when_normal_repeats() -> None:
    X = np.array([[3, 1, 0]] * 50 + [[2, 2, 0]] * 50, dtype=float)
    model = CountVectorNovelty(fpr=0.05).fit(X)
    assert model.threshold_ == 0.0
    assert model.predict(np.array([[3, 1, 0], [3, 1, 1], [4, 1, 0]])).tolist() == [1, -1, -1]


def test_count_novelty_learns_a_tolerance_from_varied_normals() -> None:
    rng = np.random.default_rng(0)
    X = rng.poisson(20, size=(300, 6)).astype(float)  # every training vector is unique
    model = CountVectorNovelty(fpr=0.05).fit(X)
    assert model.threshold_ > 0
    assert model.estimated_fpr_ <= 0.05
    fresh = rng.poisson(20, size=(2000, 6)).astype(float)
    assert is_anomaly(model, fresh).mean() < 0.15  # new normals mostly pass
    assert is_anomaly(model, fresh * 3).all()  # far-off vectors do not


def test_count_novelty_uses_a_tree_index_for_many_vectors() -> None:
    rng = np.random.default_rng(1)
    X = rng.poisson(50, size=(5000, 4)).astype(float)
    model = CountVectorNovelty().fit(X)
    assert model.index_ is not None
    brute = np.abs(np.log1p(X[:5])[:, None, :] - model.vectors_[None]).sum(axis=2).min(axis=1)
    assert np.allclose(model.anomaly_score(X[:5]), brute) and np.allclose(brute, 0)


def test_pca_residual_flags_only_off_subspace_points() -> None:
    rng = np.random.default_rng(2)
    base = rng.poisson(5, size=(400, 1)).astype(float)
    X = np.hstack([base, base, 2 * base, rng.poisson(3, size=(400, 1))])  # columns 0,1,2 move together
    model = PCAResidual(scale="none").fit(X)
    assert 1 <= model.n_components_ < 4
    on = np.array([[4.0, 4.0, 8.0, 3.0]])
    off = np.array([[4.0, 0.0, 8.0, 3.0]])  # breaks the correlation
    assert model.predict(on).tolist() == [1]
    assert model.predict(off).tolist() == [-1]
    assert model.anomaly_score(off)[0] > model.threshold_ > model.anomaly_score(on)[0]


def test_pca_fpr_cap_raises_the_threshold() -> None:
    rng = np.random.default_rng(3)
    X = rng.poisson(2, size=(500, 5)).astype(float)
    plain = PCAResidual(alpha=0.2).fit(X)
    capped = PCAResidual(alpha=0.2, fpr=0.01).fit(X)
    assert capped.threshold_ >= plain.threshold_
    assert capped.estimated_fpr_ <= 0.01


def test_invariants_found_and_violations_counted() -> None:
    rng = np.random.default_rng(4)
    opens = rng.integers(1, 5, size=300)
    writes = rng.integers(0, 4, size=300)
    X = np.column_stack([opens, opens, writes, 2 * writes, rng.integers(0, 3, size=300)]).astype(float)
    model = InvariantsMiner(fpr=0.01).fit(X)
    relations = {cols: tuple(coef) for cols, coef in model.invariants_}
    assert relations[(0, 1)] == (1.0, -1.0)  # #open == #close
    assert relations[(2, 3)] == (2.0, -1.0)  # 2 * #x == #y
    assert model.anomaly_score(np.array([[2, 1, 1, 2, 0], [2, 2, 1, 3, 0], [2, 2, 1, 2, 5]])).tolist() == [1, 1, 0]
    assert model.threshold_ == 0


def test_ngram_order_is_chosen_by_leave_one_out() -> None:
    base = [("a", "b", "c", "d")] * 20 + [("a", "c", "b", "d")] * 20
    model = NgramNovelty(fpr=0.01).fit(base)
    assert model.n_ == 10  # the two orders repeat: no n-gram is unique to one session
    varied = [tuple("ab" + "c" * k + "d") for k in range(1, 30)]  # every session distinct
    small = NgramNovelty(fpr=0.01, max_n=10).fit(varied)
    assert small.effective_fpr_ == pytest.approx(5 / 29)  # 29 sessions cannot support a 1 % tail
    rates = small.loo_fpr_by_order_
    assert rates[small.n_] <= small.effective_fpr_ < rates[small.n_ + 1]  # the largest order within budget
    assert small.n_ < 10 and all(rates[n] <= rates[n + 1] for n in range(1, small.n_))
    scores = model.anomaly_score([("a", "b", "c", "d"), ("a", "b", "d"), ("x",)])
    assert scores[0] == 0 and scores[1] > 0 and scores[2] > 0


def test_vectorizer_counts_and_unseen_column() -> None:
    vec = SessionVectorizer().fit([("10", "2", "2"), ("x",)])
    assert list(vec.vocabulary_) == ["2", "10", "x"]  # numeric ids in numeric order
    assert vec.transform([("2", "2", "new", "10")]).tolist() == [[2.0, 1.0, 0.0, 1.0]]
    assert vec.get_feature_names_out()[-1] == "unseen_templates"
    assert SessionVectorizer(unseen=False).fit([("a",)]).transform([("b",)]).shape == (1, 1)


# --------------------------------------------------------------------------------------- the model API
def test_outputs_follow_the_outlier_convention(hdfs) -> None:
    model = SessionAnomalyDetector().fit(hdfs["train"])
    sample = hdfs["abnormal"][:20] + hdfs["normal"][:20]
    decision = model.decision_function(sample)
    assert np.allclose(decision, model.score_samples(sample) - model.offset_)
    assert (model.predict(sample) == np.where(decision < 0, -1, 1)).all()
    assert model.score_one(sample[0]) == pytest.approx(model.anomaly_score(sample[:1])[0])
    scores = model.member_scores(sample)
    assert set(scores) == set(model.members_) and all(len(v) == len(sample) for v in scores.values())


def test_clone_and_pickle_round_trip(hdfs) -> None:
    model = make_session_detector("ensemble", fpr=0.02)
    assert clone(model).get_params() == model.get_params()
    model.fit(hdfs["train"])
    again = pickle.loads(pickle.dumps(model))
    sample = hdfs["abnormal"][:50]
    assert np.array_equal(again.anomaly_score(sample), model.anomaly_score(sample))


def test_fitted_models_serialise_with_skops(hdfs, tmp_path) -> None:
    import skops.io as sio

    sample = hdfs["abnormal"][:50] + hdfs["normal"][:50]
    unsupervised = make_session_detector("new+invariants+count+ngram+pca").fit(hdfs["train"])
    supervised = make_supervised_session_model().fit(hdfs["train"] + hdfs["abnormal"][:100],
                                                     [0] * len(hdfs["train"]) + [1] * 100)
    for name, model, output in (("u", unsupervised, "anomaly_score"), ("s", supervised, "predict_proba")):
        path = tmp_path / f"{name}.skops"
        sio.dump(model, path)
        assert set(sio.get_untrusted_types(file=path)) <= set(SKOPS_TRUSTED_TYPES)
        loaded = sio.load(path, trusted=list(SKOPS_TRUSTED_TYPES))
        assert np.array_equal(getattr(loaded, output)(sample), getattr(model, output)(sample))


def test_sessions_accepted_from_frames_and_arrays(hdfs) -> None:
    frame = pd.DataFrame({"sequence": hdfs["train"][:50]})
    model = SessionAnomalyDetector(members=("count",)).fit(frame)
    as_arrays = [np.asarray(s) for s in hdfs["train"][:5]]
    assert (model.predict(as_arrays) == 1).all()  # numpy arrays read back from the store work too


@pytest.mark.parametrize(
    ("make", "data", "message"),
    [
        (lambda: SessionAnomalyDetector(), [], "empty training set"),
        (lambda: SessionAnomalyDetector(), ["5 22 11"], "not a sequence"),
        (lambda: SessionAnomalyDetector(), "5 22", "expected a list"),
        (lambda: SessionAnomalyDetector(), [("5",)], "at least 2"),
        (lambda: SessionAnomalyDetector(members=("count", "magic")), [("5",), ("6",)], "unknown member"),
        (lambda: SessionAnomalyDetector(fpr=0.7), [("5",), ("6",)], "fpr"),
        (lambda: NgramNovelty(n=0), [("5",), ("6",)], "positive integer"),
        (lambda: CountVectorNovelty(scale="cube"), np.ones((3, 2)), "unknown scale"),
        (lambda: CountVectorNovelty(), np.ones((0, 2)), "0 sample"),
    ],
)
def test_bad_input_raises_a_domain_error(make, data, message: str) -> None:
    with pytest.raises(AnomalyModelError, match=message) as info:
        make().fit(data)
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)


def test_parse_method() -> None:
    assert parse_method("ensemble") == ("count", "ngram", "pca")
    assert parse_method("new + pca") == ("new", "pca")
    for bad in ("", "pca+pca", "foo", "count+"):
        if bad == "count+":
            assert parse_method(bad) == ("count",)
            continue
        with pytest.raises(AnomalyModelError):
            parse_method(bad)


# ------------------------------------------------------------------------------------ event model
def test_event_alert_model_learns_from_words_and_levels() -> None:
    normal = [("T1", "INFO", "KERNEL", f"instruction cache parity error corrected {i}") for i in range(30)]
    alerts = [("T2", "FATAL", "KERNEL", f"data TLB error interrupt at {i}") for i in range(10)]
    frame = pd.DataFrame(normal + alerts, columns=["template_id", "level", "component", "content"])
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    for classifier in ("lightgbm", "linear"):
        model = make_event_alert_model(classifier=classifier).fit(frame, y)
        unseen = pd.DataFrame([("T9", "FATAL", "KERNEL", "data TLB error interrupt again")],
                              columns=frame.columns)
        assert model.predict(frame).tolist() == y.tolist()
        assert model.predict(unseen).tolist() == [1], classifier  # a new template still carries its words
    with pytest.raises(AnomalyModelError):
        make_event_alert_model(classifier="svm")
    with pytest.raises(AnomalyModelError, match="DataFrame"):
        make_event_alert_model(classifier="linear").fit([["x"]], [0])


# ------------------------------------------------------------------------------------------ builders
def store_like_events(hdfs, n_normal: int = 200, n_abnormal: int = 40) -> tuple[pd.DataFrame, dict[str, bool]]:
    """Events as the store holds them: one row per event, block id in the content, time-ordered."""
    rows, labels = [], {}
    t0 = pd.Timestamp("2024-01-01")
    sessions = [(s, False) for s in hdfs["train"][:n_normal]] + [(s, True) for s in hdfs["abnormal"][:n_abnormal]]
    order = np.random.default_rng(5).permutation(len(sessions))
    for rank, i in enumerate(order):
        seq, bad = sessions[i]
        block = f"blk_{1000 + i}"
        labels[block] = bad
        for k, template in enumerate(seq):
            rows.append((t0 + pd.Timedelta(seconds=10 * rank + 0.1 * k), "hdfs", template, "INFO",
                         f"event {template} for {block}"))
    frame = pd.DataFrame(rows, columns=["ts", "service", "template_id", "level", "content"])
    return frame.assign(source_id="s", source="hdfs.log", line_no=range(1, len(frame) + 1)), labels


def test_build_session_model_from_store_events(hdfs) -> None:
    events, labels = store_like_events(hdfs)
    trained = build_session_anomaly_model(events, SessionModelConfig(holdout=0.3), labels=labels)
    assert isinstance(trained.estimator, SessionAnomalyDetector)
    assert trained.feature_view == "sessions/v1 block_id"
    assert trained.metrics["eval_recall"] >= 0.9 and trained.metrics["eval_f1"] >= 0.8
    assert trained.n_train == trained.metrics["n_train_sessions"] < 240 * 0.7 + 1
    assert {"count_threshold", "ngram_estimated_fpr", "pca_threshold"} <= set(trained.metrics)
    assert trained.params["model_version"] == "session-anomaly/v1"
    assert len(trained.eval_sessions) == round(240 * 0.3)
    unlabelled = build_session_anomaly_model(events)
    assert "eval_f1" not in unlabelled.metrics and 0 <= unlabelled.metrics["eval_flag_rate"] <= 1


def test_build_window_and_supervised_models(hdfs) -> None:
    events, labels = store_like_events(hdfs)
    windows = build_window_anomaly_model(events, SessionModelConfig(session={"key": "block_id", "window": "1min"}))
    assert windows.params["session_key"].startswith("time_window:0 days 00:01:00")
    supervised = build_supervised_session_model(events, labels)
    assert supervised.metrics["eval_f1"] >= 0.9
    assert supervised.params["method"] == "lightgbm"


def test_builders_refuse_too_little_data(hdfs) -> None:
    events, labels = store_like_events(hdfs, n_normal=5, n_abnormal=0)
    with pytest.raises(AnomalyModelError, match="only 5 sessions"):
        build_session_anomaly_model(events)
    with pytest.raises(AnomalyModelError, match="only 0 sessions"):
        build_session_anomaly_model(events.assign(content="no block here"))
    with pytest.raises(AnomalyModelError):
        build_supervised_session_model(events, labels)  # single class, too few


def test_binary_metrics() -> None:
    m = binary_metrics([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert binary_metrics([0, 0], [0, 0])["f1"] == 0.0
    with pytest.raises(AnomalyModelError):
        binary_metrics([1], [1, 0])


# ------------------------------------------------------------------------------- registry entries
def test_session_specs_train_on_labelled_blocks_and_score_as_promotion_does(hdfs) -> None:
    from triage.modeling.anomaly import (
        SESSION_MODEL_NAME,
        SUPERVISED_MODEL_NAME,
        SessionModel,
        session_eval_score,
    )
    from triage.modeling.registry import model_spec
    from triage.modeling.specs import InsufficientData, TrainingInputs, held_back_frame
    from triage.modeling.tracking import _tuples

    events, labels = store_like_events(hdfs)
    table = pd.DataFrame({"BlockId": list(labels), "Label": ["Anomaly" if v else "Normal" for v in labels.values()]})
    inputs = TrainingInputs(events=events, templates=pd.DataFrame(), label_tables={"blocks": table})
    for name in (SESSION_MODEL_NAME, SUPERVISED_MODEL_NAME):
        spec = model_spec(name)
        trained = spec.build(inputs)
        assert isinstance(trained.estimator, SessionModel) and spec.primary_metric == "eval_score"
        frame = _tuples(pd.read_parquet(io.BytesIO(held_back_frame(trained).to_parquet())))  # as the registry keeps it
        assert frame["label"].any() and trained.metrics["eval_score"] == trained.metrics["eval_f1"] >= 0.8
        assert spec.score(trained.estimator, frame) == pytest.approx(trained.metrics["eval_score"])
        scored = trained.estimator.score_events(events.iloc[:400])  # raw events in: the preprocessing travels
        assert {"session_id", "score", "anomalous"} <= set(scored.columns) and len(scored) > 10
    flag_all = SessionModel.of(SessionConfig(), SessionAnomalyDetector(members=("new",)).fit([("x",), ("x",)]))
    assert session_eval_score(flag_all, frame) < trained.metrics["eval_score"]  # every session flagged: low precision
    unlabelled = TrainingInputs(events=events, templates=pd.DataFrame())
    assert "eval_f1" not in model_spec(SESSION_MODEL_NAME).build(unlabelled).metrics  # specificity instead
    with pytest.raises(InsufficientData, match="needs labelled sessions"):
        model_spec(SUPERVISED_MODEL_NAME).build(unlabelled)
    with pytest.raises(InsufficientData, match="only 0 sessions"):
        model_spec(SESSION_MODEL_NAME).build(TrainingInputs(events=events.assign(content="no id"),
                                                            templates=pd.DataFrame()))  # fmt: skip
    with pytest.raises(InvalidInput, match="session-anomaly parameter fpr"):
        model_spec(SESSION_MODEL_NAME).build(TrainingInputs(events=events, templates=pd.DataFrame(),
                                                            params={"fpr": 2}))  # fmt: skip


def test_window_spec_holds_back_each_services_own_recent_windows(hdfs) -> None:
    from triage.modeling.anomaly import WINDOW_MODEL_NAME
    from triage.modeling.registry import model_spec
    from triage.modeling.specs import TrainingInputs

    events, _ = store_like_events(hdfs)
    later = events.assign(ts=events["ts"] + pd.Timedelta(days=3650), service="other")  # ten years later
    trained = model_spec(WINDOW_MODEL_NAME).build(TrainingInputs(events=pd.concat([events, later]),
                                                                 templates=pd.DataFrame()))  # fmt: skip
    held = trained.eval_sessions
    assert trained.params["session_key"] == "time_window:0 days 00:05:00:service"
    assert sorted({s[0] for s in held["services"]}) == ["hdfs", "other"]  # not just the later service
    assert 0.0 <= trained.metrics["eval_score"] <= 1.0
    assert trained.metrics["eval_score"] == pytest.approx(1.0 - trained.metrics["eval_flag_rate"])


def test_session_labels_from_tables() -> None:
    from triage.modeling.anomaly import session_labels

    tables = {"classifier": pd.DataFrame({"message": ["x"]}),
              "blocks": pd.DataFrame({"BlockId": ["blk_1", "blk_2", "blk_3"], "Label": ["Anomaly", "Normal", 1]})}
    assert session_labels(tables) == {"blk_1": True, "blk_2": False, "blk_3": True}
    assert session_labels({"classifier": tables["classifier"]}) is None
    with pytest.raises(InvalidInput, match="neither normal nor anomalous"):
        session_labels({"b": pd.DataFrame({"session_id": ["s"], "label": ["maybe"]})})
    with pytest.raises(InvalidInput, match="no labelled table named 'nope'"):
        session_labels(tables, "nope")

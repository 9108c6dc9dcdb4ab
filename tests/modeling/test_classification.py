from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from triage.errors import InvalidInput
from triage.modeling.classification import (
    MODEL_SPECS,
    CalibratedClassifier,
    ClassifierError,
    ErrorClassifier,
    ErrorClassifierConfig,
    EventFeaturizer,
    StackedClassifier,
    build_error_classifier,
    evaluate_error_classifier,
    score_error_classifier,
    text_tokens,
    train_error_classifier,
)
from triage.modeling.evaluation import calibration_summary
from triage.modeling.specs import TrainingInputs
from triage.modeling.taxonomy import DEFAULT_TAXONOMY

from .conftest import read_events


def test_tokens_are_words_not_ids() -> None:
    tokens = text_tokens("java.net.SocketTimeoutException: blk_-1608999687919862906 to 10.251.91.84:50010 userID42")
    assert {"socket", "timeout", "exception", "sockettimeoutexception", "java", "net"} <= set(tokens)
    assert not any(ch.isdigit() for t in tokens for ch in t)
    assert "blk" in tokens and "userid" not in tokens  # a word glued to digits is an id


def test_featurizer_contract() -> None:
    events = read_events()
    featurizer = EventFeaturizer(max_features=500).fit(events)
    Z = featurizer.transform(events.head(7))
    names = featurizer.get_feature_names_out()
    assert Z.shape == (7, len(names))
    assert any(n.startswith("rule:") for n in names) and "level:ERROR" in set(names)
    unseen = pd.DataFrame({"message": ["a completely new vocabulary zebra quux"], "level": ["ERROR"]})
    assert featurizer.transform(unseen).shape == (1, len(names))  # unknown words and missing columns are fine
    with pytest.raises(InvalidInput):
        EventFeaturizer().fit(pd.DataFrame({"message": []}))


def test_trained_classifier_predicts_categories_with_confidences(trained_classifier, labelled_examples) -> None:
    model = trained_classifier.estimator
    sample = labelled_examples.sample(50, random_state=0)
    out = model.predict_frame(sample)
    assert list(out.columns) == ["category", "category_confidence", "severity", "severity_confidence"]
    assert out.index.equals(sample.index)
    assert set(out["category"]) <= set(DEFAULT_TAXONOMY.names)
    assert out["severity"].isin(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).all()
    proba = model.predict_proba(sample)
    assert proba.shape == (50, len(model.classes_)) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.allclose(out["category_confidence"], proba.max(axis=1))
    # generalises by words: messages of systems that are not in the training data
    unseen = pd.DataFrame({"message": ["dial tcp 10.0.0.7:5432: connect: connection refused",
                                       "write /var/lib/app/data.db: no space left on device",
                                       "Failed password for invalid user oracle from 203.0.113.9 port 4242 ssh2"],
                           "level": ["ERROR", "ERROR", "WARN"], "service": ["billing", "ehr-store", "bastion"]})  # fmt: skip
    assert model.predict(unseen).tolist() == ["NETWORK", "RESOURCE_EXHAUSTION", "SECURITY"]


def test_training_reports_both_models_on_a_chronological_holdout(trained_classifier, labelled_examples) -> None:
    metrics = trained_classifier.metrics
    for key in ("macro_f1", "baseline_macro_f1", "severity_macro_f1", "ece", "classwise_ece", "macro_f1.bgl"):
        assert 0.0 <= metrics[key] <= 1.0, key
    held = trained_classifier.eval_frame
    assert len(held) == metrics["n_eval"] and (held["label_source"] != "seed").all()
    assert trained_classifier.baseline is not None and trained_classifier.baseline.model == "linear"
    for dataset, part in held.groupby("dataset"):
        # the held-back rows are the latest rows of their dataset
        times = np.sort(labelled_examples.loc[labelled_examples["dataset"] == dataset, "ts"].to_numpy())
        assert (np.sort(part["ts"].to_numpy()) == times[-len(part):]).all(), dataset
    assert score_error_classifier(trained_classifier.estimator, held) == pytest.approx(metrics["macro_f1"])


def test_pickle_round_trip_predicts_the_same(trained_classifier, labelled_examples) -> None:
    model = trained_classifier.estimator
    again = pickle.loads(pickle.dumps(model))
    sample = labelled_examples.head(40)
    assert np.allclose(again.predict_proba(sample), model.predict_proba(sample))


def test_a_model_saved_before_stacking_loads_with_its_parameters(trained_classifier, labelled_examples) -> None:
    model = trained_classifier.estimator
    state = dict(model.__getstate__())  # a copy: on Python 3.11+ this is the instance's own __dict__
    del state["stacking"], state["extra_trees"]  # what a model pickled before those parameters holds
    old = ErrorClassifier.__new__(ErrorClassifier)
    old.__setstate__(state)
    assert old.get_params()["stacking"] == "none" and old.get_params()["extra_trees"] is False
    sample = labelled_examples.head(20)
    assert np.allclose(old.predict_proba(sample), model.predict_proba(sample))
    assert model.stacking == "linear"


def test_bad_training_input_is_a_clear_error(labelled_examples, small_config) -> None:
    with pytest.raises(ClassifierError, match="empty"):
        train_error_classifier(labelled_examples.iloc[0:0], small_config)
    one = labelled_examples[labelled_examples["category"] == "AUTHENTICATION"]
    with pytest.raises(ClassifierError, match="single category"):
        train_error_classifier(one, small_config)
    with pytest.raises(ClassifierError, match="need at least"):
        train_error_classifier(labelled_examples.head(5), small_config.model_copy(update={"min_examples": 20}))
    with pytest.raises(ClassifierError, match="DataFrame"):
        ErrorClassifier().fit([["a"]], [["NETWORK", "LOW"]])
    with pytest.raises(ClassifierError, match="labels"):
        ErrorClassifier().fit(labelled_examples.head(10), labelled_examples.head(9)[["category", "severity"]])
    with pytest.raises(InvalidInput, match="n_estimators"):
        build_error_classifier(TrainingInputs(events=read_events().iloc[0:0], templates=pd.DataFrame(),
                                              params={"n_estimators": -1}))  # fmt: skip


def test_calibration_fixes_an_overconfident_model() -> None:
    # a fully grown tree is ~100% confident, but half the labels are noise: it is right ~60-75% of the time
    X, y = make_classification(n_samples=1200, n_features=8, n_informative=4, flip_y=0.5, random_state=1)
    train, test = slice(0, 800), slice(800, None)
    raw = DecisionTreeClassifier(random_state=0).fit(X[train], y[train])
    calibrated = CalibratedClassifier(DecisionTreeClassifier(min_samples_leaf=20, random_state=0), cv=5,
                                      class_weight=None).fit(X[train], y[train])  # fmt: skip
    classes = [0, 1]
    raw_ece = calibration_summary(y[test], raw.predict_proba(X[test]), classes)["ece"].iloc[0]
    ece = calibration_summary(y[test], calibrated.predict_proba(X[test]), classes)["ece"].iloc[0]
    accuracy = (calibrated.predict(X[test]) == y[test]).mean()
    confidence = calibrated.predict_proba(X[test]).max(axis=1).mean()
    assert raw_ece > 0.3 and ece < 0.1
    assert abs(confidence - accuracy) < 0.1
    for method in ("isotonic", "temperature"):
        other = CalibratedClassifier(LogisticRegression(), method=method, cv=3).fit(X[train], y[train])
        assert np.allclose(other.predict_proba(X[test]).sum(axis=1), 1.0)


def test_rare_classes_and_single_class_are_handled() -> None:
    X = np.random.RandomState(0).randn(30, 3)
    y = np.array(["a"] * 20 + ["b"] * 9 + ["c"])  # "c" once: fewer members than folds
    model = CalibratedClassifier(LogisticRegression(), cv=3).fit(X, y)
    assert list(model.classes_) == ["a", "b", "c"] and np.allclose(model.predict_proba(X).sum(axis=1), 1.0)
    single = CalibratedClassifier(LogisticRegression()).fit(X, np.array(["a"] * 30))
    assert (single.predict(X) == "a").all() and np.allclose(single.predict_proba(X), 1.0)


def _trees(n_estimators: int, **params) -> LGBMClassifier:
    return LGBMClassifier(n_estimators=n_estimators, verbose=-1, n_jobs=1, **params)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_stacked_trees_start_from_the_linear_models_probabilities(n_classes) -> None:
    # trees that cannot move (learning rate ~0) leave exactly the first-level model's answer
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=n_classes, random_state=0)
    frozen = StackedClassifier(_trees(3, learning_rate=1e-9)).fit(X[:300], y[:300])
    assert np.allclose(frozen.predict_proba(X[300:]), frozen.stack_.predict_proba(X[300:]), atol=1e-3)
    assert np.allclose(frozen.predict_proba(X[300:]).sum(axis=1), 1.0)


def test_stacked_trees_add_what_the_linear_model_misses_and_only_that() -> None:
    rng = np.random.RandomState(0)
    # XOR: no linear model does better than chance; the trees' corrections do, with many trees kept
    X = rng.uniform(-1, 1, (800, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    linear = LogisticRegression().fit(X[:500], y[:500]).score(X[500:], y[500:])
    xor = StackedClassifier(_trees(100)).fit(X[:500], y[:500])
    assert xor.score(X[500:], y[500:]) > linear + 0.2 and xor.n_estimators_ > 3
    # a linear truth: held-out folds find nothing to correct, so few trees are kept and nothing is lost
    X = rng.randn(800, 5)
    y = (X @ np.array([1.0, -1.0, 0.5, 0.0, 0.0]) + 0.3 * rng.randn(800) > 0).astype(int)
    linear = LogisticRegression().fit(X[:500], y[:500]).score(X[500:], y[500:])
    plain = StackedClassifier(_trees(100)).fit(X[:500], y[:500])
    assert plain.n_estimators_ <= 10 and plain.score(X[500:], y[500:]) >= linear - 0.01


def test_stacked_columns_are_out_of_fold() -> None:
    # a first-level model that memorises noise is perfect on its own training rows: fed those in-sample
    # scores, the trees would copy it; fed out-of-fold scores, they learn it is worthless
    rng = np.random.RandomState(0)
    X, y = rng.rand(600, 5), rng.randint(0, 2, 600)
    model = StackedClassifier(_trees(50), DecisionTreeClassifier(random_state=0), boost_from_stack=False)
    model.fit(X[:400], y[:400])
    assert (model.predict(X[400:]) == model.stack_.predict(X[400:])).mean() < 0.8
    with pytest.raises(ClassifierError, match="cv"):
        StackedClassifier(cv=1).fit(X, y)


def test_the_lightgbm_head_is_stacked_on_the_linear_model(trained_classifier, small_config) -> None:
    head = trained_classifier.estimator.category_head_.base_
    assert isinstance(head, StackedClassifier) and isinstance(head.stack_, LogisticRegression)
    assert 1 <= head.n_estimators_ <= small_config.n_estimators
    assert trained_classifier.params["stacking"] == "linear"
    plain = ErrorClassifier(stacking="none", n_estimators=10, cv=2, max_features=500)
    assert isinstance(plain._head().estimator, LGBMClassifier)
    with pytest.raises(ClassifierError, match="stacking"):
        ErrorClassifier(stacking="cubic")._head()
    with pytest.raises(ValueError):
        ErrorClassifierConfig(stacking="cubic")


def test_the_error_classifier_is_a_registered_trainable_model() -> None:
    from triage.modeling.registry import model_spec

    spec = model_spec("error-classifier")
    assert spec is MODEL_SPECS[0] and spec.primary_metric == "macro_f1" and spec.greater_is_better


def test_evaluate_refuses_an_empty_frame(trained_classifier) -> None:
    with pytest.raises(ClassifierError):
        evaluate_error_classifier(trained_classifier.estimator, trained_classifier.eval_frame.iloc[0:0])

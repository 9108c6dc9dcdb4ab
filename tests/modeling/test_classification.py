from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from triage.errors import InvalidInput
from triage.modeling.classification import (
    MODEL_SPECS,
    CalibratedClassifier,
    ClassifierError,
    ErrorClassifier,
    EventFeaturizer,
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


def test_the_error_classifier_is_a_registered_trainable_model() -> None:
    from triage.modeling.registry import model_spec

    spec = model_spec("error-classifier")
    assert spec is MODEL_SPECS[0] and spec.primary_metric == "macro_f1" and spec.greater_is_better


def test_evaluate_refuses_an_empty_frame(trained_classifier) -> None:
    with pytest.raises(ClassifierError):
        evaluate_error_classifier(trained_classifier.estimator, trained_classifier.eval_frame.iloc[0:0])

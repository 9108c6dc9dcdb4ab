"""scikit-learn's estimator checks over the project's estimators that take numeric X.

The event-level models (EventFeaturizer, ErrorClassifier) take DataFrames of log text and are covered by
their own contract tests in test_classification.py; the session models of triage.modeling.anomaly take
template sequences except the three numeric novelty detectors below (also checked in test_anomaly.py,
with the same two documented exceptions).
"""

from __future__ import annotations

from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from triage.modeling.anomaly import CountVectorNovelty, InvariantsMiner, PCAResidual
from triage.modeling.classification import CalibratedClassifier

NOVELTY = "novelty detector: may flag no training point, which this check requires"
CALIBRATED = {
    "check_class_weight_classifiers": "by design class weights only shape the base model: the calibrator is fit "
    "on the data's own class frequencies, so a weight of 1000:0.0001 does not move the calibrated predictions",
}
EXPECTED = {
    CalibratedClassifier: CALIBRATED,
    CountVectorNovelty: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
    PCAResidual: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
    InvariantsMiner: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
}

ESTIMATORS = [
    CalibratedClassifier(LogisticRegression(solver="newton-cg")),
    CalibratedClassifier(LGBMClassifier(n_estimators=5, min_child_samples=2, verbose=-1, n_jobs=1),
                         method="temperature"),
    CountVectorNovelty(),
    PCAResidual(),
    InvariantsMiner(),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED.get(type(est), {}))
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)

"""scikit-learn's estimator checks over the project's estimators that take numeric X.

The event-level models (EventFeaturizer, ErrorClassifier) take DataFrames of log text and are covered by
their own contract tests in test_classification.py; the session models of triage.modeling.anomaly take
template sequences except the three numeric novelty detectors below (checked here only).

A novelty detector's threshold is set so that at most ``fpr`` of *new* normal points exceed it; on its own
training blobs it may flag none (a training point is at distance 0 from itself; no invariant exists in
random blobs; a 2-D blob has no residual space), which two outlier checks require. The array-API check is
left out: none of these estimators claims array-API support (scikit-learn would only skip it). Every other
check runs.
"""

from __future__ import annotations

import pytest
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import _get_check_estimator_ids, estimator_checks_generator

from triage.modeling.anomaly import CountVectorNovelty, InvariantsMiner, PCAResidual
from triage.modeling.classification import CalibratedClassifier, StackedClassifier

NOVELTY = "novelty detector: may flag no training point, which this check requires"
CALIBRATED = {
    "check_class_weight_classifiers": "by design class weights only shape the base model: the calibrator is fit "
    "on the data's own class frequencies, so a weight of 1000:0.0001 does not move the calibrated predictions",
}
STACKED = {
    check: "cv is a fold count, not the explicit splits this check sets (and LightGBM counts rows, not weights, in "
    "min_child_samples and its bins, so a weight of 2 is not exactly a repeated row)"
    for check in ("check_sample_weight_equivalence_on_dense_data", "check_sample_weight_equivalence_on_sparse_data")
}
EXPECTED = {
    CountVectorNovelty: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
    PCAResidual: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
    InvariantsMiner: {"check_outliers_train": NOVELTY, "check_outliers_fit_predict": NOVELTY},
}

ESTIMATORS = [
    CalibratedClassifier(LogisticRegression(solver="newton-cg")),
    CalibratedClassifier(LGBMClassifier(n_estimators=5, min_child_samples=2, verbose=-1, n_jobs=1),
                         method="temperature"),
    # the served LightGBM head: trees boosted from a linear model's out-of-fold scores, calibrated
    CalibratedClassifier(StackedClassifier(LGBMClassifier(n_estimators=10, min_child_samples=2, verbose=-1, n_jobs=1),
                                           LogisticRegression(solver="newton-cg"))),
    StackedClassifier(LGBMClassifier(n_estimators=10, min_child_samples=2, verbose=-1, n_jobs=1)),
    StackedClassifier(LGBMClassifier(n_estimators=10, min_child_samples=2, verbose=-1, n_jobs=1),
                      boost_from_stack=False),
    CountVectorNovelty(),
    PCAResidual(),
    InvariantsMiner(),
]




def _expected(estimator) -> dict[str, str]:
    if isinstance(estimator, CalibratedClassifier):  # a boosted base model can still follow the weights
        # (a stacked one starts from a linear model's answer and keeps only the trees held-out folds support)
        return CALIBRATED if isinstance(estimator.estimator, (LogisticRegression, StackedClassifier)) else {}
    if isinstance(estimator, StackedClassifier):
        return STACKED
    return EXPECTED.get(type(estimator), {})


def _checks():
    for estimator in ESTIMATORS:
        for case in estimator_checks_generator(estimator, expected_failed_checks=_expected(estimator), mark="xfail",
                                               xfail_strict=True):
            check = (case.values if hasattr(case, "values") else case)[1]
            if getattr(check, "func", check).__name__ != "check_array_api_input":
                yield case


@pytest.mark.parametrize("estimator, check", list(_checks()), ids=_get_check_estimator_ids)
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)

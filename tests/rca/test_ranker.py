from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.utils.estimator_checks import _get_check_estimator_ids, estimator_checks_generator

from triage.rca.ranker import RootCauseRanker

# Every scikit-learn check but the array-API one: the ranker does not claim array-API support.
CHECKS = [
    case
    for case in estimator_checks_generator(RootCauseRanker(), mark="xfail", xfail_strict=True)
    if getattr(check := getattr(case, "values", case)[1], "func", check).__name__ != "check_array_api_input"
]


@pytest.mark.parametrize("estimator, check", CHECKS, ids=_get_check_estimator_ids)
def test_sklearn_contract(estimator, check) -> None:
    check(estimator)


def _incidents(n_incidents: int = 150, size: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X, y, groups = [], [], []
    for g in range(n_incidents):
        features = rng.normal(0, 1, (size, 3))
        cause = rng.integers(size)
        features[cause, 0] += 2.5  # only feature 0 tells the cause apart
        X.append(features)
        y.append(np.eye(size)[cause])
        groups.append(np.full(size, g))
    return np.vstack(X), np.concatenate(y).astype(int), np.concatenate(groups)


def test_conditional_fit_learns_the_informative_feature() -> None:
    X, y, groups = _incidents()
    model = RootCauseRanker(alpha=0.1).fit(X, y, groups=groups)
    assert model.coef_[0] > 1.0 and model.coef_[0] > 5 * max(abs(model.coef_[1]), abs(model.coef_[2]))
    Xt, yt, gt = _incidents(seed=1)
    probabilities = model.group_probabilities(Xt, gt)
    for g in np.unique(gt):
        mask = gt == g
        assert probabilities[mask].sum() == pytest.approx(1.0)
    hits = [np.argmax(probabilities[gt == g]) == np.argmax(yt[gt == g]) for g in np.unique(gt)]
    assert np.mean(hits) > 0.7


def test_json_round_trip() -> None:
    X, y, groups = _incidents()
    model = RootCauseRanker().fit(X, y, groups=groups)
    copy = RootCauseRanker.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_allclose(copy.decision_function(X), model.decision_function(X))
    with pytest.raises(ValueError):
        RootCauseRanker.from_dict({"format": "something else"})


def test_groups_without_a_cause_are_ignored_and_none_is_an_error() -> None:
    X, y, groups = _incidents(n_incidents=3)
    with pytest.raises(ValueError, match="groups"):
        RootCauseRanker().fit(X, y, groups=groups[:-1])
    y_none = y.copy()
    y_none[groups == 0] = 0
    RootCauseRanker().fit(X, y_none, groups=groups)  # group 0 carries no information but does no harm

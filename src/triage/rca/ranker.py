"""The learned part of root-cause analysis: a conditional-logit ranker over per-service features.

Each incident has one root-cause service among its candidates. The ranker scores a service as
``coef_ · features`` and, within one incident, turns scores into probabilities with a softmax — the
conditional (McFadden) logit. Fitting maximises the likelihood of the true root cause within each
incident (``groups`` = incident ids) with an L2 penalty ``alpha``; nothing depends on how many services a
system has, only on how the true cause's evidence compares with its neighbours'.

It follows the scikit-learn estimator contract (``__init__`` stores parameters, ``fit`` returns self,
learned attributes end in ``_``) and is a binary classifier (root cause or not), so it can be logged and
registered like the project's other models. Without ``groups`` it falls back to ordinary logistic
regression. Coefficients round-trip through plain JSON (:meth:`to_dict` / :meth:`from_dict`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

RANKER_FORMAT = "triage.rca.ranker"


class RootCauseRanker(ClassifierMixin, BaseEstimator):
    """Conditional-logit ranker; see the module docstring.

    Parameters
    ----------
    alpha : float
        L2 penalty pulling the coefficients towards ``coef_prior`` (the intercept is not penalised).
    coef_prior : sequence of float or None
        Where the penalty pulls the coefficients (zeros when None). A prior that weighs every kind of
        direct evidence alike keeps a kind that is rare in the training incidents from being written off.
    max_iter : int
        Iteration budget of the L-BFGS optimiser.
    """

    def __init__(self, alpha: float = 1.0, coef_prior: Any = None, max_iter: int = 500) -> None:
        self.alpha = alpha
        self.coef_prior = coef_prior
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any, groups: Any = None) -> RootCauseRanker:
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size > 2:
            raise ValueError("Only binary classification is supported (root cause or not); got "
                             f"{classes.size} classes")
        if classes.size < 2:
            raise ValueError("RootCauseRanker needs both classes (root cause and not); got 1 class")
        self.classes_ = classes
        target = (y == classes[1]).astype(np.float64)
        prior = np.zeros(X.shape[1]) if self.coef_prior is None else np.asarray(self.coef_prior, dtype=np.float64)
        if prior.shape != (X.shape[1],):
            raise ValueError(f"coef_prior needs {X.shape[1]} values, got {prior.size}")
        if groups is None:
            coef, intercept, self.n_iter_ = _fit_logistic(X, target, self.alpha, self.max_iter, prior=prior)
        else:
            groups = np.asarray(groups)
            if groups.shape[0] != X.shape[0]:
                raise ValueError("groups must have one entry per row of X")
            coef, self.n_iter_ = _fit_conditional(X, target, groups, self.alpha, self.max_iter, prior)
            # the intercept cancels inside an incident; fit it on the scores for absolute probabilities
            _, intercept, _ = _fit_logistic((X @ coef)[:, None], target, 0.0, self.max_iter, fixed_coef=1.0)
        self.coef_ = coef
        self.intercept_ = float(intercept)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        p = _sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def group_probabilities(self, X: Any, groups: Any = None) -> np.ndarray:
        """P(row is the root cause of its group): a softmax of the scores within each group."""
        scores = self.decision_function(X)
        if groups is None:
            groups = np.zeros(scores.shape[0])
        groups = np.asarray(groups)
        out = np.empty_like(scores)
        for g in np.unique(groups):
            mask = groups == g
            s = scores[mask] - scores[mask].max()
            out[mask] = np.exp(s) / np.exp(s).sum()
        return out

    def __sklearn_tags__(self):  # binary by design: one root cause per incident
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # Plain-JSON persistence: the coefficients are the whole model (no pickle).
    def to_dict(self) -> dict[str, Any]:
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        return {
            "format": RANKER_FORMAT,
            "params": {k: (list(map(float, v)) if k == "coef_prior" and v is not None else v)
                       for k, v in self.get_params().items()},
            "classes": [int(c) if isinstance(c, np.integer | int) else str(c) for c in self.classes_],
            "coef": [float(c) for c in self.coef_],
            "intercept": self.intercept_,
            "feature_names": [str(n) for n in names] if names is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RootCauseRanker:
        if not isinstance(data, dict) or data.get("format") != RANKER_FORMAT:
            raise ValueError("not a triage.rca.ranker document")
        model = cls(**data.get("params", {}))
        model.classes_ = np.asarray(data["classes"])
        model.coef_ = np.asarray(data["coef"], dtype=np.float64)
        model.intercept_ = float(data["intercept"])
        model.n_features_in_ = model.coef_.shape[0]
        if data.get("feature_names"):
            model.feature_names_in_ = np.asarray(data["feature_names"], dtype=object)
        return model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _fit_conditional(
    X: np.ndarray, target: np.ndarray, groups: np.ndarray, alpha: float, max_iter: int, prior: np.ndarray
) -> tuple[np.ndarray, int]:
    order = np.argsort(groups, kind="stable")
    X, target, groups = X[order], target[order], groups[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(groups)], strict=True))
    # groups without a positive carry no information about which row is the cause
    bounds = [(a, b) for a, b in bounds if target[a:b].sum() > 0]
    if not bounds:
        raise ValueError("no group contains a positive (root-cause) row")

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for a, b in bounds:
            xs, ts = X[a:b], target[a:b] / target[a:b].sum()
            s = xs @ w
            m = s.max()
            p = np.exp(s - m)
            p /= p.sum()
            total -= float(ts @ s - (m + np.log(np.exp(s - m).sum())))
            grad -= xs.T @ (ts - p)
        offset = w - prior
        return total + alpha * float(offset @ offset), grad + 2.0 * alpha * offset

    result = minimize(objective, prior.copy(), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    return result.x, int(result.nit)


def _fit_logistic(
    X: np.ndarray, target: np.ndarray, alpha: float, max_iter: int, fixed_coef: float | None = None,
    prior: np.ndarray | None = None,
) -> tuple[np.ndarray, float, int]:
    n_features = X.shape[1]
    prior = np.zeros(n_features) if prior is None else prior

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        if fixed_coef is None:
            w, b = params[:-1], params[-1]
        else:
            w, b = np.full(n_features, fixed_coef), params[0]
        z = X @ w + b
        p = _sigmoid(z)
        # log(1 + exp(z)) - t*z, computed stably
        loss = float(np.sum(np.logaddexp(0.0, z) - target * z))
        r = p - target
        if fixed_coef is None:
            offset = w - prior
            grad = np.r_[X.T @ r + 2.0 * alpha * offset, r.sum()]
            return loss + alpha * float(offset @ offset), grad
        return loss, np.array([r.sum()])

    start = np.zeros(n_features + 1 if fixed_coef is None else 1)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    if fixed_coef is None:
        return result.x[:-1], float(result.x[-1]), int(result.nit)
    return np.full(n_features, fixed_coef), float(result.x[0]), int(result.nit)

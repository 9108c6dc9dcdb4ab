"""The error classifier: an error event -> a category and a severity, each with a calibrated confidence.

Input frame (one row per event, :data:`~triage.modeling.labels.FEATURE_COLUMNS`): ``template`` (the
Drain3 template text, may be empty), ``message`` (the redacted message, with any stack trace),
``level``, ``service`` and ``n_lines``. Labels come from :mod:`triage.modeling.labels`.

How it generalises to systems it has not seen: features are the *words* of the template and message,
not ids. :func:`text_tokens` lower-cases, splits camelCase and dotted class names
(``java.net.SocketTimeoutException`` -> ``socket timeout exception``), drops every token containing a
digit (ids, addresses, sizes, counters) and adds word bigrams; the service contributes its name's words
only. On top come the reviewed seed rule pack as knowledge (one feature per rule that matches, and the
category of the first match: general phrases such as errno strings and exception names), the log level
(one-hot, synonyms folded) and the template's shape (variables, words, lines, message length). No
dataset-specific id enters the features.

Estimators (scikit-learn contract: ``__init__`` stores parameters, ``fit`` returns ``self``):

* :class:`EventFeaturizer` — DataFrame -> sparse matrix (TF-IDF words + service words + rule matches +
  level + shape).
* :class:`CalibratedClassifier` — wraps any probabilistic classifier; out-of-fold predictions
  (stratified k-fold, k shrunk to what the rarest class allows) fit a calibrator (``sigmoid`` = Platt
  one-vs-rest, ``isotonic`` or ``temperature``), and the base model is refit on all the data. Works on
  numeric X, so it passes scikit-learn's estimator checks.
* :class:`StackedClassifier` — a second-level model over X plus a first-level model's out-of-fold class
  probabilities; with LightGBM (the default) the trees also *start from* those log-probabilities and keep
  only as many trees as held-out folds support. Numeric X, scikit-learn estimator checks.
* :class:`ErrorClassifier` — the served model: one featurizer and two calibrated heads (category,
  severity); ``model="lightgbm"`` (the default: LightGBM stacked on the logistic regression, see
  :class:`StackedClassifier`) or ``"linear"`` (LogisticRegression alone, the baseline every run compares
  against). On a few hundred distinct labelled lines, trees on their own split on words that co-occur with
  a class in one system; starting from the linear model's out-of-fold answer, they only add the
  corrections the held-out folds confirm.

Training (:func:`train_error_classifier`): a chronological split per dataset holds back the latest
``test_fraction`` of examples; both the LightGBM model and the linear baseline are fit on the rest and
scored on the held-back part (macro-F1 overall and per dataset, severity macro-F1, top-label and
class-wise ECE). The held-back frame travels with the model so promotion can score a challenger and the
champion on the same events (:func:`evaluate_error_classifier`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.errors import InvalidInput
from triage.modeling import evaluation
from triage.modeling.event_text import (  # the sklearn-free half, shared with the portable copy
    LEVELS,
    SHAPE_FEATURES,
    analyze,
    fold_level,
    rule_hits,
    service_tokens,
    shape_values,
    text_tokens,
)
from triage.modeling.labels import FEATURE_COLUMNS, LABELLED_COLUMNS, validate_examples
from triage.modeling.portable import CALIBRATION_FLOOR, calibrate, log_scores, proba_from_raw
from triage.modeling.specs import ModelSpec, TrainingInputs
from triage.modeling.taxonomy import DEFAULT_TAXONOMY, SEVERITIES, Taxonomy

#: Logged with every trained classifier: bump when the features change meaning.
FEATURE_VERSION = "error-event-features/v1"
MODEL_NAME = "error-classifier"


class ClassifierError(InvalidInput, ValueError):
    """Bad input to the error classifier (empty training set, missing columns, a single class...).

    A ``ValueError`` too, as scikit-learn's contract expects for malformed input.
    """


_NORMALISED = "triage.event_frame"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) or value is pd.NA else str(value)


def event_frame(X: Any) -> pd.DataFrame:
    """The classifier's input columns from a DataFrame (missing optional columns filled). Plain Python
    per column: for the one-event frames the scorer passes, pandas' own ops cost more than the model."""
    if not isinstance(X, pd.DataFrame):
        raise ClassifierError(f"the error classifier takes a DataFrame with {', '.join(FEATURE_COLUMNS)}")
    if X.attrs.get(_NORMALISED):
        return X
    frame = X.rename(columns={"content": "message", "text": "template"})
    if "message" not in frame.columns and "template" not in frame.columns:
        raise ClassifierError("events need a message or a template column")
    n = len(frame)
    data: dict[str, Any] = {}
    for column in ("template", "message", "service"):
        data[column] = [_text(v) for v in frame[column].tolist()] if column in frame.columns else [""] * n
    data["level"] = [fold_level(v) for v in frame["level"].tolist()] if "level" in frame.columns else ["NONE"] * n
    if "n_lines" in frame.columns:
        lines = pd.to_numeric(frame["n_lines"], errors="coerce").tolist()
        data["n_lines"] = [max(1, int(v)) if v == v and v is not None else 1 for v in lines]
    else:
        data["n_lines"] = [1] * n
    out = pd.DataFrame(data, index=frame.index)
    out["n_lines"] = out["n_lines"].astype("int64")
    out.attrs[_NORMALISED] = True
    return out


class EventFeaturizer(TransformerMixin, BaseEstimator):
    """Events DataFrame -> sparse features: TF-IDF words (+bigrams), service words, level, template shape.

    ``text``: which text the words come from: ``"template"`` (falls back to the message when the template
    is empty), ``"message"``, or ``"both"``.
    """

    def __init__(self, text: Literal["template", "message", "both"] = "both", max_features: int = 20000,
                 min_df: int = 1, ngram_max: int = 2, use_service: bool = True, use_rules: bool = True,
                 binary: bool = False) -> None:  # fmt: skip
        self.text = text
        self.binary = binary
        self.max_features = max_features
        self.min_df = min_df
        self.ngram_max = ngram_max
        self.use_service = use_service
        self.use_rules = use_rules

    def _texts(self, frame: pd.DataFrame) -> list[str]:
        templates, messages = frame["template"].tolist(), frame["message"].tolist()
        if self.text == "message":
            return messages
        if self.text == "template":
            return [t if t.strip() else m for t, m in zip(templates, messages, strict=True)]
        if self.text == "both":
            return [f"{t}\n{m}" if t.strip() else f"{m}\n" for t, m in zip(templates, messages, strict=True)]
        raise ClassifierError(f"text must be template, message or both, not {self.text!r}")

    def fit(self, X: Any, y: Any = None) -> EventFeaturizer:
        frame = event_frame(X)
        if frame.empty:
            raise ClassifierError("cannot fit on an empty set of events")
        # binary: word present or not (what a tree can split on the same way in short and long messages);
        # else TF-IDF (what a linear model weighs)
        weighting = {"binary": True, "use_idf": False, "norm": None} if self.binary else {"sublinear_tf": True}
        self.text_vectorizer_ = TfidfVectorizer(
            analyzer=partial(analyze, ngram_max=self.ngram_max), min_df=self.min_df,
            max_features=self.max_features, dtype=np.float32, **weighting,
        )  # fmt: skip
        try:
            self.text_vectorizer_.fit(self._texts(frame))
        except ValueError as exc:  # "empty vocabulary": no event has a word
            raise ClassifierError(f"no words to learn from in the events' text ({exc})") from exc
        self.service_vectorizer_ = None
        if self.use_service and (frame["service"].str.strip() != "").any():
            vectorizer = TfidfVectorizer(analyzer=service_tokens, dtype=np.float32)
            try:
                self.service_vectorizer_ = vectorizer.fit(frame["service"].tolist())
            except ValueError:
                self.service_vectorizer_ = None  # services named by digits only: no words
        # the reviewed rule pack as knowledge: which rules match, and the first match's category. Kept as
        # (id, category, pattern) strings inside the model, so a loaded model needs no rule file.
        self.rules_: tuple[tuple[str, str, str], ...] = ()
        if self.use_rules:
            from triage.modeling.labels import load_rule_pack

            self.rules_ = tuple((r.id, r.category, r.pattern) for r in load_rule_pack().rules)
        self.rule_categories_ = tuple(sorted({c for _, c, _ in self.rules_}))
        names = [f"word:{w}" for w in self.text_vectorizer_.get_feature_names_out()]
        if self.service_vectorizer_ is not None:
            names += list(self.service_vectorizer_.get_feature_names_out())
        names += [f"rule:{rid}" for rid, _, _ in self.rules_] + [f"rule_category:{c}" for c in self.rule_categories_]
        names += [f"level:{lv}" for lv in LEVELS] + [f"shape:{s}" for s in SHAPE_FEATURES]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self, "text_vectorizer_")
        frame = event_frame(X)
        blocks = [self.text_vectorizer_.transform(self._texts(frame))]
        if self.service_vectorizer_ is not None:
            blocks.append(self.service_vectorizer_.transform(frame["service"].tolist()))
        if self.rules_:
            texts = [f"{t}\n{m}" for t, m in zip(frame["template"].tolist(), frame["message"].tolist(), strict=True)]
            blocks.append(_rule_features(texts, self.rules_, self.rule_categories_))
        level_index = {lv: i for i, lv in enumerate(LEVELS)}
        rows = np.arange(len(frame))
        cols = np.asarray([level_index[lv] for lv in frame["level"]], dtype=np.int64)
        blocks.append(sp.csr_matrix((np.ones(len(frame), dtype=np.float32), (rows, cols)),
                                    shape=(len(frame), len(LEVELS))))
        blocks.append(sp.csr_matrix(_shape_features(frame)))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_

    def to_portable(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        """The fitted featurizer for :mod:`triage.modeling.portable` (big arrays go into ``arrays``)."""
        check_is_fitted(self, "text_vectorizer_")

        def vectorizer(v: TfidfVectorizer, name: str, ngram_max: int) -> dict[str, Any]:
            if v.use_idf:
                arrays[f"{name}.idf"] = np.asarray(v.idf_)
            return {"terms": v.get_feature_names_out().tolist(), "idf": f"{name}.idf" if v.use_idf else None,
                    "binary": bool(v.binary), "sublinear_tf": bool(v.sublinear_tf), "norm": v.norm,
                    "ngram_max": ngram_max}  # fmt: skip

        service = self.service_vectorizer_
        return {
            "text": self.text, "words": vectorizer(self.text_vectorizer_, "words", self.ngram_max),
            "service": vectorizer(service, "service", 1) if service is not None else None,
            "rules": [list(r) for r in self.rules_], "rule_categories": list(self.rule_categories_),
            "n_features": int(self.n_features_out_),
        }  # fmt: skip


def _rule_features(texts: list[str], rules: tuple[tuple[str, str, str], ...],
                   categories: tuple[str, ...]) -> sp.csr_matrix:  # fmt: skip
    """One column per rule (matches) and per category (the first matching rule's), as in labelling."""
    category_index = {c: len(rules) + i for i, c in enumerate(categories)}
    rows, cols = [], []
    for row, text in enumerate(texts):
        hits = rule_hits(text, rules)
        for i in hits:
            rows.append(row)
            cols.append(i)
        if hits:
            rows.append(row)
            cols.append(category_index[rules[hits[0]][1]])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), len(rules) + len(categories)))


def _shape_features(frame: pd.DataFrame) -> np.ndarray:
    rows = [shape_values(t, m, n) for t, m, n in zip(frame["template"].tolist(), frame["message"].tolist(),
                                                      frame["n_lines"].tolist(), strict=True)]  # fmt: skip
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(SHAPE_FEATURES))


# ------------------------------------------------------------------------------------------ calibration
class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose ``predict_proba`` is calibrated on out-of-fold predictions.

    Fitting: stratified ``cv``-fold (fewer folds when the rarest class is smaller than ``cv``, never
    fewer than 2); in each fold a clone of ``estimator`` is fit and predicts the held-out rows; the
    calibrator is fit on those out-of-fold probabilities against the truth, over *all* rows as they
    occur (so confidences reflect how often each answer is right on this kind of data); finally the
    estimator is refit on everything.

    * ``method``: ``sigmoid`` (Platt scaling of each class's probability, one-vs-rest, then renormalised),
      ``isotonic`` (per class, renormalised) or ``temperature`` (one temperature for all classes).
    * ``class_weight="balanced"``: base models see each class with equal total weight (logs are very
      imbalanced); the calibrator does not, which undoes the prior shift that weighting causes. A dict
      gives explicit per-class weights.
    * Repeated rows (logs repeat) are fit once with their count as weight: same optimum, much faster.

    With a single class in ``y`` the model answers that class with probability 1.
    """

    def __init__(self, estimator: Any = None, method: Literal["sigmoid", "isotonic", "temperature"] = "sigmoid",
                 cv: int = 3, class_weight: Literal["balanced"] | dict[Any, float] | None = "balanced",
                 random_state: int | None = 0) -> None:  # fmt: skip
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> CalibratedClassifier:
        X, y = validate_data(self, X, y, accept_sparse="csr", reset=True)
        check_classification_targets(y)
        if self.method not in ("sigmoid", "isotonic", "temperature"):
            raise ClassifierError(f"calibration method must be sigmoid, isotonic or temperature, not {self.method!r}")
        if not (self.class_weight in ("balanced", None) or isinstance(self.class_weight, dict)):
            raise ClassifierError(f"class_weight must be 'balanced', a dict or None, not {self.class_weight!r}")
        if int(self.cv) < 2:
            raise ClassifierError("cv must be at least 2")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) == 1:
            self.base_ = None
            self.calibrator_ = None
            return self
        oof = np.zeros((len(y), len(self.classes_)), dtype=np.float64)
        for train, test in _stratified_folds(y_index, self.cv, self.random_state):
            model = self._fit_base(X[train], y_index[train])
            oof[np.ix_(test, model.classes_)] = _predict_distinct(model, X[test])
        self.calibrator_ = _fit_calibrator(self.method, oof, y_index, len(self.classes_))
        self.base_ = self._fit_base(X, y_index)
        return self

    def _fit_base(self, X: Any, y_index: np.ndarray) -> Any:
        keep, counts = _distinct_rows(X, y_index)
        if isinstance(self.class_weight, dict):
            per_class = np.asarray([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
            weights = counts * per_class[y_index[keep]]
        elif self.class_weight == "balanced":
            weights = _balanced(y_index[keep], counts)
        else:
            weights = counts
        return _fit_weighted(self.estimator, X[keep], y_index[keep], weights / weights.mean())

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        if self.base_ is None:
            return np.ones((X.shape[0], 1), dtype=np.float64)
        raw = np.zeros((X.shape[0], len(self.classes_)), dtype=np.float64)
        raw[:, self.base_.classes_] = _predict_distinct(self.base_, X)
        return _apply_calibrator(self.method, self.calibrator_, raw)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "classes_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _stratified_folds(y_index: np.ndarray, cv: int, random_state: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled stratified ``cv``-fold splits, fewer folds when the rarest class has fewer members (never < 2)."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(y_index)
    counts = counts[counts > 0]
    folds = int(min(cv, counts.min() if counts.min() >= 2 else counts.max(), len(y_index)))
    splitter = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only 1 member"
        return list(splitter.split(np.zeros(len(y_index)), y_index))


def _fit_weighted(estimator: Any, X: Any, y_index: np.ndarray, sample_weight: np.ndarray | None) -> Any:
    """A clone of ``estimator`` (default: logistic regression) fit on integer labels; a class-prior model
    when the labels hold a single class (a fold without a second class)."""
    # imported here, not at module level: a served model loads without them (start-up time)
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    base = clone(estimator) if estimator is not None else LogisticRegression(solver="newton-cg")
    if len(np.unique(y_index)) == 1:
        base = DummyClassifier(strategy="prior")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        base.fit(X, y_index, sample_weight=sample_weight)
    return base


class StackedClassifier(ClassifierMixin, BaseEstimator):
    """``estimator`` over X plus a first-level model's *out-of-fold* class probabilities (stacked
    generalisation, Wolpert 1992, with X passed through); by default a LightGBM ``estimator`` also boosts
    *from* those probabilities, so it only learns corrections to the first-level model.

    Fitting: stratified ``cv``-fold over the rows given (fewer folds for rare classes, as in
    :class:`CalibratedClassifier`); in each fold a clone of ``stack`` (default: logistic regression) is fit
    on the other folds and scores the held-out rows, so every row's extra columns come from a model that
    did not see it: ``estimator`` learns how far to trust the first-level model on *new* rows, not on rows
    the first-level model has memorised. ``stack`` is then refit on all rows and supplies the columns at
    predict time. ``sample_weight`` reaches both models. Columns: X's, then one probability per class
    (``classes_`` order; 0 for a class a fold's first-level model never saw).

    ``boost_from_stack=True`` (needs LightGBM's ``fit(init_score=...)`` and ``predict_proba(raw_score=True)``):
    the out-of-fold log-probabilities (log-odds for two classes) are the boosting's starting score, and a
    prediction is the softmax of the first-level log-probabilities plus the trees' sum. Before the final
    fit, the same folds pick the number of trees: one probe per fold is fit on the other folds with up to
    ``estimator.n_estimators`` trees, and the count with the least held-out (weighted) log-loss summed over
    the folds is kept (``n_estimators_``). Where the trees find nothing the first-level model missed, that
    count is small and the model stays close to it; where they do, they add it.
    """

    def __init__(self, estimator: Any = None, stack: Any = None, cv: int = 3, boost_from_stack: bool = True,
                 random_state: int | None = 0) -> None:  # fmt: skip
        self.estimator = estimator
        self.stack = stack
        self.cv = cv
        self.boost_from_stack = boost_from_stack
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> StackedClassifier:
        X, y = validate_data(self, X, y, accept_sparse="csr", reset=True)
        check_classification_targets(y)
        if int(self.cv) < 2:
            raise ClassifierError("cv must be at least 2")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        oof = np.ones((len(y), 1), dtype=np.float64)
        folds: list[tuple[np.ndarray, np.ndarray]] = []
        if len(self.classes_) > 1:
            folds = _stratified_folds(y_index, self.cv, self.random_state)
            oof = np.zeros((len(y), len(self.classes_)), dtype=np.float64)
            for train, test in folds:
                model = _fit_weighted(self.stack, X[train], y_index[train], weights[train])
                oof[np.ix_(test, model.classes_)] = _predict_distinct(model, X[test])
        self.stack_ = _fit_weighted(self.stack, X, y_index, weights)
        Z = _with_scores(X, oof)
        if not self._boosting():
            self.estimator_ = _fit_weighted(self._second_level(), Z, y_index, weights)
            self.n_estimators_ = None
            return self
        init = log_scores(oof)
        self.n_estimators_ = self._boosting_rounds(Z, y_index, weights, init, folds)
        self.estimator_ = clone(self._second_level()).set_params(n_estimators=self.n_estimators_)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.estimator_.fit(Z, y_index, sample_weight=weights, init_score=init)
        return self

    def _second_level(self) -> Any:
        if self.estimator is not None:
            return self.estimator
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=100, min_child_samples=2, verbose=-1, n_jobs=1)

    def _boosting(self) -> bool:
        return bool(self.boost_from_stack) and len(self.classes_) > 1

    def _boosting_rounds(self, Z: Any, y_index: np.ndarray, weights: np.ndarray, init: np.ndarray,
                         folds: list[tuple[np.ndarray, np.ndarray]]) -> int:  # fmt: skip
        """The tree count with the least held-out log-loss summed over the folds (every class in the
        probe's training part, else the fold is skipped; no usable fold: the estimator's own count)."""
        from lightgbm import early_stopping

        limit = int(self._second_level().get_params()["n_estimators"])
        # a probe stops once `patience` more trees have not improved its held-out loss: the curve past
        # that point is not needed to find the minimum of the sum unless folds disagree by that much
        patience = max(10, limit // 5)
        total = None
        for train, test in folds:
            if len(np.unique(y_index[train])) < len(self.classes_):
                continue
            probe = clone(self._second_level())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                probe.fit(Z[train], y_index[train], sample_weight=weights[train], init_score=init[train],
                          eval_X=(Z[test],), eval_y=(y_index[test],), eval_sample_weight=[weights[test]],
                          eval_init_score=[init[test]],
                          callbacks=[early_stopping(patience, first_metric_only=True, verbose=False)])  # fmt: skip
            curve = np.asarray(next(iter(probe.evals_result_["valid_0"].values())), dtype=np.float64)
            loss = curve * weights[test].sum()  # LightGBM reports the weighted mean: sum the folds' totals
            total = loss if total is None else total[: len(loss)] + loss[: len(total)]
        if total is None:
            return limit
        return int(np.argmin(total)) + 1

    def _with_stack_scores(self, X: Any) -> tuple[Any, np.ndarray]:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        if len(self.classes_) == 1:
            scores = np.ones((X.shape[0], 1), dtype=np.float64)
        else:
            scores = np.zeros((X.shape[0], len(self.classes_)), dtype=np.float64)
            scores[:, self.stack_.classes_] = _predict_distinct(self.stack_, X)
        return _with_scores(X, scores), scores

    def predict_proba(self, X: Any) -> np.ndarray:
        Z, scores = self._with_stack_scores(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # LightGBM: "X does not have valid feature names"
            if not self._boosting():
                proba = np.zeros((Z.shape[0], len(self.classes_)), dtype=np.float64)
                proba[:, self.estimator_.classes_] = self.estimator_.predict_proba(Z)
                return proba
            raw = np.asarray(self.estimator_.predict_proba(Z, raw_score=True), dtype=np.float64)
        return proba_from_raw(raw + log_scores(scores))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _with_scores(X: Any, scores: np.ndarray) -> Any:
    """X with the class-score columns appended (sparse stays CSR)."""
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(scores.astype(dtype))], format="csr", dtype=dtype)
    return np.hstack([np.asarray(X, dtype=dtype), scores.astype(dtype)])



def _predict_distinct(model: Any, X: Any) -> np.ndarray:
    """``model.predict_proba`` computed once per distinct row of X."""
    keep, _ = _distinct_rows(X)
    if len(keep) == X.shape[0]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # LightGBM: "X does not have valid feature names"
            return np.asarray(model.predict_proba(X), dtype=np.float64)
    inverse = _row_inverse(X, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        proba = np.asarray(model.predict_proba(X[keep]), dtype=np.float64)
    return proba[inverse]


def _platt(score: np.ndarray, hit: np.ndarray) -> tuple[float, float]:
    """Platt (1999) scaling: ``P(hit) = sigmoid(a * score + b)`` fit by maximum likelihood, with Platt's
    smoothed targets ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)) so that a class seen few times is not pushed
    to probabilities of exactly 0 or 1. ``score`` is the model's probability for the class."""
    from scipy.optimize import minimize

    positives = hit.sum()
    negatives = len(hit) - positives
    target = np.where(hit > 0, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * score + ab[1]
        p = 1.0 / (1.0 + np.exp(-z))
        value = np.logaddexp(0.0, z) - target * z  # -[t log p + (1-t) log(1-p)]
        grad = p - target
        return float(value.sum()), np.array([float((grad * score).sum()), float(grad.sum())])

    prior = np.log((negatives + 1.0) / (positives + 1.0))
    result = minimize(loss, np.array([1.0, -prior]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def _fit_calibrator(method: str, oof: np.ndarray, y_index: np.ndarray, n_classes: int) -> Any:
    if method == "temperature":
        from scipy.optimize import minimize_scalar

        logp = np.log(np.clip(oof, CALIBRATION_FLOOR, 1.0))

        def nll(log_t: float) -> float:
            z = logp / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[np.arange(len(z)), y_index] - np.log(np.exp(z).sum(axis=1))).mean())

        return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))
    calibrators = []
    for k in range(n_classes):
        hit = (y_index == k).astype(np.float64)
        if hit.min() == hit.max():  # a class that is always or never true here: keep its constant rate
            calibrators.append(float(hit[0]))
        elif method == "sigmoid":
            calibrators.append(_platt(oof[:, k], hit))
        else:
            from sklearn.isotonic import IsotonicRegression

            calibrators.append(IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof[:, k], hit))
    return calibrators


def _apply_calibrator(method: str, calibrator: Any, raw: np.ndarray) -> np.ndarray:
    return calibrate(method, calibrator, raw, lambda isotonic, column: isotonic.predict(column))


def base_estimator(model: Literal["lightgbm", "linear"], *, n_estimators: int = 150, learning_rate: float = 0.1,
                   num_leaves: int = 15, C: float = 4.0, stacking: Literal["linear", "none"] = "linear",
                   extra_trees: bool = True, cv: int = 3, random_state: int = 0, n_jobs: int = 1) -> Any:  # fmt: skip
    """The uncalibrated classifier of one head (classes are balanced by sample weights, see ErrorClassifier).

    ``lightgbm`` with ``stacking="linear"``: the trees start from the linear model's out-of-fold
    log-probabilities and see them as features (:class:`StackedClassifier`, ``cv`` inner folds, at most
    ``n_estimators`` trees). ``extra_trees``: random split thresholds (Geurts et al. 2006), less variance
    on a few hundred distinct rows; on 0/1 columns (rules, level) the split is the same either way.
    """
    if model == "linear":
        from sklearn.linear_model import LogisticRegression

        # newton-cg: ~50x faster than lbfgs on these sparse, weighted, many-class problems (same optimum)
        return LogisticRegression(C=C, solver="newton-cg", max_iter=300, random_state=random_state)
    if model != "lightgbm":
        raise ClassifierError(f"model must be lightgbm or linear, not {model!r}")
    if stacking not in ("linear", "none"):
        raise ClassifierError(f"stacking must be linear or none, not {stacking!r}")
    from lightgbm import LGBMClassifier

    trees = LGBMClassifier(
        n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves, min_child_samples=2,
        min_data_in_bin=1, colsample_bytree=0.8, reg_lambda=1.0, extra_trees=extra_trees,
        random_state=random_state, n_jobs=n_jobs, deterministic=True, force_row_wise=True, verbose=-1,
    )  # fmt: skip
    if stacking == "none":
        return trees
    linear = base_estimator("linear", C=C, random_state=random_state)
    return StackedClassifier(trees, linear, cv=cv, random_state=random_state)


# ------------------------------------------------------------------------------------------ the model
class ErrorClassifier(BaseEstimator):
    """Category and severity of error events, with calibrated confidences.

    ``fit(X, y)``: ``X`` an events DataFrame, ``y`` a DataFrame with ``category`` and ``severity``.
    ``predict(X)`` returns categories; :meth:`predict_frame` returns both heads with their confidences.

    Each head is ``model`` (``lightgbm`` or the ``linear`` baseline) inside a :class:`CalibratedClassifier`.
    ``lightgbm`` with ``stacking="linear"`` (the default) is a :class:`StackedClassifier`: the trees start
    from the linear model's out-of-fold class log-probabilities, split on them besides the sparse features,
    and stop at the tree count the inner folds support (at most ``n_estimators``); ``stacking="none"``
    fits the trees on the sparse features alone (with ``extra_trees=False``: the model before stacking).
    """

    def __init__(self, model: Literal["lightgbm", "linear"] = "lightgbm",
                 calibration: Literal["sigmoid", "isotonic", "temperature"] = "sigmoid", cv: int = 3,
                 text: Literal["template", "message", "both"] = "both", max_features: int = 20000,
                 n_estimators: int = 150, learning_rate: float = 0.1, num_leaves: int = 15, C: float = 4.0,
                 stacking: Literal["linear", "none"] = "linear", extra_trees: bool = True, random_state: int = 0,
                 n_jobs: int = 1) -> None:  # fmt: skip
        self.model = model
        self.calibration = calibration
        self.cv = cv
        self.text = text
        self.max_features = max_features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.C = C
        self.stacking = stacking
        self.extra_trees = extra_trees
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a model saved before stacking existed is trees on the sparse features alone: say so in its parameters
        # (get_params, repr and clone read them); its fitted heads predict as they did
        state.setdefault("stacking", "none")
        state.setdefault("extra_trees", False)
        super().__setstate__(state)

    def _head(self) -> CalibratedClassifier:
        base = base_estimator(self.model, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                              num_leaves=self.num_leaves, C=self.C, stacking=self.stacking,
                              extra_trees=self.extra_trees, cv=self.cv, random_state=self.random_state,
                              n_jobs=self.n_jobs)  # fmt: skip
        return CalibratedClassifier(base, method=self.calibration, cv=self.cv, class_weight="balanced",
                                    random_state=self.random_state)

    def fit(self, X: Any, y: Any) -> ErrorClassifier:
        frame = event_frame(X)
        labels = _label_frame(y, len(frame))
        if frame.empty:
            raise ClassifierError("the training set is empty: no labelled error events")
        self.featurizer_ = EventFeaturizer(text=self.text, max_features=self.max_features).fit(frame)
        Z = self.featurizer_.transform(frame)
        self.category_head_ = self._head().fit(Z, labels["category"].to_numpy(dtype=object))
        self.severity_head_ = self._head().fit(Z, labels["severity"].to_numpy(dtype=object))
        self.classes_ = self.category_head_.classes_
        self.severity_classes_ = self.severity_head_.classes_
        self.n_train_ = len(frame)
        return self

    def _features(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self, "featurizer_")
        return self.featurizer_.transform(event_frame(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.category_head_.predict_proba(self._features(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_severity_proba(self, X: Any) -> np.ndarray:
        return self.severity_head_.predict_proba(self._features(X))

    def to_portable(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """This fitted model as a spec and named arrays for :mod:`triage.modeling.portable` (served without
        scikit-learn); :class:`ClassifierError` for a part that has no portable form."""
        from triage.modeling.portable import FORMAT

        check_is_fitted(self, "featurizer_")
        arrays: dict[str, np.ndarray] = {}
        spec = {
            "format": FORMAT, "featurizer": self.featurizer_.to_portable(arrays),
            "category_head": _portable_head(self.category_head_, "category", arrays),
            "severity_head": _portable_head(self.severity_head_, "severity", arrays),
        }  # fmt: skip
        return spec, arrays

    def predict_frame(self, X: Any) -> pd.DataFrame:
        """``category, category_confidence, severity, severity_confidence`` per event (X's index)."""
        Z = self._features(X)
        pc = self.category_head_.predict_proba(Z)
        ps = self.severity_head_.predict_proba(Z)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({
            "category": self.classes_[pc.argmax(axis=1)], "category_confidence": pc.max(axis=1),
            "severity": self.severity_classes_[ps.argmax(axis=1)], "severity_confidence": ps.max(axis=1),
        }, index=index)  # fmt: skip


def _portable_head(head: CalibratedClassifier, name: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    spec: dict[str, Any] = {"classes": head.classes_.tolist(), "base": None,
                            "calibration": {"method": head.method, "params": None}}  # fmt: skip
    if head.base_ is None:
        return spec
    spec["base"] = _portable_base(head.base_, name, arrays)
    if head.method == "temperature":
        spec["calibration"]["params"] = float(head.calibrator_)
        return spec
    params: list[Any] = []
    for k, cal in enumerate(head.calibrator_):
        if isinstance(cal, float):
            params.append(cal)
        elif head.method == "sigmoid":
            params.append([float(cal[0]), float(cal[1])])
        else:  # isotonic: its breakpoints
            arrays[f"{name}.iso{k}.x"], arrays[f"{name}.iso{k}.y"] = cal.X_thresholds_, cal.y_thresholds_
            params.append([f"{name}.iso{k}.x", f"{name}.iso{k}.y"])
    spec["calibration"]["params"] = params
    return spec


def _portable_base(model: Any, name: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LogisticRegression

    if not isinstance(model, (LogisticRegression, LGBMClassifier, StackedClassifier)):
        raise ClassifierError(f"{type(model).__name__} has no portable form")
    classes = [int(c) for c in model.classes_]
    if isinstance(model, LogisticRegression):
        return {"kind": "linear", "classes": classes, **_portable_linear(model, name, arrays)}
    if isinstance(model, LGBMClassifier):
        return {"kind": "trees", "classes": classes, "trees": _portable_trees(model, name, arrays)}
    if (isinstance(model, StackedClassifier) and model._boosting() and isinstance(model.stack_, LogisticRegression)
            and isinstance(model.estimator_, LGBMClassifier)):  # fmt: skip
        stack = {"classes": [int(c) for c in model.stack_.classes_],
                 **_portable_linear(model.stack_, f"{name}.stack", arrays)}  # fmt: skip
        return {"kind": "stacked", "classes": classes, "stack": stack,
                "trees": _portable_trees(model.estimator_, name, arrays)}  # fmt: skip
    raise ClassifierError(f"{type(model).__name__} has no portable form")


def _portable_linear(model: Any, name: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    arrays[f"{name}.coef"] = np.asarray(model.coef_, dtype=np.float64)
    arrays[f"{name}.intercept"] = np.asarray(model.intercept_, dtype=np.float64)
    return {"coef": f"{name}.coef", "intercept": f"{name}.intercept"}


_MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}


def _portable_trees(model: Any, name: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """LightGBM's own dump of the trees as node arrays (children: node index, or ~leaf index)."""
    dump = model.booster_.dump_model()
    prefix = f"{name}.tree"
    dtypes = {"feature": np.int64, "threshold": np.float64, "left": np.int64, "right": np.int64,
              "default_left": np.bool_, "missing": np.int8, "leaf": np.float64}  # fmt: skip
    for i, info in enumerate(dump["tree_info"]):
        for key, values in _flatten_tree(info["tree_structure"]).items():
            arrays[f"{prefix}{i}.{key}"] = np.asarray(values, dtype=dtypes[key])
    return {"prefix": prefix, "n_trees": len(dump["tree_info"]),
            "num_tree_per_iteration": int(dump["num_tree_per_iteration"])}  # fmt: skip


def _flatten_tree(root: dict[str, Any]) -> dict[str, list[Any]]:
    nodes: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right", "default_left", "missing")}
    leaves: dict[int, float] = {}

    def visit(node: dict[str, Any]) -> int:
        if "split_index" not in node:
            leaves[int(node.get("leaf_index", 0))] = float(node["leaf_value"])
            return ~int(node.get("leaf_index", 0))
        if node["decision_type"] != "<=":
            raise ClassifierError("categorical tree splits have no portable form")
        me = len(nodes["feature"])
        nodes["feature"].append(int(node["split_feature"]))
        nodes["threshold"].append(float(node["threshold"]))
        nodes["default_left"].append(bool(node["default_left"]))
        nodes["missing"].append(_MISSING_TYPES[node["missing_type"]])
        nodes["left"].append(0)
        nodes["right"].append(0)
        nodes["left"][me] = visit(node["left_child"])
        nodes["right"][me] = visit(node["right_child"])
        return me

    visit(root)
    return {**nodes, "leaf": [leaves[j] for j in range(len(leaves))]}


def _row_keys(Z: Any, *labels: np.ndarray) -> list[tuple]:
    if sp.issparse(Z):
        Z = sp.csr_matrix(Z)
        Z.sort_indices()
        return [(Z.indices[Z.indptr[i]:Z.indptr[i + 1]].tobytes(), Z.data[Z.indptr[i]:Z.indptr[i + 1]].tobytes(),
                 *(str(y[i]) for y in labels)) for i in range(Z.shape[0])]  # fmt: skip
    A = np.ascontiguousarray(np.asarray(Z))
    return [(A[i].tobytes(), *(str(y[i]) for y in labels)) for i in range(A.shape[0])]


def _distinct_rows(Z: Any, *labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the first occurrence of each distinct (row of Z, labels) and how often each occurs."""
    first: dict[tuple, int] = {}
    counts: list[int] = []
    keep: list[int] = []
    for i, key in enumerate(_row_keys(Z, *labels)):
        slot = first.get(key)
        if slot is None:
            first[key] = len(keep)
            keep.append(i)
            counts.append(1)
        else:
            counts[slot] += 1
    return np.asarray(keep, dtype=np.int64), np.asarray(counts, dtype=np.float64)


def _row_inverse(Z: Any, keep: np.ndarray) -> np.ndarray:
    """For every row of Z, the position in ``keep`` of its distinct representative."""
    keys = _row_keys(Z)
    slot = {keys[i]: j for j, i in enumerate(keep)}
    return np.asarray([slot[k] for k in keys], dtype=np.int64)


def _balanced(y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-row weights: occurrence count x the class's "balanced" weight (n / (k * n_class))."""
    classes, inverse = np.unique(y, return_inverse=True)
    per_class = np.bincount(inverse, weights=counts, minlength=len(classes))
    weight = counts.sum() / (len(classes) * per_class)
    return counts * weight[inverse]


def _label_frame(y: Any, n: int) -> pd.DataFrame:
    if isinstance(y, pd.DataFrame):
        missing = [c for c in ("category", "severity") if c not in y.columns]
        if missing:
            raise ClassifierError(f"labels lack column(s) {', '.join(missing)}")
        labels = y[["category", "severity"]].reset_index(drop=True)
    else:
        array = np.asarray(y, dtype=object)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ClassifierError("labels must be a DataFrame with category and severity (or an n x 2 array)")
        labels = pd.DataFrame(array, columns=["category", "severity"])
    if len(labels) != n:
        raise ClassifierError(f"{n} events but {len(labels)} labels")
    if labels.isna().any().any():
        raise ClassifierError("labels have missing values")
    return labels.astype(str)


# ------------------------------------------------------------------------------------------ training
class ErrorClassifierConfig(BaseModel):
    """Run parameters of the error classifier (validated; logged as MLflow params)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Literal["lightgbm", "linear"] = "lightgbm"
    baseline: Literal["linear", "none"] = Field(default="linear", description="Compared in the same run.")
    calibration: Literal["sigmoid", "isotonic", "temperature"] = "sigmoid"
    cv: int = Field(default=3, ge=2, le=10)
    text: Literal["template", "message", "both"] = "both"
    max_features: int = Field(default=20000, ge=100)
    n_estimators: int = Field(default=150, ge=10, le=5000)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    num_leaves: int = Field(default=15, ge=2, le=255)
    C: float = Field(default=4.0, gt=0)
    stacking: Literal["linear", "none"] = Field(
        default="linear", description="LightGBM boosts from (and splits on) the linear model's out-of-fold scores.")
    extra_trees: bool = Field(default=True, description="LightGBM's randomised split thresholds.")
    test_fraction: float = Field(default=0.25, gt=0, lt=1, description="Latest share of each dataset held back.")
    min_examples: int = Field(default=20, ge=2, description="Refuse to train on fewer labelled examples.")
    seed_examples: bool = Field(default=True, description="Train on the reviewed seed examples too.")
    random_state: int = 0
    n_jobs: int = Field(default=1, ge=1)

    def estimator(self, model: Literal["lightgbm", "linear"] | None = None) -> ErrorClassifier:
        return ErrorClassifier(
            model=model or self.model, calibration=self.calibration, cv=self.cv, text=self.text,
            max_features=self.max_features, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, C=self.C, stacking=self.stacking, extra_trees=self.extra_trees,
            random_state=self.random_state, n_jobs=self.n_jobs,
        )  # fmt: skip


@dataclass(frozen=True)
class TrainedClassifier:
    """What :func:`train_error_classifier` returns: the fitted model and what to log beside it."""

    estimator: ErrorClassifier
    metrics: dict[str, float]
    params: dict[str, Any]
    feature_view: str
    n_train: int
    eval_frame: pd.DataFrame = field(repr=False)
    baseline: ErrorClassifier | None = field(default=None, repr=False)


def evaluate_error_classifier(estimator: ErrorClassifier, examples: pd.DataFrame, *, prefix: str = "",
                              by_dataset: bool = True) -> dict[str, float]:  # fmt: skip
    """Macro-F1 (overall, per dataset), accuracy, severity macro-F1 and calibration on labelled examples."""
    if examples is None or len(examples) == 0:
        raise ClassifierError("no labelled examples to evaluate on")
    pred = estimator.predict_frame(examples)
    pc = estimator.predict_proba(examples)
    ps = estimator.predict_severity_proba(examples)
    truth_c = examples["category"].to_numpy(dtype=object)
    truth_s = examples["severity"].to_numpy(dtype=object)
    out = {
        "macro_f1": evaluation.macro_f1(truth_c, pred["category"]),
        "accuracy": evaluation.accuracy(truth_c, pred["category"]),
        "severity_macro_f1": evaluation.macro_f1(truth_s, pred["severity"]),
        "ece": evaluation.calibration_summary(truth_c, pc, list(estimator.classes_))["ece"].iloc[0],
        "classwise_ece": evaluation.classwise_ece(truth_c, pc, list(estimator.classes_)),
        "severity_ece": evaluation.calibration_summary(truth_s, ps, list(estimator.severity_classes_))["ece"].iloc[0],
        "n_eval": float(len(examples)),
    }
    if by_dataset and "dataset" in examples.columns:
        for name, part in examples.groupby("dataset", sort=True):
            if name:
                rows = part.index
                out[f"macro_f1.{name}"] = evaluation.macro_f1(part["category"], pred.loc[rows, "category"])
    return {f"{prefix}{k}": float(v) for k, v in out.items()}


def train_error_classifier(
    examples: pd.DataFrame,
    config: ErrorClassifierConfig | None = None,
    *,
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
) -> TrainedClassifier:
    """Fit the classifier (and the baseline) on all but the latest share of each dataset; score both."""
    config = config or ErrorClassifierConfig()
    if examples is None or len(examples) == 0:
        raise ClassifierError("the training set is empty: no labelled error events (ingest logs or add labels)")
    examples = validate_examples(examples, taxonomy=taxonomy)
    if len(examples) < config.min_examples:
        raise ClassifierError(f"only {len(examples)} labelled examples; need at least {config.min_examples}")
    if examples["category"].nunique() < 2:
        raise ClassifierError("the labelled examples hold a single category; the classifier needs two or more")
    # seed examples (reviewed textbook messages) always train; every other source is split by time
    splittable = np.flatnonzero((examples["label_source"] != "seed").to_numpy())
    seed = np.flatnonzero((examples["label_source"] == "seed").to_numpy())
    part_train, part_eval = evaluation.chronological_split(examples.iloc[splittable], test_fraction=config.test_fraction)
    train_idx, eval_idx = np.sort(np.concatenate([splittable[part_train], seed])), splittable[part_eval]
    train, held = examples.iloc[train_idx].reset_index(drop=True), examples.iloc[eval_idx].reset_index(drop=True)
    started = time.perf_counter()
    model = config.estimator().fit(train, train[["category", "severity"]])
    seconds = time.perf_counter() - started
    metrics = {"n_train": float(len(train)), "n_classes": float(train["category"].nunique()),
               "fit_seconds": seconds}  # fmt: skip
    baseline = None
    if len(held):
        metrics.update(evaluate_error_classifier(model, held))
    if config.baseline != "none" and config.baseline != config.model:
        baseline = config.estimator(config.baseline).fit(train, train[["category", "severity"]])
        if len(held):
            metrics.update(evaluate_error_classifier(baseline, held, prefix="baseline_"))
    params = {
        **config.model_dump(), "feature_version": FEATURE_VERSION, "taxonomy": ",".join(taxonomy.names),
        "label_sources": ",".join(sorted(examples["label_source"].str.split(":").str[0].unique())),
        "datasets": ",".join(sorted(d for d in examples["dataset"].unique() if d)),
    }  # fmt: skip
    return TrainedClassifier(model, metrics, params, f"labelled_examples/{FEATURE_VERSION}", len(train), held, baseline)


def examples_for_model(examples: pd.DataFrame) -> pd.DataFrame:
    """The labelled-example columns a held-back evaluation set keeps (features, labels, dataset)."""
    return examples[[c for c in LABELLED_COLUMNS if c in examples.columns]]


def compare_models(metrics: dict[str, float], *, model: str = "lightgbm", baseline: str = "linear") -> pd.DataFrame:
    """A tidy table of a training run's held-back metrics: ``metric, dataset, model, value`` for the model
    and its ``baseline_``-prefixed baseline (``dataset`` is ``ALL`` for the overall figures)."""
    rows = []
    for key, value in metrics.items():
        who, name = (baseline, key[len("baseline_"):]) if key.startswith("baseline_") else (model, key)
        metric, _, dataset = name.partition(".")
        if metric in ("macro_f1", "accuracy", "severity_macro_f1", "ece", "classwise_ece", "severity_ece"):
            rows.append({"metric": metric, "dataset": dataset or "ALL", "model": who, "value": float(value)})
    return pd.DataFrame(rows, columns=["metric", "dataset", "model", "value"])


# ------------------------------------------------------------------------------------------ lifecycle
def labelled_examples(inputs: TrainingInputs, *, taxonomy: Taxonomy = DEFAULT_TAXONOMY,
                      seeds: bool = True) -> pd.DataFrame:  # fmt: skip
    """All labelled examples of a training run: rule labels of the store's events, labelled tables
    (those with ``message``, ``category`` and ``severity``), the reviewed seed examples and feedback."""
    from triage.features.event_texts import event_texts
    from triage.modeling.labels import combine_examples, feedback_examples, seed_examples, weak_labels

    parts = []
    if len(inputs.events):
        parts.append(weak_labels(event_texts(inputs.events, inputs.templates), taxonomy=taxonomy))
    for table in inputs.label_tables.values():
        if {"message", "category", "severity"} <= set(table.columns):
            parts.append(table)
    if seeds:
        parts.append(seed_examples(taxonomy=taxonomy))
    if inputs.feedback is not None and len(inputs.feedback):
        parts.append(feedback_examples(inputs.feedback, taxonomy=taxonomy))
    return combine_examples(*parts, taxonomy=taxonomy)


def build_error_classifier(inputs: TrainingInputs) -> TrainedClassifier:
    """The training-pipeline entry: labelled examples from the inputs, then :func:`train_error_classifier`."""
    from pydantic import ValidationError

    try:
        config = ErrorClassifierConfig(**{"random_state": inputs.random_state, **dict(inputs.params)})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ClassifierError(f"error-classifier parameter {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    return train_error_classifier(labelled_examples(inputs, seeds=config.seed_examples), config)


def score_error_classifier(estimator: ErrorClassifier, frame: pd.DataFrame) -> float:
    """Category macro-F1 on a held-back frame: what promotion compares."""
    return evaluate_error_classifier(estimator, frame, by_dataset=False)["macro_f1"]


MODEL_SPECS = (
    ModelSpec(
        name=MODEL_NAME,
        description="Category and severity of an error event, with calibrated confidences (LightGBM).",
        build=build_error_classifier,
        score=score_error_classifier,
        primary_metric="macro_f1",
    ),
)

__all__ = [
    "FEATURE_VERSION", "MODEL_NAME", "SEVERITIES", "CalibratedClassifier", "ClassifierError", "ErrorClassifier",
    "ErrorClassifierConfig", "EventFeaturizer", "StackedClassifier", "TrainedClassifier", "evaluate_error_classifier",
    "text_tokens", "train_error_classifier",
]  # fmt: skip

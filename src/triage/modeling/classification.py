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
* :class:`ErrorClassifier` — the served model: one featurizer and two calibrated heads (category,
  severity); ``model="lightgbm"`` (LGBMClassifier, the default) or ``"linear"`` (LogisticRegression, the
  baseline every run compares against).

Training (:func:`train_error_classifier`): a chronological split per dataset holds back the latest
``test_fraction`` of examples; both the LightGBM model and the linear baseline are fit on the rest and
scored on the held-back part (macro-F1 overall and per dataset, severity macro-F1, top-label and
class-wise ECE). The held-back frame travels with the model so promotion can score a challenger and the
champion on the same events (:func:`evaluate_error_classifier`).
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial
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
from triage.modeling.labels import FEATURE_COLUMNS, LABELLED_COLUMNS, validate_examples
from triage.modeling.specs import ModelSpec, TrainingInputs
from triage.modeling.taxonomy import DEFAULT_TAXONOMY, SEVERITIES, Taxonomy, normalise_level

#: Logged with every trained classifier: bump when the features change meaning.
FEATURE_VERSION = "error-event-features/v1"
MODEL_NAME = "error-classifier"


class ClassifierError(InvalidInput, ValueError):
    """Bad input to the error classifier (empty training set, missing columns, a single class...).

    A ``ValueError`` too, as scikit-learn's contract expects for malformed input.
    """


# ------------------------------------------------------------------------------------------ tokens
_CHUNK = re.compile(r"[A-Za-z0-9_]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def text_tokens(text: str) -> list[str]:
    """Lower-case alphabetic words of ``text``: camelCase split (whole word kept too), no digit tokens."""
    words: list[str] = []
    for chunk in _CHUNK.findall(text or ""):
        for part in chunk.split("_"):
            if not part or any(ch.isdigit() for ch in part):
                continue
            pieces = _CAMEL.findall(part)
            lowered = [p.lower() for p in pieces if len(p) > 1]
            words.extend(lowered)
            if len(pieces) > 1 and len(part) > 1:
                words.append(part.lower())
    return words


def analyze(text: str, ngram_max: int = 2) -> list[str]:
    """Tokens plus word n-grams up to ``ngram_max`` (the TF-IDF analyzer; picklable via ``partial``)."""
    return list(_analyze_cached(text, ngram_max))


@lru_cache(maxsize=65536)
def _analyze_cached(text: str, ngram_max: int) -> tuple[str, ...]:
    # log texts repeat (templates), so most calls are cache hits
    tokens = text_tokens(text)
    out = list(tokens)
    for n in range(2, ngram_max + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return tuple(out)


def service_tokens(text: str) -> list[str]:
    return ["svc:" + t for t in text_tokens(text)]


# ------------------------------------------------------------------------------------------ features
#: Level vocabulary after folding synonyms; anything else (or a host name in the level column) is OTHER.
LEVELS = ("NONE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OTHER")
_LEVEL_FOLD = {
    "": "NONE", "TRACE": "DEBUG", "DEBUG": "DEBUG", "VERBOSE": "DEBUG", "INFO": "INFO", "NOTICE": "INFO",
    "WARN": "WARN", "ERROR": "ERROR", "ERR": "ERROR", "FAILURE": "ERROR", "FATAL": "FATAL", "CRITICAL": "FATAL",
    "CRIT": "FATAL", "SEVERE": "FATAL", "EMERG": "FATAL", "EMERGENCY": "FATAL", "ALERT": "FATAL", "PANIC": "FATAL",
}  # fmt: skip
SHAPE_FEATURES = ("log_lines", "log_variables", "log_words", "log_length")


def fold_level(level: object) -> str:
    return _LEVEL_FOLD.get(normalise_level(level), "OTHER")


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


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=65536)
def _rule_hits(text: str, rules: tuple[tuple[str, str, str], ...]) -> tuple[int, ...]:
    return tuple(i for i, (_, _, pattern) in enumerate(rules) if _regex(pattern).search(text))


def _rule_features(texts: list[str], rules: tuple[tuple[str, str, str], ...],
                   categories: tuple[str, ...]) -> sp.csr_matrix:  # fmt: skip
    """One column per rule (matches) and per category (the first matching rule's), as in labelling."""
    category_index = {c: len(rules) + i for i, c in enumerate(categories)}
    rows, cols = [], []
    for row, text in enumerate(texts):
        hits = _rule_hits(text, rules)
        for i in hits:
            rows.append(row)
            cols.append(i)
        if hits:
            rows.append(row)
            cols.append(category_index[rules[hits[0]][1]])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(texts), len(rules) + len(categories)))


def _shape_features(frame: pd.DataFrame) -> np.ndarray:
    rows = []
    for template, message, lines in zip(frame["template"].tolist(), frame["message"].tolist(),
                                        frame["n_lines"].tolist(), strict=True):  # fmt: skip
        shape = template or message
        rows.append((np.log1p(lines), np.log1p(shape.count("<*>")), np.log1p(len(shape.split())),
                     np.log1p(len(message)) / 4.0))  # fmt: skip
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
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(y_index)
        folds = int(min(self.cv, counts.min() if counts.min() >= 2 else counts.max(), len(y)))
        splitter = StratifiedKFold(n_splits=max(folds, 2), shuffle=True, random_state=self.random_state)
        oof = np.zeros((len(y), len(self.classes_)), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "least populated class has only 1 member"
            splits = list(splitter.split(np.zeros(len(y)), y_index))
        for train, test in splits:
            model = self._fit_base(X[train], y_index[train])
            oof[np.ix_(test, model.classes_)] = _predict_distinct(model, X[test])
        self.calibrator_ = _fit_calibrator(self.method, oof, y_index, len(self.classes_))
        self.base_ = self._fit_base(X, y_index)
        return self

    def _fit_base(self, X: Any, y_index: np.ndarray) -> Any:
        # imported here, not at module level: a served model loads without them (start-up time)
        from sklearn.dummy import DummyClassifier
        from sklearn.linear_model import LogisticRegression

        keep, counts = _distinct_rows(X, y_index)
        if isinstance(self.class_weight, dict):
            per_class = np.asarray([float(self.class_weight.get(c, 1.0)) for c in self.classes_])
            weights = counts * per_class[y_index[keep]]
        elif self.class_weight == "balanced":
            weights = _balanced(y_index[keep], counts)
        else:
            weights = counts
        base = clone(self.estimator) if self.estimator is not None else LogisticRegression(solver="newton-cg")
        if len(np.unique(y_index)) == 1:  # a fold without a second class
            base = DummyClassifier(strategy="prior")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            base.fit(X[keep], y_index[keep], sample_weight=weights / weights.mean())
        return base

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


_EPS = 1e-6


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

        logp = np.log(np.clip(oof, _EPS, 1.0))

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
    if method == "temperature":
        z = np.log(np.clip(raw, _EPS, 1.0)) / calibrator
        z = z - z.max(axis=1, keepdims=True)
        out = np.exp(z)
    else:
        columns = []
        for k, cal in enumerate(calibrator):
            if isinstance(cal, float):
                columns.append(np.full(raw.shape[0], cal))
            elif method == "sigmoid":
                a, b = cal
                columns.append(1.0 / (1.0 + np.exp(-(a * raw[:, k] + b))))
            else:
                columns.append(cal.predict(raw[:, k]))
        out = np.column_stack(columns)
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def base_estimator(model: Literal["lightgbm", "linear"], *, n_estimators: int = 150, learning_rate: float = 0.1,
                   num_leaves: int = 15, C: float = 4.0, random_state: int = 0, n_jobs: int = 1) -> Any:  # fmt: skip
    """The uncalibrated classifier of one head (classes are balanced by sample weights, see ErrorClassifier)."""
    if model == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves, min_child_samples=2,
            min_data_in_bin=1, colsample_bytree=0.8, reg_lambda=1.0,
            random_state=random_state, n_jobs=n_jobs, deterministic=True, force_row_wise=True, verbose=-1,
        )  # fmt: skip
    if model == "linear":
        from sklearn.linear_model import LogisticRegression

        # newton-cg: ~50x faster than lbfgs on these sparse, weighted, many-class problems (same optimum)
        return LogisticRegression(C=C, solver="newton-cg", max_iter=300, random_state=random_state)
    raise ClassifierError(f"model must be lightgbm or linear, not {model!r}")


# ------------------------------------------------------------------------------------------ the model
class ErrorClassifier(BaseEstimator):
    """Category and severity of error events, with calibrated confidences.

    ``fit(X, y)``: ``X`` an events DataFrame, ``y`` a DataFrame with ``category`` and ``severity``.
    ``predict(X)`` returns categories; :meth:`predict_frame` returns both heads with their confidences.
    """

    def __init__(self, model: Literal["lightgbm", "linear"] = "lightgbm",
                 calibration: Literal["sigmoid", "isotonic", "temperature"] = "sigmoid", cv: int = 3,
                 text: Literal["template", "message", "both"] = "both", max_features: int = 20000,
                 n_estimators: int = 150, learning_rate: float = 0.1, num_leaves: int = 15, C: float = 4.0,
                 random_state: int = 0, n_jobs: int = 1) -> None:  # fmt: skip
        self.model = model
        self.calibration = calibration
        self.cv = cv
        self.text = text
        self.max_features = max_features
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.C = C
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _head(self) -> CalibratedClassifier:
        base = base_estimator(self.model, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                              num_leaves=self.num_leaves, C=self.C, random_state=self.random_state,
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
    test_fraction: float = Field(default=0.25, gt=0, lt=1, description="Latest share of each dataset held back.")
    min_examples: int = Field(default=20, ge=2, description="Refuse to train on fewer labelled examples.")
    seed_examples: bool = Field(default=True, description="Train on the reviewed seed examples too.")
    random_state: int = 0
    n_jobs: int = Field(default=1, ge=1)

    def estimator(self, model: Literal["lightgbm", "linear"] | None = None) -> ErrorClassifier:
        return ErrorClassifier(
            model=model or self.model, calibration=self.calibration, cv=self.cv, text=self.text,
            max_features=self.max_features, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, C=self.C, random_state=self.random_state, n_jobs=self.n_jobs,
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
    "ErrorClassifierConfig", "EventFeaturizer", "TrainedClassifier", "evaluate_error_classifier",
    "text_tokens", "train_error_classifier",
]  # fmt: skip

"""The served error classifier as numbers: loads and predicts with NumPy alone.

Unpickling a champion imports everything that built it (scikit-learn, SciPy, pandas, LightGBM): ≈ 3.7 s
in a new process on this machine, most of a scorer's start-up, for a model whose prediction is a few
vocabulary lookups, one matrix product and a handful of trees. So when the error classifier's champion is
exported for serving, its fitted parts are also written as plain arrays into ``portable.npz`` (NumPy's own
format, read with ``allow_pickle=False``; checksummed in the served manifest like the pickle):

* the featurizer: word and service vocabularies with their idf weights and TF-IDF options, the rule pack,
  the level and shape columns (the same code computes them: :mod:`triage.modeling.event_text`);
* per head (category, severity): the linear model's coefficients, LightGBM's trees as node arrays (from
  LightGBM's own model dump), how the trees combine with the linear model, and the calibrators.

:class:`PortableErrorClassifier` evaluates them in the order and float precision scikit-learn and
LightGBM use (float32 features, float64 scores), so its probabilities equal the fitted estimator's to
rounding (``tests/modeling/test_portable.py`` compares them on real events). What it cannot represent,
:meth:`ErrorClassifier.to_portable` refuses, and the export keeps only the pickle.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from triage.errors import TriageError
from triage.modeling.event_text import LEVELS, SHAPE_FEATURES, analyze, fold_level, rule_hits, service_tokens
from triage.modeling.event_text import shape_values as _shape_values

FORMAT = "triage.portable-error-classifier/1"
PORTABLE_FILE = "portable.npz"
#: LightGBM's kZeroThreshold: a value this close to 0 counts as zero for a "Zero" missing type.
_ZERO = 1e-35
#: Floor of a first-level probability before its log is the boosting's start: a class the first-level model
#: rules out (or a fold never saw) starts at log(1e-4) instead of minus infinity, so trees can still win it.
STACK_FLOOR = 1e-4
#: Floor of a probability before temperature scaling takes its log.
CALIBRATION_FLOOR = 1e-6


class PortableFormatError(TriageError):
    """A portable model file that this code cannot read (damaged, or written by another format version)."""


# ------------------------------------------------------------------------------------------ file
def save(path: Path, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``spec`` (JSON-able) and the named arrays into one ``.npz`` (no pickled objects in it)."""
    buffer = io.BytesIO()
    np.savez(buffer, __spec__=np.array(json.dumps(spec, sort_keys=True)), **dict(arrays))
    Path(path).write_bytes(buffer.getvalue())


def load(path: Path) -> PortableErrorClassifier:
    try:
        with np.load(path, allow_pickle=False) as data:
            spec = json.loads(str(data["__spec__"]))
            arrays = {k: data[k] for k in data.files if k != "__spec__"}
    except (OSError, ValueError, KeyError) as exc:
        raise PortableFormatError(f"{path}: not a portable model ({exc})") from exc
    if spec.get("format") != FORMAT:
        raise PortableFormatError(f"{path}: format {spec.get('format')!r}, this code reads {FORMAT}")
    return PortableErrorClassifier(spec, arrays)


# ------------------------------------------------------------------------------------------ parts
class _Vectorizer:
    """A fitted TfidfVectorizer's transform: counts of known terms → (1 + log) → × idf → l2, in float32."""

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, services: bool) -> None:
        self.index = {term: i for i, term in enumerate(spec["terms"])}
        self.idf = arrays[spec["idf"]] if spec.get("idf") else None
        self.binary = bool(spec["binary"])
        self.sublinear = bool(spec["sublinear_tf"])
        self.norm = spec["norm"]
        self.ngram_max = int(spec.get("ngram_max", 1))
        self.services = services
        self.width = len(self.index)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indexes ascending, float32 values) of one document."""
        tokens = service_tokens(text) if self.services else analyze(text, self.ngram_max)
        counts: dict[int, int] = {}
        for token in tokens:
            j = self.index.get(token)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        cols = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        values = np.asarray([counts[j] for j in cols], dtype=np.float32)
        if self.binary:
            values[:] = 1.0
        if self.sublinear:
            np.log(values, out=values)
            values += np.float32(1.0)
        if self.idf is not None:
            values *= self.idf[cols]
        if self.norm == "l2" and len(values):
            total = 0.0  # scikit-learn's row normaliser: float32 squares summed in double
            for v in values:
                total += float(v * v)
            if total != 0.0:
                scale = math.sqrt(total)
                values = np.asarray([float(v) / scale for v in values], dtype=np.float32)
        return cols, values


def _linear_proba(spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """LogisticRegression.predict_proba: expit of one decision (two classes) or a softmax."""
    coef = arrays[spec["coef"]]
    decision = X.astype(np.float64) @ coef.T + arrays[spec["intercept"]]
    if coef.shape[0] == 1:
        p = 1.0 / (1.0 + np.exp(-decision[:, 0]))
        return np.column_stack([1.0 - p, p])
    return _softmax(decision)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


class _Trees:
    """LightGBM trees as node arrays; ``raw`` is ``predict(raw_score=True)``: per class the sum of its trees."""

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.n_classes = int(spec["num_tree_per_iteration"])
        keys = ("feature", "threshold", "left", "right", "default_left", "missing", "leaf")
        self.trees = [{k: arrays[f"{spec['prefix']}{i}.{k}"] for k in keys} for i in range(int(spec["n_trees"]))]

    def raw(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((X.shape[0], self.n_classes), dtype=np.float64)
        for t, tree in enumerate(self.trees):
            k = t % self.n_classes
            for r in range(X.shape[0]):
                out[r, k] += _walk(tree, X[r])
        return out[:, 0] if self.n_classes == 1 else out


def _walk(tree: Mapping[str, np.ndarray], x: np.ndarray) -> float:
    """One row through one tree (LightGBM's NumericalDecision). Nodes >= 0, leaves as ~leaf_index."""
    if len(tree["feature"]) == 0:  # a single leaf
        return float(tree["leaf"][0])
    node = 0
    while node >= 0:
        value = float(x[tree["feature"][node]])
        missing = tree["missing"][node]  # 0 None, 1 Zero, 2 NaN
        if value != value and missing != 2:
            value = 0.0
        if (missing == 1 and abs(value) <= _ZERO) or (missing == 2 and value != value):
            node = tree["left"][node] if tree["default_left"][node] else tree["right"][node]
        else:
            node = tree["left"][node] if value <= tree["threshold"][node] else tree["right"][node]
    return float(tree["leaf"][~node])


# The arithmetic below is shared with the fitted estimators (triage.modeling.classification calls these),
# so the two cannot drift apart.
def log_scores(scores: np.ndarray) -> np.ndarray:
    """The boosting's starting score: log-probabilities per class, or the log-odds of the second of two."""
    logp = np.log(np.clip(scores, STACK_FLOOR, 1.0))
    return logp[:, 1] - logp[:, 0] if scores.shape[1] == 2 else logp


def proba_from_raw(raw: np.ndarray) -> np.ndarray:
    """LightGBM's objective transform of raw scores: sigmoid of the second class's log-odds, or a softmax."""
    if raw.ndim == 1:
        return np.column_stack([1.0 / (1.0 + np.exp(raw)), 1.0 / (1.0 + np.exp(-raw))])
    return _softmax(raw)


def calibrate(method: str, calibrators: Any, raw: np.ndarray, isotonic: Callable[[Any, np.ndarray], np.ndarray]
              ) -> np.ndarray:  # fmt: skip
    """CalibratedClassifier's calibration of raw class probabilities, rows renormalised. ``calibrators``:
    one temperature, or per class a constant rate (float), Platt's ``(a, b)``, or an isotonic calibrator
    that ``isotonic(calibrator, column)`` evaluates."""
    if method == "temperature":
        z = np.log(np.clip(raw, CALIBRATION_FLOOR, 1.0)) / float(calibrators)
        out = np.exp(z - z.max(axis=1, keepdims=True))
    else:
        columns = []
        for k, cal in enumerate(calibrators):
            if isinstance(cal, float):
                columns.append(np.full(raw.shape[0], cal))
            elif method == "sigmoid":
                a, b = cal
                columns.append(1.0 / (1.0 + np.exp(-(a * raw[:, k] + b))))
            else:
                columns.append(isotonic(cal, raw[:, k]))
        out = np.column_stack(columns)
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


class _Head:
    """One calibrated head: base model (linear, trees, or trees stacked on linear) → calibrators."""

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.classes = np.asarray(spec["classes"], dtype=object)
        self.base = spec["base"]
        self.arrays = arrays
        self.trees = _Trees(self.base["trees"], arrays) if self.base and "trees" in self.base else None
        self.method = spec["calibration"]["method"]
        self.calibrators = spec["calibration"]["params"]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.base is None:  # one class seen in training
            return np.ones((X.shape[0], 1), dtype=np.float64)
        raw = np.zeros((X.shape[0], len(self.classes)), dtype=np.float64)
        raw[:, self.base["classes"]] = self._base_proba(X)
        return self._calibrate(raw)

    def _base_proba(self, X: np.ndarray) -> np.ndarray:
        kind = self.base["kind"]
        if kind == "linear":
            return _linear_proba(self.base, self.arrays, X)
        assert self.trees is not None
        if kind == "trees":
            return proba_from_raw(self.trees.raw(X))
        # stacked: the linear model's probabilities join the features and are where the boosting starts
        stack = self.base["stack"]
        scores = np.zeros((X.shape[0], len(self.base["classes"])), dtype=np.float64)
        scores[:, stack["classes"]] = _linear_proba(stack, self.arrays, X)
        Z = np.hstack([X, scores.astype(X.dtype)])
        return proba_from_raw(self.trees.raw(Z) + log_scores(scores))

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        return calibrate(self.method, self.calibrators, raw, self._isotonic)

    def _isotonic(self, names: list[str], column: np.ndarray) -> np.ndarray:
        xs, ys = self.arrays[names[0]], self.arrays[names[1]]  # breakpoints: clipped to their range, linear between
        return np.interp(np.clip(column, xs[0], xs[-1]), xs, ys)


# ------------------------------------------------------------------------------------------ model
class PortableErrorClassifier:
    """The error classifier's predictions without scikit-learn; the same methods the scorer calls."""

    def __init__(self, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        features = spec["featurizer"]
        self.spec = spec
        self.text = features["text"]
        self.words = _Vectorizer(features["words"], arrays, services=False)
        self.service = _Vectorizer(features["service"], arrays, services=True) if features["service"] else None
        self.rules = tuple(tuple(r) for r in features["rules"])
        self.rule_categories = tuple(features["rule_categories"])
        self.n_features = int(features["n_features"])
        self.category_head = _Head(spec["category_head"], arrays)
        self.severity_head = _Head(spec["severity_head"], arrays)
        self.classes_ = self.category_head.classes
        self.severity_classes_ = self.severity_head.classes

    # -- features (EventFeaturizer.transform, one dense float32 row per event)
    def _text_of(self, template: str, message: str) -> str:
        if self.text == "message":
            return message
        if self.text == "template":
            return template if template.strip() else message
        return f"{template}\n{message}" if template.strip() else f"{message}\n"

    def features(self, events: Sequence[Mapping[str, Any]]) -> np.ndarray:
        X = np.zeros((len(events), self.n_features), dtype=np.float32)
        level_at = {lv: i for i, lv in enumerate(LEVELS)}
        for r, event in enumerate(events):
            template, message = _str(event.get("template")), _str(event.get("message"))
            offset = 0
            cols, values = self.words.row(self._text_of(template, message))
            X[r, offset + cols] = values
            offset += self.words.width
            if self.service is not None:
                cols, values = self.service.row(_str(event.get("service")))
                X[r, offset + cols] = values
                offset += self.service.width
            if self.rules:
                hits = rule_hits(f"{template}\n{message}", self.rules)
                for i in hits:
                    X[r, offset + i] = 1.0
                if hits:
                    category = self.rules[hits[0]][1]
                    X[r, offset + len(self.rules) + self.rule_categories.index(category)] = 1.0
                offset += len(self.rules) + len(self.rule_categories)
            X[r, offset + level_at[fold_level(event.get("level"))]] = 1.0
            offset += len(LEVELS)
            X[r, offset : offset + len(SHAPE_FEATURES)] = _shape_values(template, message, _lines(event))
        return X

    # -- the estimator's prediction methods (a DataFrame in, as the scorer passes; or a list of dicts)
    def predict_proba(self, X: Any) -> np.ndarray:
        return self.category_head.predict_proba(self.features(_events(X)))

    def predict_severity_proba(self, X: Any) -> np.ndarray:
        return self.severity_head.predict_proba(self.features(_events(X)))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def classify(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Per event ``category, category_confidence, severity, severity_confidence`` (plain Python)."""
        Z = self.features(events)
        pc, ps = self.category_head.predict_proba(Z), self.severity_head.predict_proba(Z)
        return [
            {"category": str(self.classes_[c.argmax()]), "category_confidence": float(c.max()),
             "severity": str(self.severity_classes_[s.argmax()]), "severity_confidence": float(s.max())}
            for c, s in zip(pc, ps, strict=True)
        ]  # fmt: skip

    def predict_frame(self, X: Any) -> Any:
        """As ``ErrorClassifier.predict_frame``: a DataFrame indexed like X (pandas only if X is one)."""
        import pandas as pd

        index = X.index if hasattr(X, "index") and hasattr(X, "columns") else None
        return pd.DataFrame(self.classify(_events(X)), index=index)


def _str(value: Any) -> str:
    missing = value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"
    return "" if missing else str(value)


def _lines(event: Mapping[str, Any]) -> int:
    value = event.get("n_lines")
    try:
        return max(1, int(value)) if value is not None and value == value else 1
    except (TypeError, ValueError):
        return 1


_RENAMES = {"content": "message", "text": "template"}


def _events(X: Any) -> list[dict[str, Any]]:
    """Rows as dicts with the classifier's column names (``content``/``text`` accepted, as event_frame does)."""
    if hasattr(X, "to_dict") and hasattr(X, "columns"):
        rows = X.to_dict(orient="records")
    else:
        rows = [dict(r) for r in X]
    return [{_RENAMES.get(k, k): v for k, v in row.items()} for row in rows]

"""Anomaly detection over sessions and windows: unsupervised (trained on normal data only) and supervised.

Every detector follows the scikit-learn outlier-detector contract: ``__init__`` stores parameters only,
``fit`` returns ``self``, learned attributes end in ``_``; ``score_samples`` is higher for more normal
inputs, ``decision_function = score_samples - offset_`` is negative for anomalies, and ``predict``
returns ``-1`` (anomaly) or ``1`` (normal). :func:`is_anomaly` turns that into a boolean.

**How thresholds are chosen (never from test answers).** Each unsupervised detector turns a session into
an *anomaly score* and flags it when the score exceeds ``threshold_``, which is fixed from the training
(normal) data alone, for a target false-positive rate ``fpr`` (default :data:`DEFAULT_FPR`). A tail
quantile cannot be read off a small sample, so with ``n`` training sessions a detector aims for
``max(fpr, MIN_TAIL / n)`` (``effective_fpr_``): its threshold is never above the fifth-largest
training score.

* :class:`CountVectorNovelty` — score = L1 distance from the session's (log-scaled) template-count vector
  to the nearest training vector. The threshold is the ``1 - fpr`` quantile of the *leave-one-out*
  distances of the training sessions (a training session whose vector occurs more than once has
  distance 0; a unique one, the distance to its nearest other vector). That jackknife estimates how
  far a new normal session lands from what was seen: when normal behaviour repeats (few unique vectors,
  the Good–Turing estimate of unseen mass is below ``fpr``), the threshold is 0 and any new vector is
  flagged; when normal behaviour is varied, the threshold grows with it. This is count-vector
  clustering (Landauer et al.'s ECVC) with a threshold learnt from the training data.
* :class:`PCAResidual` — Xu et al. (SOSP 2009): project log-scaled counts on the principal components
  that explain ``variance`` of the training variance; score = squared prediction error (SPE) on the
  residual space; threshold = the Q-statistic (Jackson & Mudholkar) at significance ``alpha``, computed
  from the training eigenvalues (fallback when it is undefined: the ``1 - alpha`` training quantile),
  raised if needed so that at most ``fpr`` of the training sessions exceed it.
* :class:`InvariantsMiner` — Lou et al. (USENIX ATC 2010): sparse integer linear relations between
  event counts (e.g. ``#open - #close = 0``) that hold in at least ``min_support`` of training sessions;
  score = number of broken invariants; threshold = the ``1 - fpr`` quantile of training scores.
* :class:`NgramNovelty` — DeepLog-style next-template check (Du et al., CCS 2017) without a neural net:
  a transition (the ``n - 1`` previous templates, including start/end markers, followed by the next) that
  never occurred in training is a prediction miss. With ``n="auto"`` the order is the largest ``n`` whose
  *leave-one-out* miss rate on training sessions (an n-gram seen in only one session would be unseen
  without it) is at most ``fpr``.
* :class:`SessionAnomalyDetector` — the default model for sessions and windows: a template vectoriser
  plus several of the above, splitting ``fpr`` evenly between them; a session is anomalous if any
  member flags it. Its score is the largest member score, each scaled by that member's training spread,
  so PR curves can be drawn from it.

Supervised detection (labels exist): :func:`make_supervised_session_model` is a
``Pipeline(SessionVectorizer, LGBMClassifier)`` over template counts.

Builders for the training pipeline (they take the store's events frame and a config, return a fitted
estimator with metrics): :func:`build_session_anomaly_model`, :func:`build_window_anomaly_model`,
:func:`build_supervised_session_model`. Scoring one session costs well under a millisecond for the
models here (numpy over precomputed arrays; see ``benchmarks/hdfs_anomaly.py``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.base import BaseEstimator, OutlierMixin, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from triage.errors import InvalidInput
from triage.features.sessions import SESSIONS, SessionConfig, SessionKey, build_sessions
from triage.modeling.specs import InsufficientData, ModelSpec, TrainingInputs

#: Version of the session/window anomaly models' feature handling; logged with every trained model.
MODEL_VERSION = "session-anomaly/v1"

#: Default target false-positive rate on normal sessions: one in a thousand. Sessions are numerous and
#: anomalies rare (HDFS: 553k normal blocks to 17k anomalous), so a 1 % budget would bury the anomalies
#: in false alarms. Small training sets relax it (see :data:`MIN_TAIL`). Callers with other alarm budgets
#: pass ``fpr``.
DEFAULT_FPR = 0.001


class AnomalyModelError(InvalidInput, ValueError):
    """Bad input to an anomaly model (empty training set, not sequences, unknown method, bad parameter).

    A ``ValueError`` too, as scikit-learn's contract expects for malformed input.
    """


class TooFewSessions(AnomalyModelError, InsufficientData):
    """The events hold too few (labelled) sessions of the configured key, or of each class, to train on."""


# ------------------------------------------------------------------------------------------- helpers
def is_anomaly(detector: Any, X: Any) -> np.ndarray:
    """Boolean anomaly flags from any detector here (``predict == -1``)."""
    return np.asarray(detector.predict(X)) == -1


def check_sequences(X: Any, *, allow_empty: bool = False) -> list[tuple[str, ...]]:
    """Sessions as a list of tuples of template-id strings; refuses strings and non-iterables."""
    if isinstance(X, pd.DataFrame):
        if "sequence" not in X.columns:
            raise AnomalyModelError("a DataFrame of sessions needs a 'sequence' column")
        X = X["sequence"].tolist()
    elif isinstance(X, pd.Series):
        X = X.tolist()
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise AnomalyModelError("expected a list of sessions, each a sequence of template ids")
    out: list[tuple[str, ...]] = []
    for i, seq in enumerate(X):
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Iterable):
            raise AnomalyModelError(f"session {i} is {type(seq).__name__}, not a sequence of template ids")
        out.append(tuple(str(t) for t in seq))
    if not out and not allow_empty:
        raise AnomalyModelError("no sessions given (empty training set)")
    return out


def _symlog(X: np.ndarray) -> np.ndarray:
    """log1p for counts, extended to negative values so arbitrary numeric input stays finite."""
    return np.sign(X) * np.log1p(np.abs(X))


_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "log1p": _symlog,
    "none": lambda X: X,
    "binary": lambda X: (X != 0).astype(np.float64),
}


def _transform(kind: str, X: np.ndarray) -> np.ndarray:
    try:
        return _TRANSFORMS[kind](X)
    except KeyError:
        raise AnomalyModelError(f"unknown scale {kind!r}; use one of {', '.join(_TRANSFORMS)}") from None


def _check_fpr(fpr: float) -> float:
    if not isinstance(fpr, (int, float)) or not 0.0 < float(fpr) < 0.5:
        raise AnomalyModelError(f"fpr must be in (0, 0.5), got {fpr!r}")
    return float(fpr)


#: A tail quantile needs data: with ``n`` training sessions a detector never aims below ``MIN_TAIL / n``,
#: i.e. its threshold is at most the ``MIN_TAIL``-th largest training score, so one odd training session
#: cannot set it (the maximum of a small sample is not a usable 99.9 % quantile).
MIN_TAIL = 5


def _effective_fpr(fpr: float, n: int) -> float:
    """The false-positive rate a detector can actually aim for with ``n`` training sessions."""
    return min(1.0, max(fpr, MIN_TAIL / max(n, 1)))  # a rate: never above 1 (tiny training sets)


def _quantile_threshold(scores: np.ndarray, fpr: float) -> float:
    """Smallest attained training score such that at most ``fpr`` of training scores exceed it."""
    if scores.size == 0:
        return 0.0
    return float(np.quantile(scores, 1.0 - fpr, method="higher"))


def _validate(estimator: BaseEstimator, X: Any, *, reset: bool) -> np.ndarray:
    try:
        return validate_data(estimator, X, reset=reset, dtype=np.float64, ensure_min_samples=1 if not reset else 2)
    except ValueError as exc:
        raise AnomalyModelError(" ".join(str(exc).split())) from exc


class _Thresholded(OutlierMixin, BaseEstimator):
    """Shared outlier API: subclasses implement ``_anomaly_score``; flagged when score > ``threshold_``."""

    def score_samples(self, X: Any) -> np.ndarray:
        """Negated anomaly score: higher is more normal."""
        check_is_fitted(self, "threshold_")
        return -self._anomaly_score(self._prepare(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """``threshold_ - anomaly score``: negative means anomalous."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """``-1`` for anomalies, ``1`` for normal inputs."""
        return np.where(self.decision_function(X) < 0, -1, 1).astype(np.int64)

    def anomaly_score(self, X: Any) -> np.ndarray:
        """The raw anomaly score (higher is more anomalous); compare with ``threshold_``."""
        return -self.score_samples(X)

    def _prepare(self, X: Any) -> Any:
        return _validate(self, X, reset=False)

    def _anomaly_score(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_threshold(self, train_scores: np.ndarray, threshold: float) -> None:
        self.train_scores_ = np.asarray(train_scores, dtype=np.float64)
        self.threshold_ = float(threshold)
        self.offset_ = -self.threshold_
        # Share of training sessions the threshold flags: the expected false-positive rate on normal data.
        self.estimated_fpr_ = float(np.mean(self.train_scores_ > self.threshold_)) if train_scores.size else 0.0


# --------------------------------------------------------------------------------------- vectoriser
def _id_key(token: str) -> tuple[int, int | str]:
    return (0, int(token)) if token.lstrip("-").isdigit() else (1, token)


class SessionVectorizer(TransformerMixin, BaseEstimator):
    """Sessions (sequences of template ids) -> template-count matrix, one column per training template.

    With ``unseen=True`` a last column counts events whose template was not seen in training, so a
    count-based detector sees new templates too.
    """

    def __init__(self, unseen: bool = True) -> None:
        self.unseen = unseen

    def fit(self, X: Any, y: Any = None) -> SessionVectorizer:
        sequences = check_sequences(X)
        templates = sorted({t for seq in sequences for t in seq}, key=_id_key)
        self.vocabulary_ = {t: i for i, t in enumerate(templates)}
        self.n_features_out_ = len(templates) + (1 if self.unseen else 0)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        sequences = check_sequences(X, allow_empty=True)
        n_vocab = len(self.vocabulary_)
        out = np.zeros((len(sequences), self.n_features_out_), dtype=np.float64)
        vocab = self.vocabulary_
        for row, seq in enumerate(sequences):
            idx = np.fromiter((vocab.get(t, n_vocab) for t in seq), dtype=np.int64, count=len(seq))
            counts = np.bincount(idx, minlength=n_vocab + 1)
            out[row, :n_vocab] = counts[:n_vocab]
            if self.unseen:
                out[row, n_vocab] = counts[n_vocab]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        names = [f"template={t}" for t in self.vocabulary_]
        return np.asarray([*names, "unseen_templates"] if self.unseen else names, dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


# ---------------------------------------------------------------------------- count-vector novelty
_BRUTE_FORCE_MAX = 4096  # unique training vectors up to which a numpy scan beats a tree per query


def _nearest_l1(Z: np.ndarray, U: np.ndarray, nn: Any | None, *, k: int = 1) -> np.ndarray:
    """L1 distance from each row of Z to its k-th nearest row of U (k = 1 or 2)."""
    if nn is not None:
        dist, _ = nn.kneighbors(Z, n_neighbors=k)
        return dist[:, k - 1]
    out = np.empty(len(Z))
    block = max(1, 4_000_000 // max(1, U.size))
    for start in range(0, len(Z), block):
        d = np.abs(Z[start:start + block, None, :] - U[None, :, :]).sum(axis=2)
        out[start:start + block] = d.min(axis=1) if k == 1 else np.partition(d, 1, axis=1)[:, 1]
    return out


class CountVectorNovelty(_Thresholded):
    """Distance to the nearest training count vector, thresholded by leave-one-out (see module doc).

    Parameters: ``fpr`` target false-positive rate on normal data; ``scale`` applied to counts
    (``log1p`` default, ``none``, ``binary``).
    """

    def __init__(self, fpr: float = DEFAULT_FPR, scale: str = "log1p") -> None:
        self.fpr = fpr
        self.scale = scale

    def fit(self, X: Any, y: Any = None) -> CountVectorNovelty:
        Z = _transform(self.scale, _validate(self, X, reset=True))
        fpr = self.effective_fpr_ = _effective_fpr(_check_fpr(self.fpr), len(Z))
        unique, inverse, counts = np.unique(Z, axis=0, return_inverse=True, return_counts=True)
        self.vectors_ = unique
        self._build_index()
        loo = np.zeros(len(unique))
        single = counts == 1
        if len(unique) > 1 and single.any():
            loo[single] = _nearest_l1(unique[single], unique, self.index_, k=2)
        scores = loo[np.asarray(inverse).ravel()]
        self._set_threshold(scores, _quantile_threshold(scores, fpr))
        return self

    def _build_index(self) -> None:
        if len(self.vectors_) > _BRUTE_FORCE_MAX:
            from sklearn.neighbors import NearestNeighbors

            self.index_ = NearestNeighbors(metric="manhattan").fit(self.vectors_)
        else:
            self.index_ = None

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return _nearest_l1(_transform(self.scale, X), self.vectors_, self.index_)


# ----------------------------------------------------------------------------------- PCA residual
class PCAResidual(_Thresholded):
    """Xu et al.'s PCA detector: squared prediction error off the normal subspace, Q-statistic threshold.

    Parameters: ``variance`` explained by the normal subspace, ``alpha`` significance of the Q-statistic,
    ``fpr`` (optional) raises the threshold to the ``1 - fpr`` training quantile of the SPE when the
    Q-statistic (which assumes Gaussian data) would flag more than that share of the training sessions,
    ``scale`` applied to counts before centring (``log1p``, ``none``, ``binary``).
    """

    def __init__(
        self, variance: float = 0.95, alpha: float = 0.001, fpr: float | None = None, scale: str = "log1p"
    ) -> None:
        self.variance = variance
        self.alpha = alpha
        self.fpr = fpr
        self.scale = scale

    def fit(self, X: Any, y: Any = None) -> PCAResidual:
        if not 0.0 < float(self.variance) <= 1.0:
            raise AnomalyModelError(f"variance must be in (0, 1], got {self.variance!r}")
        if not 0.0 < float(self.alpha) < 0.5:
            raise AnomalyModelError(f"alpha must be in (0, 0.5), got {self.alpha!r}")
        Z = _transform(self.scale, _validate(self, X, reset=True))
        self.mean_ = Z.mean(axis=0)
        A = Z - self.mean_
        _, s, vt = np.linalg.svd(A, full_matrices=False)
        eig = s**2 / max(1, len(A) - 1)
        total = float(eig.sum())
        if total <= 0.0:
            k = 0
        else:
            k = int(np.searchsorted(np.cumsum(eig) / total, self.variance - 1e-12) + 1)
            k = min(k, len(eig))
        self.n_components_ = k
        self.components_ = vt[:k]
        train_spe = self._spe(A)
        threshold = self._q_statistic(eig[k:], total, train_spe)
        if self.fpr is not None:  # counts are not Gaussian: never flag more than fpr of the training data
            fpr = self.effective_fpr_ = _effective_fpr(_check_fpr(self.fpr), len(train_spe))
            threshold = max(threshold, _quantile_threshold(train_spe, fpr))
        self._set_threshold(train_spe, threshold)
        return self

    def _q_statistic(self, residual_eig: np.ndarray, total: float, train_spe: np.ndarray) -> float:
        from scipy.stats import norm

        phi = [float((residual_eig**i).sum()) for i in (1, 2, 3)]
        if total > 0 and phi[0] > 1e-12 * total and phi[1] > 0:
            h0 = 1.0 - 2.0 * phi[0] * phi[2] / (3.0 * phi[1] ** 2)
            c = norm.ppf(1.0 - self.alpha)
            if h0 > 0:
                q = phi[0] * (c * np.sqrt(2.0 * phi[1] * h0**2) / phi[0] + 1.0
                              + phi[1] * h0 * (h0 - 1.0) / phi[0] ** 2) ** (1.0 / h0)
                if np.isfinite(q):
                    return float(q)
        # Residual space (numerically) empty or the statistic undefined: use the training quantile, but
        # never below a rounding-error floor, so a vector *in* the normal subspace is not flagged.
        floor = 1e-9 * max(total, 1.0)
        return max(_quantile_threshold(train_spe, self.alpha), floor)

    def _spe(self, A: np.ndarray) -> np.ndarray:
        residual = A - (A @ self.components_.T) @ self.components_ if self.n_components_ else A
        return np.einsum("ij,ij->i", residual, residual)

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return self._spe(_transform(self.scale, X) - self.mean_)


# ------------------------------------------------------------------------------------- invariants
class InvariantsMiner(_Thresholded):
    """Lou et al.'s invariants: integer relations ``c . counts = 0`` over 2..``max_terms`` templates.

    A relation is kept when it holds exactly in at least ``min_support`` of training sessions and at
    least half of those have a non-zero term (so ``0 = 0`` does not count as evidence), its coefficients
    are integers of magnitude at most ``max_coef``, and no smaller kept relation uses a subset of its
    templates. Only the ``max_features`` most frequent templates are searched, which bounds the
    search at C(max_features, max_terms) small SVDs.
    """

    def __init__(
        self,
        fpr: float = DEFAULT_FPR,
        min_support: float = 0.98,
        max_terms: int = 3,
        max_coef: int = 3,
        max_features: int = 40,
        max_rows: int = 20000,
    ) -> None:
        self.fpr = fpr
        self.min_support = min_support
        self.max_terms = max_terms
        self.max_coef = max_coef
        self.max_features = max_features
        self.max_rows = max_rows

    def fit(self, X: Any, y: Any = None) -> InvariantsMiner:
        _check_fpr(self.fpr)
        if not 0.5 <= float(self.min_support) <= 1.0:
            raise AnomalyModelError(f"min_support must be in [0.5, 1], got {self.min_support!r}")
        if int(self.max_terms) < 2:
            raise AnomalyModelError("max_terms must be at least 2")
        X = _validate(self, X, reset=True)
        rows = X
        if len(rows) > self.max_rows:  # the search runs on a deterministic sample; support uses every row
            rows = X[np.linspace(0, len(X) - 1, self.max_rows).astype(int)]
        frequency = (rows != 0).mean(axis=0)
        candidates = [int(j) for j in np.argsort(-frequency, kind="stable")[: self.max_features]
                      if frequency[j] > 0]
        found: list[tuple[tuple[int, ...], np.ndarray]] = []
        for size in range(2, int(self.max_terms) + 1):
            for cols in itertools.combinations(candidates, size):
                if any(set(c) <= set(cols) for c, _ in found):
                    continue
                coef = self._relation(rows[:, cols])
                if coef is not None and self._holds(X[:, cols], coef):
                    found.append((tuple(sorted(cols)), coef[np.argsort(cols)]))
        self.invariants_ = found
        scores = self._violations(X)
        self.effective_fpr_ = _effective_fpr(float(self.fpr), len(X))
        self._set_threshold(scores, _quantile_threshold(scores, self.effective_fpr_))
        return self

    def _relation(self, S: np.ndarray) -> np.ndarray | None:
        """An integer null vector of S (robust to a few violating rows), or None."""
        active = S[(S != 0).any(axis=1)]
        if len(active) < 2:
            return None
        for _ in range(2):  # fit, drop the rows that disagree most, refit
            _, sv, vt = np.linalg.svd(active, full_matrices=False)
            v = vt[-1]
            if sv[-1] > 1e-6 * max(1.0, sv[0]) and len(active) <= S.shape[1]:
                return None
            residual = np.abs(active @ v)
            keep = residual <= np.quantile(residual, self.min_support)
            if keep.sum() < 2:
                return None
            active = active[keep]
        nonzero = np.abs(v) > 1e-6 * np.abs(v).max()
        if not nonzero.all():
            return None
        scaled = v / np.abs(v[nonzero]).min()
        coef = np.round(scaled)
        if np.abs(scaled - coef).max() > 1e-3 or np.abs(coef).max() > self.max_coef:
            return None
        return coef if coef[0] > 0 else -coef

    def _holds(self, S: np.ndarray, coef: np.ndarray) -> bool:
        ok = np.abs(S @ coef) < 1e-9
        informative = ok & (S != 0).any(axis=1)
        return bool(ok.mean() >= self.min_support and informative.sum() >= 0.5 * ok.sum())

    def _violations(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros(len(X))
        for cols, coef in self.invariants_:
            out += np.abs(X[:, list(cols)] @ coef) >= 1e-9
        return out

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return self._violations(X)


# ------------------------------------------------------------------------------ next-template n-grams
_START, _END = "\x02start", "\x03end"


def _grams(seq: tuple[str, ...], n: int) -> list[tuple[str, ...]]:
    padded = (_START,) * (n - 1) + seq + (_END,)
    return [padded[i:i + n] for i in range(len(padded) - n + 1)]


class NgramNovelty(_Thresholded):
    """DeepLog-style next-template check: count transitions never seen in training (see module doc).

    Input: sessions as sequences of template ids. ``n`` is the n-gram order (history ``n - 1``) or
    ``"auto"`` (largest order up to ``max_n`` whose leave-one-out miss rate is at most ``fpr``).
    """

    def __init__(self, n: int | Literal["auto"] = "auto", max_n: int = 10, fpr: float = DEFAULT_FPR) -> None:
        self.n = n
        self.max_n = max_n
        self.fpr = fpr

    def fit(self, X: Any, y: Any = None) -> NgramNovelty:
        sequences = check_sequences(X)
        fpr = self.effective_fpr_ = _effective_fpr(_check_fpr(self.fpr), len(sequences))
        orders = range(1, int(self.max_n) + 1) if self.n == "auto" else [int(self.n)]
        if not orders or min(orders) < 1:
            raise AnomalyModelError(f"n must be 'auto' or a positive integer, got {self.n!r}")
        unique = Counter(sequences)
        chosen: tuple[int, set[tuple[str, ...]], np.ndarray] | None = None
        self.loo_fpr_by_order_ = {}
        for n in orders:
            support: Counter[tuple[str, ...]] = Counter()
            grams_of = {seq: set(_grams(seq, n)) for seq in unique}
            for seq, mult in unique.items():
                for g in grams_of[seq]:
                    support[g] += mult
            loo = np.array([0.0 if mult > 1 else float(sum(support[g] == 1 for g in grams_of[seq]))
                            for seq, mult in unique.items()])
            weights = np.array(list(unique.values()), dtype=np.float64)
            rate = float((weights * (loo > 0)).sum() / weights.sum())
            self.loo_fpr_by_order_[n] = rate
            if chosen is None or rate <= fpr or self.n != "auto":
                chosen = (n, set(support), np.repeat(loo, weights.astype(int)))
            if self.n == "auto" and rate > fpr:
                break
        assert chosen is not None
        self.n_, self.grams_, train_scores = chosen
        self._set_threshold(train_scores, _quantile_threshold(train_scores, fpr))
        return self

    def _prepare(self, X: Any) -> list[tuple[str, ...]]:
        return check_sequences(X, allow_empty=True)

    def _anomaly_score(self, X: list[tuple[str, ...]]) -> np.ndarray:
        grams, n = self.grams_, self.n_
        return np.array([float(sum(g not in grams for g in _grams(seq, n))) for seq in X], dtype=np.float64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


# ------------------------------------------------------------------------------- the session model
#: Members of :class:`SessionAnomalyDetector` by name: whether they read counts or sequences, and a factory.
MEMBERS: dict[str, tuple[str, Callable[[float], BaseEstimator]]] = {
    "new": ("sequences", lambda fpr: NgramNovelty(n=1, fpr=fpr)),  # a template never seen in training
    "count": ("counts", lambda fpr: CountVectorNovelty(fpr=fpr)),
    "pca": ("counts", lambda fpr: PCAResidual(alpha=min(0.001, fpr), fpr=fpr)),
    "invariants": ("counts", lambda fpr: InvariantsMiner(fpr=fpr)),
    "ngram": ("sequences", lambda fpr: NgramNovelty(fpr=fpr)),
}
#: The default members: what happened (count novelty), in what order (n-grams), in what proportions (PCA).
DEFAULT_MEMBERS: tuple[str, ...] = ("count", "ngram", "pca")


class SessionAnomalyDetector(_Thresholded):
    """The session/window model: a template vectoriser plus unsupervised members (see module doc).

    ``members`` names entries of :data:`MEMBERS`; ``fpr`` is split evenly between them, so the whole
    model's false-positive rate on normal data stays near ``fpr`` (a union bound).
    """

    def __init__(self, members: Sequence[str] = DEFAULT_MEMBERS, fpr: float = DEFAULT_FPR) -> None:
        self.members = members
        self.fpr = fpr

    def fit(self, X: Any, y: Any = None) -> SessionAnomalyDetector:
        fpr = _check_fpr(self.fpr)
        names = list(self.members)
        unknown = [m for m in names if m not in MEMBERS]
        if not names or unknown:
            raise AnomalyModelError(f"unknown member(s) {unknown or '[]'}; choose from {', '.join(MEMBERS)}")
        sequences = check_sequences(X)
        self.vectorizer_ = SessionVectorizer().fit(sequences)
        counts = self.vectorizer_.transform(sequences)
        if len(sequences) < 2:
            raise AnomalyModelError("need at least 2 training sessions")
        share = fpr / len(names)
        self.members_ = {}
        spreads = {}
        for name in names:
            kind, factory = MEMBERS[name]
            member = factory(share).fit(counts if kind == "counts" else sequences)
            self.members_[name] = member
            spreads[name] = float(np.std(member.train_scores_)) or 1.0
        self.spreads_ = spreads
        # The union bound over members: what the whole model aims for, given the training-set size.
        self.effective_fpr_ = float(sum(getattr(m, "effective_fpr_", share) for m in self.members_.values()))
        train = np.column_stack([self._scaled(name, m.train_scores_) for name, m in self.members_.items()])
        self._set_threshold(train.max(axis=1), 0.0)
        return self

    def _scaled(self, name: str, scores: np.ndarray) -> np.ndarray:
        member = self.members_[name]
        return (np.asarray(scores, dtype=np.float64) - member.threshold_) / self.spreads_[name]

    def _prepare(self, X: Any) -> list[tuple[str, ...]]:
        return check_sequences(X, allow_empty=True)

    def member_scores(self, X: Any) -> dict[str, np.ndarray]:
        """Each member's raw anomaly score (compare with ``members_[name].threshold_``)."""
        check_is_fitted(self, "members_")
        return self._member_scores(self._prepare(X))

    def _member_scores(self, sequences: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
        counts = self.vectorizer_.transform(sequences)
        return {name: member._anomaly_score(counts if MEMBERS[name][0] == "counts" else sequences)
                for name, member in self.members_.items()}

    def _anomaly_score(self, X: list[tuple[str, ...]]) -> np.ndarray:
        if not X:
            return np.zeros(0)
        scores = self._member_scores(X)
        return np.column_stack([self._scaled(name, s) for name, s in scores.items()]).max(axis=1)

    def score_one(self, sequence: Sequence[str]) -> float:
        """Anomaly score of one session (> 0 means anomalous); the fast path for the scorer."""
        return float(self._anomaly_score([tuple(str(t) for t in sequence)])[0])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


def parse_method(method: str) -> tuple[str, ...]:
    """Members named by a method string: ``"ensemble"`` (the default members) or ``"a+b+..."``."""
    if method == "ensemble":
        return DEFAULT_MEMBERS
    names = tuple(part.strip() for part in str(method).split("+") if part.strip())
    unknown = [n for n in names if n not in MEMBERS]
    if not names or unknown or len(set(names)) != len(names):
        raise AnomalyModelError(
            f"unknown method {method!r}; use 'ensemble' or members joined by '+' from: {', '.join(MEMBERS)}"
        )
    return names


def make_session_detector(method: str = "ensemble", *, fpr: float = DEFAULT_FPR) -> SessionAnomalyDetector:
    """An unfitted session detector: ``"ensemble"`` or members joined by ``+`` (e.g. ``"new+pca"``)."""
    return SessionAnomalyDetector(members=parse_method(method), fpr=_check_fpr(fpr))


#: Classes a fitted session model may contain, for ``skops.io.load(..., trusted=SKOPS_TRUSTED_TYPES)``
#: (MLflow's sklearn flavour saves with skops). The supervised pipeline adds LightGBM's own types.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    *(f"{__name__}.{name}" for name in ("SessionAnomalyDetector", "SessionVectorizer", "CountVectorNovelty",
                                        "PCAResidual", "InvariantsMiner", "NgramNovelty")),
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
)


# ------------------------------------------------------------------------------------- supervised
def make_supervised_session_model(*, random_state: int = 0, n_estimators: int = 200) -> Pipeline:
    """``Pipeline(SessionVectorizer, LGBMClassifier)`` for labelled sessions (binary or multi-class)."""
    from lightgbm import LGBMClassifier

    return Pipeline(
        [
            ("vectorize", SessionVectorizer()),
            ("classify", LGBMClassifier(n_estimators=n_estimators, learning_rate=0.1, num_leaves=15,
                                        min_child_samples=5, random_state=random_state, n_jobs=1,
                                        deterministic=True, verbose=-1)),
        ]
    )


#: Columns :func:`make_event_alert_model` reads from an events frame (missing ones are treated as empty).
EVENT_COLUMNS: tuple[str, ...] = ("template_id", "level", "component", "content")


def _event_frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise AnomalyModelError("the event alert model takes an events DataFrame")
    frame = pd.DataFrame(index=X.index)
    for column in EVENT_COLUMNS:
        values = X[column] if column in X.columns else pd.Series("", index=X.index)
        frame[column] = values.fillna("").astype(str)
    return frame


def make_event_alert_model(*, classifier: str = "lightgbm", random_state: int = 0) -> Pipeline:
    """Per-event supervised model (alert / not, or a category) over structured and text features.

    Features: one-hot template id, level and component, plus TF-IDF of the alphabetic words of the
    (redacted) content, so a template never seen in training still carries its words. ``classifier`` is
    ``lightgbm`` or ``linear`` (logistic regression, the baseline compared in the same run).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    features = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["template_id", "level", "component"]),
            ("words", TfidfVectorizer(token_pattern=r"(?u)\b[A-Za-z][A-Za-z]+\b", lowercase=True,
                                      sublinear_tf=True), "content"),
        ]
    )
    if classifier == "lightgbm":
        from lightgbm import LGBMClassifier

        model: Any = LGBMClassifier(n_estimators=200, learning_rate=0.1, num_leaves=15, min_child_samples=3,
                                    class_weight="balanced", random_state=random_state, n_jobs=1,
                                    deterministic=True, verbose=-1)
    elif classifier == "linear":
        model = LogisticRegression(max_iter=2000, class_weight="balanced")
    else:
        raise AnomalyModelError(f"unknown classifier {classifier!r}; use lightgbm or linear")
    return Pipeline([("columns", FunctionTransformer(_event_frame)), ("features", features),
                     ("classify", model)])


# ---------------------------------------------------------------------------------------- metrics
def binary_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Precision, recall, F1 and the confusion counts for boolean anomaly labels/predictions."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise AnomalyModelError("labels and predictions differ in length")
    tp = int((t & p).sum())
    fp = int((~t & p).sum())
    fn = int((t & ~p).sum())
    tn = int((~t & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


# --------------------------------------------------------------------------------------- builders
class SessionModelConfig(BaseModel):
    """Run parameters of the session/window anomaly models (validated; logged by the pipeline)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session: SessionConfig = SessionConfig()
    method: str = Field(default="ensemble", description="'ensemble' or members joined by '+' (see MEMBERS).")
    fpr: float = Field(default=DEFAULT_FPR, gt=0.0, lt=0.5, description="Target false-positive rate on normal data.")
    min_sessions: int = Field(default=10, ge=2, description="Refuse to train on fewer sessions.")
    holdout: float = Field(default=0.2, ge=0.0, lt=1.0,
                           description="Share of sessions (latest by start) held back for evaluation.")
    random_state: int = 0


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator with what the tracking layer logs beside it."""

    estimator: Any
    metrics: dict[str, float]
    params: dict[str, Any]
    feature_view: str  # the view tag and session key, e.g. "sessions/v1 block_id"
    n_train: int
    eval_sessions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def _sessions_with_labels(
    sessions: pd.DataFrame, labels: Mapping[str, Any] | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    if labels is None:
        return sessions, None
    y = sessions["session_id"].map(lambda s: labels.get(s))
    known = y.notna().to_numpy()
    return sessions[known].reset_index(drop=True), np.asarray(y[known].tolist())


def _chronological_split(sessions: pd.DataFrame, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and held-back sessions: the latest ``holdout`` share *of each service's*
    sessions (by their first service; ``sessions`` is ordered by start) is held back, so services logged
    in different periods each contribute their own recent part."""
    services = sessions["services"].map(lambda s: s[0] if len(s) else "").to_numpy(dtype=object)
    train: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for positions in pd.Series(np.arange(len(sessions))).groupby(services, sort=True).indices.values():
        cut = len(positions) - round(len(positions) * holdout)
        train.append(positions[:cut])
        held.append(positions[cut:])
    if not train:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def build_session_anomaly_model(
    events: pd.DataFrame,
    config: SessionModelConfig | None = None,
    *,
    labels: Mapping[str, bool | int] | None = None,
) -> TrainedModel:
    """Cut ``events`` into sessions, fit the unsupervised detector on normal sessions, and measure it.

    Without ``labels`` every session is taken as normal (train on a quiet period); the metrics are the
    training-side ones (sessions, templates, threshold, estimated false-positive rate) and the held-back
    share of sessions is scored to report its flag rate. With ``labels`` (session id -> anomalous?), only
    labelled sessions are used, the latest ``holdout`` share (by start time) is held back, the detector is
    fit on the *normal* sessions before it, and precision/recall/F1 on the held-back part are reported.
    """
    config = config or SessionModelConfig()
    sessions = build_sessions(events, config.session)
    return _fit_unsupervised(sessions, config, labels)


def build_window_anomaly_model(
    events: pd.DataFrame,
    config: SessionModelConfig | None = None,
    *,
    labels: Mapping[str, bool | int] | None = None,
) -> TrainedModel:
    """Like :func:`build_session_anomaly_model` with (service, time window) sessions.

    The window comes from ``config.session.window`` (default 5 min); a config whose key is not
    ``time_window`` is switched to one.
    """
    config = config or SessionModelConfig()
    if config.session.key is not SessionKey.TIME_WINDOW:
        session = SessionConfig(key=SessionKey.TIME_WINDOW, window=config.session.window,
                                partition_by=config.session.partition_by)
        config = config.model_copy(update={"session": session})
    return build_session_anomaly_model(events, config, labels=labels)


def _fit_unsupervised(
    sessions: pd.DataFrame, config: SessionModelConfig, labels: Mapping[str, Any] | None
) -> TrainedModel:
    SESSIONS.validate(sessions)
    sessions, y = _sessions_with_labels(sessions, labels)
    if len(sessions) < config.min_sessions:
        raise TooFewSessions(
            f"only {len(sessions)} sessions (key {config.session.tag}); need at least {config.min_sessions}"
        )
    train_idx, eval_idx = _chronological_split(sessions, config.holdout)
    sequences = sessions["sequence"].tolist()
    train = [sequences[i] for i in train_idx if y is None or not bool(y[i])]
    if len(train) < config.min_sessions:
        raise TooFewSessions(f"only {len(train)} normal training sessions; need at least {config.min_sessions}")
    detector = make_session_detector(config.method, fpr=config.fpr).fit(train)
    metrics: dict[str, float] = {
        "n_train_sessions": float(len(train)),
        "n_templates": float(len(detector.vectorizer_.vocabulary_)),
        "estimated_fpr": detector.estimated_fpr_,
    }
    for name, member in detector.members_.items():
        metrics[f"{name}_threshold"] = member.threshold_
        metrics[f"{name}_estimated_fpr"] = member.estimated_fpr_
    held = sessions.iloc[eval_idx].reset_index(drop=True)
    if y is not None:
        held["label"] = np.asarray(y[eval_idx], dtype=bool)
    if len(held):
        flags = is_anomaly(detector, held["sequence"].tolist())
        metrics["eval_flag_rate"] = float(flags.mean())
        if y is not None:
            truth = np.asarray(y[eval_idx], dtype=bool)
            for key, value in binary_metrics(truth, flags).items():
                metrics[f"eval_{key}"] = float(value)
    params = {"method": config.method, "fpr": config.fpr, "session_key": config.session.tag,
              "members": ",".join(detector.members_), "model_version": MODEL_VERSION}
    return TrainedModel(detector, metrics, params, f"{SESSIONS.tag} {config.session.tag}", len(train), held)


def build_supervised_session_model(
    events: pd.DataFrame,
    labels: Mapping[str, Any],
    config: SessionModelConfig | None = None,
) -> TrainedModel:
    """Fit the LightGBM session classifier on labelled sessions; evaluate on the latest ``holdout`` share.

    ``labels`` maps session id -> class (bool/0-1 for anomaly detection, or a category name).
    """
    config = config or SessionModelConfig()
    sessions, y = _sessions_with_labels(build_sessions(events, config.session), labels)
    if y is None or len(sessions) < config.min_sessions:
        raise TooFewSessions(f"only {len(sessions)} labelled sessions; need at least {config.min_sessions}")
    train_idx, eval_idx = _chronological_split(sessions, config.holdout)
    if len(set(y[train_idx].tolist())) < 2:
        raise TooFewSessions("the training part holds a single class; supervised training needs two")
    sequences = sessions["sequence"].tolist()
    model = make_supervised_session_model(random_state=config.random_state)
    model.fit([sequences[i] for i in train_idx], y[train_idx])
    metrics: dict[str, float] = {"n_train_sessions": float(len(train_idx)), "n_classes": float(len(set(y)))}
    if len(eval_idx):
        predicted = model.predict([sequences[i] for i in eval_idx])
        truth = y[eval_idx]
        metrics["eval_accuracy"] = float(np.mean(predicted == truth))
        classes = set(y.tolist())
        if len(classes) == 2 and all(isinstance(c, (bool, int)) and int(c) in (0, 1) for c in classes):
            for key, value in binary_metrics(truth.astype(int) == 1, predicted.astype(int) == 1).items():
                metrics[f"eval_{key}"] = float(value)
    params = {"method": "lightgbm", "session_key": config.session.tag, "model_version": MODEL_VERSION}
    held = sessions.iloc[eval_idx].reset_index(drop=True).assign(label=y[eval_idx])
    return TrainedModel(model, metrics, params, f"{SESSIONS.tag} {config.session.tag}", len(train_idx), held)


# ------------------------------------------------------------------------------------ served models
class SessionModel(BaseEstimator):
    """A session or window model *with its preprocessing*: how events are cut into sessions (``session``)
    and the fitted model over their template sequences (``model``: a :class:`SessionAnomalyDetector` or
    the supervised pipeline). What the registry stores and the scorer loads, so raw events go in.

    ``predict``/``anomaly_score`` take sessions (a :data:`~triage.features.sessions.SESSIONS` frame or
    sequences); :meth:`score_events` takes an events frame. For an unsupervised detector the score is its
    scaled anomaly score (> 0 is anomalous); for a classifier, the probability of the anomalous class.
    """

    def __init__(self, session: SessionConfig | None = None, model: Any = None) -> None:
        self.session = session
        self.model = model

    def fit(self, X: Any, y: Any = None) -> SessionModel:
        from sklearn.base import clone

        if self.model is None:
            raise AnomalyModelError("SessionModel needs a model to fit")
        sequences = check_sequences(X)
        self.model_ = clone(self.model).fit(sequences) if y is None else clone(self.model).fit(sequences, y)
        return self

    @classmethod
    def of(cls, session: SessionConfig, fitted: Any) -> SessionModel:
        """Wrap an already fitted model (a builder's) without refitting it."""
        out = cls(session=session, model=fitted)
        out.model_ = fitted
        return out

    @property
    def supervised(self) -> bool:
        return hasattr(self.model_, "predict_proba")

    def sessions(self, events: pd.DataFrame) -> pd.DataFrame:
        return build_sessions(events, self.session or SessionConfig())

    def predict(self, X: Any) -> np.ndarray:
        """``-1`` anomalous / ``1`` normal, for detectors and classifiers alike."""
        check_is_fitted(self, "model_")
        return np.where(self._flags(check_sequences(X, allow_empty=True)), -1, 1).astype(np.int64)

    def anomaly_score(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self._scores(check_sequences(X, allow_empty=True))

    def _scores(self, sequences: list[tuple[str, ...]]) -> np.ndarray:
        if not sequences:
            return np.zeros(0)
        if self.supervised:
            proba = self.model_.predict_proba(sequences)
            classes = list(self.model_.classes_)
            positive = next((i for i, c in enumerate(classes) if _is_positive(c)), len(classes) - 1)
            return proba[:, positive]
        return self.model_.anomaly_score(sequences)

    def _flags(self, sequences: list[tuple[str, ...]]) -> np.ndarray:
        if not sequences:
            return np.zeros(0, dtype=bool)
        if self.supervised:
            return np.array([_is_positive(c) for c in self.model_.predict(sequences)], dtype=bool)
        return is_anomaly(self.model_, sequences)

    def score_events(self, events: pd.DataFrame) -> pd.DataFrame:
        """The sessions of ``events`` with ``score`` and ``anomalous`` columns."""
        check_is_fitted(self, "model_")
        sessions = self.sessions(events)
        sequences = sessions["sequence"].tolist()
        scores = self._scores(sequences)
        # a detector's predict is (anomaly score > threshold): reuse the scores instead of computing them twice
        flags = self._flags(sequences) if self.supervised else scores > self.model_.threshold_
        return sessions.assign(score=scores, anomalous=flags)


def _is_positive(label: Any) -> bool:
    """Whether a class label means 'anomalous' (True, 1, 'anomaly', ...)."""
    if isinstance(label, (bool, np.bool_)):
        return bool(label)
    if isinstance(label, (int, np.integer)):
        return int(label) == 1
    return str(label).strip().lower() in _POSITIVE


_POSITIVE = frozenset({"1", "true", "anomaly", "anomalous", "abnormal", "yes"})
_NEGATIVE = frozenset({"0", "false", "normal", "no"})
#: Column names recognised in a labelled session table: the session id, and its label.
ID_COLUMNS = ("session_id", "SessionId", "BlockId", "block_id")
LABEL_COLUMNS = ("label", "Label", "anomaly", "is_anomaly")


def session_labels(tables: Mapping[str, pd.DataFrame], name: str | None = None) -> dict[str, bool] | None:
    """Session labels (id -> anomalous?) from the labelled tables of a training run.

    A table qualifies when it has an id column (:data:`ID_COLUMNS`) and a label column
    (:data:`LABEL_COLUMNS`) whose values are booleans, 0/1 or words such as Normal/Anomaly. ``name`` picks
    one table; by default every qualifying table is merged. None when no table qualifies."""
    if name is not None and name not in tables:
        raise InvalidInput(f"no labelled table named {name!r} (tables: {', '.join(sorted(tables)) or 'none'})")
    chosen = {name: tables[name]} if name is not None else dict(tables)
    labels: dict[str, bool] = {}
    found = False
    for table_name, table in chosen.items():
        id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
        label_column = next((c for c in LABEL_COLUMNS if c in table.columns), None)
        if id_column is None or label_column is None:
            if name is not None:
                raise InvalidInput(f"table {name!r} has no session id ({', '.join(ID_COLUMNS)}) and label "
                                   f"({', '.join(LABEL_COLUMNS)}) columns")  # fmt: skip
            continue
        found = True
        for session_id, value in zip(table[id_column].astype(str), table[label_column], strict=True):
            text = str(value).strip().lower()
            if text not in _POSITIVE and text not in _NEGATIVE:
                raise InvalidInput(f"table {table_name!r}: label {value!r} of session {session_id} is neither "
                                   "normal nor anomalous")  # fmt: skip
            labels[session_id] = text in _POSITIVE
    return labels if found else None


def session_eval_score(model: Any, frame: pd.DataFrame) -> float:
    """Score of a session model on a held-back sessions frame: F1 of its anomaly flags against ``label``
    when the frame holds labelled anomalies; otherwise (unlabelled data is taken as normal) the share of
    sessions it does *not* flag. What promotion compares for the session and window models."""
    if "sequence" not in frame.columns:
        raise InvalidInput("a session evaluation frame needs a 'sequence' column")
    flags = is_anomaly(model, frame["sequence"].tolist())
    if "label" in frame.columns:
        truth = np.array([_is_positive(v) for v in frame["label"]], dtype=bool)
        if truth.any():
            return float(binary_metrics(truth, flags)["f1"])
    return float(1.0 - flags.mean()) if len(flags) else 0.0


SESSION_MODEL_NAME = "session-anomaly"
WINDOW_MODEL_NAME = "window-anomaly"
SUPERVISED_MODEL_NAME = "session-classifier"


def _spec_config(name: str, params: Mapping[str, Any], default_session: SessionConfig,
                 random_state: int) -> tuple[SessionModelConfig, str | None]:  # fmt: skip
    from pydantic import ValidationError

    values = dict(params)
    table = values.pop("labels", None)
    values.setdefault("session", default_session)
    values.setdefault("random_state", random_state)
    try:
        return SessionModelConfig(**values), table
    except ValidationError as exc:
        err = exc.errors()[0]
        raise AnomalyModelError(f"{name} parameter {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


def _finish(trained: TrainedModel, session: SessionConfig, score: Callable[[Any, pd.DataFrame], float]) -> TrainedModel:
    wrapped = SessionModel.of(session, trained.estimator)
    metrics = dict(trained.metrics)
    if len(trained.eval_sessions):
        metrics["eval_score"] = score(wrapped, trained.eval_sessions)
    return TrainedModel(wrapped, metrics, trained.params, trained.feature_view, trained.n_train,
                        trained.eval_sessions)


def build_session_model_spec(inputs: TrainingInputs) -> TrainedModel:
    """Registry entry of ``session-anomaly``: block-id sessions (by default) of the store's events, the
    unsupervised detector fit on normal ones; labelled tables, when any match the session ids (param
    ``labels: TABLE`` names one, ``labels: none`` ignores them), give the held-back F1."""
    config, table = _spec_config(SESSION_MODEL_NAME, inputs.params, SessionConfig(), inputs.random_state)
    labels = None if table == "none" else session_labels(inputs.label_tables, table)
    sessions = build_sessions(inputs.events, config.session)
    if labels is not None and not sessions["session_id"].isin(labels.keys()).any():
        labels = None  # the labels are about other sessions: train on these as unlabelled
    return _finish(_fit_unsupervised(sessions, config, labels), config.session, session_eval_score)


def build_window_model_spec(inputs: TrainingInputs) -> TrainedModel:
    """Registry entry of ``window-anomaly``: (service, 5-minute window) sessions, unsupervised."""
    default = SessionConfig(key=SessionKey.TIME_WINDOW, window="5min")
    config, _ = _spec_config(WINDOW_MODEL_NAME, inputs.params, default, inputs.random_state)
    trained = build_window_anomaly_model(inputs.events, config)
    session = config.session if config.session.key is SessionKey.TIME_WINDOW else SessionConfig(
        key=SessionKey.TIME_WINDOW, window=config.session.window, partition_by=config.session.partition_by)
    return _finish(trained, session, session_eval_score)


def build_supervised_spec(inputs: TrainingInputs) -> TrainedModel:
    """Registry entry of ``session-classifier``: the LightGBM session classifier where session labels exist."""
    config, table = _spec_config(SUPERVISED_MODEL_NAME, inputs.params, SessionConfig(), inputs.random_state)
    labels = session_labels(inputs.label_tables, table) if table != "none" else None
    if not labels:
        raise InsufficientData(f"{SUPERVISED_MODEL_NAME} needs labelled sessions (a table with "
                               f"{'/'.join(ID_COLUMNS)} and {'/'.join(LABEL_COLUMNS)} columns)")  # fmt: skip
    trained = build_supervised_session_model(inputs.events, labels, config)
    return _finish(trained, config.session, session_eval_score)


MODEL_SPECS = (
    ModelSpec(
        name=SESSION_MODEL_NAME,
        description="Anomalous sessions (HDFS blocks by default): count novelty + n-grams + PCA, normal-only.",
        build=build_session_model_spec,
        score=session_eval_score,
        primary_metric="eval_score",
    ),
    ModelSpec(
        name=WINDOW_MODEL_NAME,
        description="Anomalous (service, 5-minute window) event mixes: the session detector over time windows.",
        build=build_window_model_spec,
        score=session_eval_score,
        primary_metric="eval_score",
    ),
    ModelSpec(
        name=SUPERVISED_MODEL_NAME,
        description="Supervised LightGBM over session template counts, where session labels exist.",
        build=build_supervised_spec,
        score=session_eval_score,
        primary_metric="eval_score",
    ),
)

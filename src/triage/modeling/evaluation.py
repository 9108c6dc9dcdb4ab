"""Metrics for classifiers: pure functions over labels and probabilities (no models, no I/O).

* :func:`macro_f1` and :func:`per_class_report` — the headline metric and its per-class breakdown. Macro
  averages run over the classes present in the truth *or* the predictions (a class predicted but never
  true counts as F1 0), so predicting an unseen category is never free.
* :func:`reliability_table` — calibration per class (one-vs-rest): predictions are binned by the
  probability given to the class; each bin reports its mean predicted probability and the observed
  frequency of the class. ``class = "*top*"`` is the usual top-label (confidence) reliability.
* :func:`expected_calibration_error` — ECE: the support-weighted mean |observed − predicted| over the
  bins of one class (or of the top label); :func:`calibration_summary` gives it for every class.
* :func:`chronological_split` — the latest ``test_fraction`` of each group (dataset) by time, so a model
  is always evaluated on events that happened after the ones it learnt from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import InvalidInput

TOP_LABEL = "*top*"


def _arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=object)
    p = np.asarray(y_pred, dtype=object)
    if t.shape != p.shape or t.ndim != 1:
        raise InvalidInput(f"labels and predictions must be 1-d and equally long ({t.shape} vs {p.shape})")
    return t, p


def per_class_report(y_true: Any, y_pred: Any, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Precision, recall, F1 and support per class (rows sorted by class name)."""
    t, p = _arrays(y_true, y_pred)
    classes = sorted(set(t.tolist()) | set(p.tolist())) if labels is None else list(labels)
    rows = []
    for c in classes:
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": c, "precision": precision, "recall": recall, "f1": f1, "support": tp + fn})
    return pd.DataFrame(rows, columns=["class", "precision", "recall", "f1", "support"])


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean F1 over the classes in the truth or the predictions (0.0 for no rows)."""
    t, _ = _arrays(y_true, y_pred)
    if len(t) == 0:
        return 0.0
    return float(per_class_report(y_true, y_pred)["f1"].mean())


def accuracy(y_true: Any, y_pred: Any) -> float:
    t, p = _arrays(y_true, y_pred)
    return float(np.mean(t == p)) if len(t) else 0.0


def confusion_frame(y_true: Any, y_pred: Any, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts with true classes as rows and predicted classes as columns."""
    t, p = _arrays(y_true, y_pred)
    classes = sorted(set(t.tolist()) | set(p.tolist())) if labels is None else list(labels)
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for a, b in zip(t, p, strict=True):
        if a in index and b in index:
            counts[index[a], index[b]] += 1
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def _check_proba(y_true: Any, proba: Any, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=object)
    P = np.asarray(proba, dtype=np.float64)
    if P.ndim != 2 or P.shape != (len(t), len(classes)):
        raise InvalidInput(f"probabilities must have shape (n, {len(classes)}), got {P.shape}")
    if len(t) and (np.any(P < -1e-9) or np.any(P > 1 + 1e-9)):
        raise InvalidInput("probabilities must lie in [0, 1]")
    return t, P


def _bins(prob: np.ndarray, hit: np.ndarray, n_bins: int) -> pd.DataFrame:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = which == b
        n = int(mask.sum())
        rows.append({
            "bin": b, "lower": edges[b], "upper": edges[b + 1], "count": n,
            "predicted": float(prob[mask].mean()) if n else np.nan,
            "observed": float(hit[mask].mean()) if n else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def reliability_table(y_true: Any, proba: Any, classes: Sequence[str], *, n_bins: int = 10) -> pd.DataFrame:
    """Reliability bins per class (one-vs-rest) and for the top label (``class == "*top*"``)."""
    if n_bins < 1:
        raise InvalidInput("n_bins must be at least 1")
    t, P = _check_proba(y_true, proba, classes)
    frames = []
    for j, c in enumerate(classes):
        frames.append(_bins(P[:, j], (t == c).astype(float), n_bins).assign(**{"class": c}))
    if len(t):
        top = P.argmax(axis=1)
        hit = np.asarray([classes[k] for k in top], dtype=object) == t
        frames.append(_bins(P.max(axis=1), hit.astype(float), n_bins).assign(**{"class": TOP_LABEL}))
    out = pd.concat(frames, ignore_index=True)
    return out[["class", "bin", "lower", "upper", "count", "predicted", "observed"]]


def expected_calibration_error(table: pd.DataFrame, cls: str = TOP_LABEL) -> float:
    """Support-weighted mean |observed - predicted| over the non-empty bins of ``cls``."""
    rows = table[(table["class"] == cls) & (table["count"] > 0)]
    total = rows["count"].sum()
    if total == 0:
        return 0.0
    return float((rows["count"] * (rows["observed"] - rows["predicted"]).abs()).sum() / total)


def calibration_summary(y_true: Any, proba: Any, classes: Sequence[str], *, n_bins: int = 10) -> pd.DataFrame:
    """ECE of the top label and of every class (one-vs-rest), with each class's support and the Brier score."""
    t, P = _check_proba(y_true, proba, classes)
    table = reliability_table(t, P, classes, n_bins=n_bins)
    rows = [{"class": TOP_LABEL, "support": len(t), "ece": expected_calibration_error(table, TOP_LABEL),
             "brier": _brier(t, P, classes)}]
    for j, c in enumerate(classes):
        hit = (t == c).astype(float)
        rows.append({"class": c, "support": int(hit.sum()), "ece": expected_calibration_error(table, c),
                     "brier": float(np.mean((P[:, j] - hit) ** 2)) if len(t) else 0.0})
    return pd.DataFrame(rows)


def _brier(t: np.ndarray, P: np.ndarray, classes: Sequence[str]) -> float:
    if not len(t):
        return 0.0
    onehot = np.stack([(t == c).astype(float) for c in classes], axis=1)
    return float(np.mean(np.sum((P - onehot) ** 2, axis=1)))


def classwise_ece(y_true: Any, proba: Any, classes: Sequence[str], *, n_bins: int = 10) -> float:
    """Mean one-vs-rest ECE over the classes that occur in ``y_true``."""
    summary = calibration_summary(y_true, proba, classes, n_bins=n_bins)
    present = summary[(summary["class"] != TOP_LABEL) & (summary["support"] > 0)]
    return float(present["ece"].mean()) if len(present) else 0.0


def chronological_split(
    frame: pd.DataFrame, *, test_fraction: float = 0.3, time_column: str = "ts", group_column: str | None = "dataset"
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the train and test parts: the latest ``test_fraction`` of each group by time.

    Rows without a time keep their position among the timed rows of their group (stable sort, missing
    times last). A group with a single row goes to training.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInput("test_fraction must be between 0 and 1")
    if time_column not in frame.columns:
        raise InvalidInput(f"frame has no {time_column!r} column to split on")
    groups = frame[group_column] if group_column and group_column in frame.columns else pd.Series(0, index=frame.index)
    positions = np.arange(len(frame))
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    times = pd.to_datetime(frame[time_column])
    for _, idx in pd.Series(positions, index=frame.index).groupby(groups.to_numpy(), sort=True):
        pos = idx.to_numpy()
        order = pos[np.argsort(times.iloc[pos].to_numpy(), kind="stable")]
        n_test = round(len(order) * test_fraction) if len(order) > 1 else 0
        cut = len(order) - n_test
        train.append(order[:cut])
        test.append(order[cut:])
    return np.sort(np.concatenate(train or [np.array([], dtype=int)])), np.sort(np.concatenate(test or [np.array([], dtype=int)]))

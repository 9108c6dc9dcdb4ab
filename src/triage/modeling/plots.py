"""Plots the notebooks show (matplotlib; each function draws on an Axes it is given or creates one).

They take the frames of :mod:`triage.modeling.evaluation` and the views of :mod:`triage.features`, so a
notebook cell is one call. matplotlib is imported lazily; nothing here is needed to serve models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from triage.modeling.evaluation import TOP_LABEL


def _axes(ax: Any = None, size: tuple[float, float] = (6, 4)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)[1]


def confusion(frame: pd.DataFrame, *, ax: Any = None, normalise: bool = True, title: str = "") -> Any:
    """A confusion matrix (rows = truth) from :func:`~triage.modeling.evaluation.confusion_frame`."""
    ax = _axes(ax, (7, 6))
    values = frame.to_numpy(dtype=float)
    if normalise:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(len(frame.columns)), frame.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(frame.index)), frame.index, fontsize=7)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if frame.iat[i, j]:
                ax.text(j, i, str(frame.iat[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if values[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion (row-normalised)" if normalise else "confusion"))
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax


def reliability(table: pd.DataFrame, classes: Sequence[str] | None = None, *, ax: Any = None,
                min_support: int = 1, title: str = "reliability") -> Any:  # fmt: skip
    """Observed frequency against mean predicted probability per bin, one line per class (and the top
    label), from :func:`~triage.modeling.evaluation.reliability_table`. Classes whose positives number
    fewer than ``min_support`` are left out (nothing to see)."""
    ax = _axes(ax, (6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    wanted = list(classes) if classes is not None else list(dict.fromkeys(table["class"]))
    for cls in wanted:
        rows = table[(table["class"] == cls) & (table["count"] > 0)]
        positives = (rows["observed"] * rows["count"]).sum()
        if rows.empty or (cls != TOP_LABEL and positives < min_support):
            continue
        style = {"color": "black", "linewidth": 2.5} if cls == TOP_LABEL else {"linewidth": 1, "alpha": 0.8}
        ax.plot(rows["predicted"], rows["observed"], marker="o", markersize=3,
                label="top label (confidence)" if cls == TOP_LABEL else cls, **style)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    ax.legend(fontsize=6, loc="upper left")
    return ax


def metric_bars(frame: pd.DataFrame, *, x: str, y: str, hue: str, ax: Any = None, title: str = "") -> Any:
    """Grouped bars of ``y`` per ``x``, one bar per ``hue`` value (e.g. macro-F1 per dataset per model)."""
    ax = _axes(ax, (8, 4))
    wide = frame.pivot_table(index=x, columns=hue, values=y, aggfunc="first")
    width = 0.8 / max(1, len(wide.columns))
    for k, column in enumerate(wide.columns):
        ax.bar(np.arange(len(wide)) + k * width, wide[column].to_numpy(), width=width, label=str(column))
    ax.set_xticks(np.arange(len(wide)) + width * (len(wide.columns) - 1) / 2, wide.index, rotation=30, ha="right")
    ax.set_ylabel(y)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def precision_recall(y_true: Any, scores: Any, *, ax: Any = None, label: str = "") -> Any:
    """A precision-recall curve of anomaly scores (higher = more anomalous) against boolean labels."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    ax = _axes(ax)
    truth = np.asarray(y_true, dtype=bool)
    precision, recall, _ = precision_recall_curve(truth, np.asarray(scores, dtype=float))
    ap = average_precision_score(truth, np.asarray(scores, dtype=float)) if truth.any() else float("nan")
    ax.step(recall, precision, where="post", label=f"{label} (AP={ap:.3f})".strip())
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return ax


def score_distribution(scores: Any, labels: Any, *, ax: Any = None, bins: int = 40, title: str = "",
                       threshold: float | None = None) -> Any:  # fmt: skip
    """Histograms of anomaly scores for normal and anomalous items (log-scaled counts)."""
    ax = _axes(ax)
    s = np.asarray(scores, dtype=float)
    truth = np.asarray(labels, dtype=bool)
    edges = np.histogram_bin_edges(s[np.isfinite(s)], bins=bins)
    ax.hist(s[~truth], bins=edges, alpha=0.6, label=f"normal (n={int((~truth).sum())})", log=True)
    ax.hist(s[truth], bins=edges, alpha=0.6, label=f"anomalous (n={int(truth.sum())})", log=True)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("sessions")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def error_rate_lines(rates: pd.DataFrame, *, ax: Any = None, top: int = 6, title: str = "error rate") -> Any:
    """Error rate over time per service from a window_error_rates view (the ``top`` busiest services)."""
    ax = _axes(ax, (9, 3.5))
    busiest = rates.groupby("service")["n_errors"].sum().sort_values(ascending=False).head(top).index
    for service in busiest:
        part = rates[rates["service"] == service].sort_values("window_start")
        ax.plot(part["window_start"], part["error_rate"], linewidth=1, label=service)
    ax.set_ylabel("errors / events")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return ax

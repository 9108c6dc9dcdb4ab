"""Small robust statistics shared by the evidence extractors. Pure numpy."""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826


def robust_center_scale(values: np.ndarray, *, rel_floor: float = 0.02, abs_floor: float = 1e-9) -> tuple[float, float]:
    """(median, scale) of a baseline: scale = max(1.4826·MAD, IQR/1.349, rel_floor·|median|, abs_floor).

    The floors keep a flat baseline (MAD 0) from turning any wiggle into an infinite z-score.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    center = float(np.median(finite))
    mad = float(np.median(np.abs(finite - center))) * MAD_TO_SIGMA
    q75, q25 = np.percentile(finite, [75, 25])
    scale = max(mad, float(q75 - q25) / 1.349, rel_floor * abs(center), abs_floor)
    return center, scale


def upper_order_statistic(values: np.ndarray, *, fraction: float = 0.05) -> float:
    """The k-th largest value with k = ceil(fraction·n) (at least 1): a max that ignores lone spikes."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    k = max(1, int(np.ceil(fraction * finite.size)))
    return float(np.partition(finite, finite.size - k)[finite.size - k])


def poisson_llr(observed: np.ndarray | float, expected: np.ndarray | float) -> np.ndarray:
    """Log-likelihood ratio of a Poisson count against its expectation (>= 0, 0 when equal)."""
    obs = np.asarray(observed, dtype=float)
    exp = np.maximum(np.asarray(expected, dtype=float), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(obs > 0, obs * np.log(np.maximum(obs, 1e-12) / exp), 0.0)
    return np.maximum(term - (obs - exp), 0.0)


def llr_to_z(llr: np.ndarray | float) -> np.ndarray:
    """A log-likelihood ratio as the z-score of equal surprise (sqrt(2·LLR))."""
    return np.sqrt(2.0 * np.maximum(np.asarray(llr, dtype=float), 0.0))

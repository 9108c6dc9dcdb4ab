"""Small robust statistics shared by the evidence extractors. Pure numpy."""

from __future__ import annotations

import numpy as np

MAD_TO_SIGMA = 1.4826


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

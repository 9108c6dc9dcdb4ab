from __future__ import annotations

import numpy as np

from triage.rca.stats import llr_to_z, poisson_llr


def test_poisson_llr_is_zero_at_expectation_and_grows_with_surprise() -> None:
    assert poisson_llr(5.0, 5.0) == 0.0
    assert poisson_llr(0.0, 10.0) == 10.0  # nothing seen where ten were expected
    values = poisson_llr(np.array([6.0, 10.0, 20.0]), 5.0)
    assert np.all(np.diff(values) > 0)
    assert llr_to_z(2.0) == 2.0 and llr_to_z(-1.0) == 0.0

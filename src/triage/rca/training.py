"""Fit the root-cause ranker on labelled incidents (the only place labels are used besides scoring).

Feature extraction is the slow part, so it is done once per incident (:func:`incident_features`) and the
matrices are reused for leave-one-case-out refits (:func:`fit_ranker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.rca.bundle import IncidentBundle
from triage.rca.features import FEATURE_NAMES, LEAD_KINDS, EvidenceConfig, evidence_signals, service_features
from triage.rca.graph import ServiceGraph
from triage.rca.ranker import RootCauseRanker


@dataclass(frozen=True, slots=True)
class LabelledIncident:
    """One incident's feature matrix (rows = candidate services) and its true root-cause service."""

    case_id: str
    features: pd.DataFrame
    root_cause: str


def incident_features(bundle: IncidentBundle, config: EvidenceConfig | None = None) -> pd.DataFrame:
    """The feature matrix the analysis would build for this bundle."""
    signals = evidence_signals(bundle, config)
    return service_features(signals, ServiceGraph.from_bundle(bundle), bundle.services)


#: Where the ranker's coefficients are pulled when data is thin: every kind of direct evidence about a
#: service, and a clear lead in it, counts alike; secondary kinds count little. It keeps a kind of
#: fault that the training incidents rarely show (e.g. network delay in a system with chatty logs) from
#: being written off.
COEF_PRIOR: dict[str, float] = {
    "resource": 1.0, "io": 0.2, "latency": 0.5, "client_latency": 0.0, "network": 1.0, "errors": 1.0,
    "log_pattern": 1.0, "span_pattern": 0.5, "traffic": 0.0, "silenced": 1.0, "stopped": 0.0,
    "callee_symptoms": 0.0, "unexplained": 0.5, "caller_symptoms": 0.0, "caller_wait": 0.3,
    "downstream_silenced": 0.0, "callee_stopped": 0.5,
    **{f"lead_{kind}": 1.0 for kind in LEAD_KINDS},
}
DEFAULT_ALPHA = 3.0


def fit_ranker(incidents: Sequence[LabelledIncident], *, alpha: float = DEFAULT_ALPHA) -> RootCauseRanker:
    """A conditional-logit ranker fitted on incidents whose root cause is among their candidates."""
    usable = [i for i in incidents if i.root_cause in i.features.index]
    if not usable:
        raise ValueError("no incident has its root cause among the candidate services")
    X = pd.concat([i.features for i in usable], ignore_index=True)[list(FEATURE_NAMES)]
    y = np.concatenate([(i.features.index == i.root_cause).astype(int) for i in usable])
    groups = np.concatenate([np.full(len(i.features), n) for n, i in enumerate(usable)])
    prior = [COEF_PRIOR.get(name, 0.0) for name in FEATURE_NAMES]
    return RootCauseRanker(alpha=alpha, coef_prior=prior).fit(X, y, groups=groups)

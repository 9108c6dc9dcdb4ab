"""From a bundle to one feature row per candidate service.

1. Every extractor whose modality is present contributes signals (:mod:`triage.rca.signals`).
2. Per service and evidence kind, the strongest signal is kept, compressed as ``log1p(z)`` so one
   enormous z-score (a flat baseline) does not dwarf everything else.
3. Graph features encode "a cause explains its callers' symptoms; a symptom does not explain its callee":

   * ``callee_symptoms``  — the strongest symptom among the services it calls
   * ``unexplained``      — how much its own symptoms exceed its callees' (what no callee accounts for)
   * ``caller_symptoms``  — mean symptom level of its callers (the propagation a cause would produce)
   * ``caller_wait``      — mean outgoing-call latency of its callers (they wait on something)
   * ``downstream_silenced`` — the strongest ``silenced`` evidence among the services it (transitively)
     calls. Errors travel up the call chain and missing calls travel down, so a service still called as
     often that stopped doing part of its work is closer to the origin than its callers with errors
   * ``callee_stopped``   — the strongest ``stopped`` evidence among its callees: a callee that no longer
     receives requests points at the caller that stopped sending them

4. ``lead_<kind>``: how far the service leads the runner-up in that kind (0 unless it is first). Several
   services are always a little anomalous; one that stands clearly apart is what matters, whatever the
   kind and whatever the noise level of the system.

Missing modalities simply leave their kinds at zero, so metrics-only and logs-only bundles work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from triage.rca.bundle import IncidentBundle
from triage.rca.graph import ServiceGraph
from triage.rca.log_evidence import LogEvidenceConfig, log_signals
from triage.rca.metric_evidence import MetricEvidenceConfig, metric_signals
from triage.rca.signals import KINDS
from triage.rca.trace_evidence import TraceEvidenceConfig, trace_signals

GRAPH_FEATURES: tuple[str, ...] = (
    "callee_symptoms", "unexplained", "caller_symptoms", "caller_wait",
    "downstream_silenced", "callee_stopped",
)
#: Kinds whose single clear leader in an incident is telling on its own (``lead_<kind>`` features).
LEAD_KINDS: tuple[str, ...] = (
    "resource", "network", "errors", "log_pattern", "latency", "span_pattern", "silenced",
)
LEAD_FEATURES: tuple[str, ...] = tuple(f"lead_{k}" for k in LEAD_KINDS)
FEATURE_NAMES: tuple[str, ...] = (*KINDS, *GRAPH_FEATURES, *LEAD_FEATURES)
#: Kinds that a fault in a callee can cause in its callers (propagating symptoms).
_SYMPTOMS = ("latency", "errors", "log_pattern", "span_pattern", "resource", "network")
_CALLER_SYMPTOMS = ("latency", "errors", "log_pattern", "span_pattern")


@dataclass(frozen=True, slots=True)
class EvidenceConfig:
    metrics: MetricEvidenceConfig = field(default_factory=MetricEvidenceConfig)
    logs: LogEvidenceConfig = field(default_factory=LogEvidenceConfig)
    traces: TraceEvidenceConfig = field(default_factory=TraceEvidenceConfig)


def evidence_signals(bundle: IncidentBundle, config: EvidenceConfig | None = None) -> pd.DataFrame:
    """All signals of a bundle, from every modality it has."""
    cfg = config or EvidenceConfig()
    parts = [
        metric_signals(bundle, cfg.metrics),
        log_signals(bundle, cfg.logs),
        trace_signals(bundle, cfg.traces),
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return metric_signals(bundle, cfg.metrics).iloc[0:0]
    return pd.concat(parts, ignore_index=True)


def service_features(signals: pd.DataFrame, graph: ServiceGraph, services: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The feature matrix: one row per service (in ``services`` order), columns :data:`FEATURE_NAMES`."""
    names = list(dict.fromkeys(services))
    if len(signals):
        strongest = signals.groupby(["service", "kind"])["strength"].max().unstack()
    else:
        strongest = pd.DataFrame()
    own = strongest.reindex(index=names, columns=list(KINDS)).fillna(0.0).clip(lower=0.0)
    own = np.log1p(own)
    symptom = own[list(_SYMPTOMS)].max(axis=1)
    caller_symptom = own[list(_CALLER_SYMPTOMS)].max(axis=1)
    wait = own["client_latency"]

    def over(adjacency: dict[str, frozenset[str]], values: pd.Series, how: str) -> list[float]:
        out = []
        for service in names:
            neighbours = [values[n] for n in adjacency.get(service, ()) if n in values.index]
            if not neighbours:
                out.append(0.0)
            else:
                out.append(float(max(neighbours) if how == "max" else np.mean(neighbours)))
        return out

    features = own.copy()
    features["callee_symptoms"] = over(graph.callees, symptom, "max")
    features["unexplained"] = (symptom - features["callee_symptoms"]).clip(lower=0.0)
    features["caller_symptoms"] = over(graph.callers, caller_symptom, "mean")
    features["caller_wait"] = over(graph.callers, wait, "mean")
    features["downstream_silenced"] = [
        max((own.at[d, "silenced"] for d in graph.downstream(s) if d in own.index), default=0.0) for s in names
    ]
    features["callee_stopped"] = over(graph.callees, own["stopped"], "max")
    for kind in LEAD_KINDS:
        values = own[kind].to_numpy()
        lead = np.zeros(len(values))
        if len(values) >= 2:
            order = np.argsort(-values, kind="stable")
            lead[order[0]] = values[order[0]] - values[order[1]]
        elif len(values) == 1:
            lead[0] = values[0]
        features[f"lead_{kind}"] = lead
    return features[list(FEATURE_NAMES)].astype("float64")

"""Root-cause analysis of one incident bundle: rank the services, name the issue, list who is affected.

    bundle --evidence_signals--> signals --service_features (+ graph)--> features
           --RootCauseRanker--> probability per service --> RcaResult

The ranker ships with coefficients fitted on the developer cases (``ranker.json`` beside this module,
plain JSON); callers can pass their own fitted :class:`~triage.rca.ranker.RootCauseRanker` (for example
one loaded from the model registry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from triage.errors import InvalidInput
from triage.rca.bundle import IncidentBundle
from triage.rca.features import (
    FEATURE_NAMES,
    GRAPH_FEATURES,
    EvidenceConfig,
    evidence_signals,
    service_features,
)
from triage.rca.graph import ServiceGraph
from triage.rca.naming import name_issue
from triage.rca.ranker import RootCauseRanker
from triage.rca.schemas import Evidence, RankedService, RcaResult, RootCause
from triage.rca.signals import KINDS

DEFAULT_RANKER_FILE = "ranker.json"
#: Kinds that make a service count as affected (it shows the incident's symptoms).
_AFFECTED_KINDS = (
    "latency", "client_latency", "network", "errors", "log_pattern", "span_pattern", "resource", "silenced", "stopped",
)


@dataclass(frozen=True, slots=True)
class RcaConfig:
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    affected_z: float = 4.0  # a service deviating at least this much (z) in a symptom kind is affected
    max_evidence: int = 8
    root_evidence: int = 5  # of which at most this many about the root cause


@dataclass(frozen=True, slots=True)
class Ranking:
    """The intermediate results, for notebooks and the benchmark."""

    signals: pd.DataFrame
    features: pd.DataFrame
    probabilities: pd.Series  # by service, descending
    graph: ServiceGraph


@lru_cache(maxsize=1)
def default_ranker() -> RootCauseRanker:
    """The packaged ranker (coefficients fitted on the developer cases)."""
    text = resources.files("triage.rca").joinpath(DEFAULT_RANKER_FILE).read_text(encoding="utf-8")
    return RootCauseRanker.from_dict(json.loads(text))


def rank_services(
    bundle: IncidentBundle, *, ranker: RootCauseRanker | None = None, config: RcaConfig | None = None
) -> Ranking:
    """Signals, features and the probability of each candidate service being the origin."""
    cfg = config or RcaConfig()
    model = ranker if ranker is not None else default_ranker()
    _check_usable(bundle)
    signals = evidence_signals(bundle, cfg.evidence)
    graph = ServiceGraph.from_bundle(bundle)
    services = bundle.services
    features = service_features(signals, graph, services)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise ValueError(f"the ranker expects features this triage does not compute: {missing}")
        matrix = features[list(names)]
    else:
        matrix = features
    probabilities = pd.Series(model.group_probabilities(matrix), index=features.index)
    probabilities = probabilities.sort_values(ascending=False, kind="stable")
    return Ranking(signals=signals, features=features, probabilities=probabilities, graph=graph)


def analyze(
    bundle: IncidentBundle, *, ranker: RootCauseRanker | None = None, config: RcaConfig | None = None
) -> RcaResult:
    """The full analysis of one bundle (see the module docstring)."""
    cfg = config or RcaConfig()
    model = ranker if ranker is not None else default_ranker()
    return explain(bundle, rank_services(bundle, ranker=model, config=cfg), ranker=model, config=cfg)


def explain(
    bundle: IncidentBundle, ranking: Ranking, *, ranker: RootCauseRanker | None = None,
    config: RcaConfig | None = None,
) -> RcaResult:
    """Turn a ranking into the result: root cause, issue name, affected services, evidence."""
    cfg = config or RcaConfig()
    model = ranker if ranker is not None else default_ranker()
    probabilities = ranking.probabilities
    root = str(probabilities.index[0])
    signals = ranking.signals
    kind, signal = _strongest(root, ranking.features.loc[root], signals, model, ranking.graph)
    affected = _affected(root, ranking, cfg)
    return RcaResult(
        root_cause=RootCause(service=root, issue=name_issue(root, kind, signal),
                             confidence=round(float(probabilities.iloc[0]), 4)),
        ranking=[RankedService(service=str(s), score=round(float(p), 4)) for s, p in probabilities.items()],
        affected_services=affected,
        evidence=_evidence(root, affected, signals, cfg),
        modalities=list(bundle.modalities),
        detection_time=bundle.manifest.detection_time,
    )


def _check_usable(bundle: IncidentBundle) -> None:
    manifest = bundle.manifest
    if manifest.detection_time is None or manifest.incident_window is None:
        raise InvalidInput("the case has no detection time: give one (--at UNIX_SECONDS)")
    if not manifest.baseline_windows:
        raise InvalidInput("the case has no baseline window to compare the incident with")
    if not bundle.services:
        raise InvalidInput("the case names no services")
    window = manifest.incident_window
    if not any(window.mask(getattr(bundle, t)["ts"]).any() for t in bundle.modalities):
        raise InvalidInput(
            f"no data in the incident window {window.start:.0f}..{window.end:.0f} (is the detection time right?)"
        )


def _strongest(
    service: str, row: pd.Series, signals: pd.DataFrame, model: RootCauseRanker, graph: ServiceGraph | None = None
) -> tuple[str | None, pd.Series | None]:
    """The evidence kind contributing most to ``service``'s score, and its strongest signal."""
    names = getattr(model, "feature_names_in_", None)
    coef = pd.Series(model.coef_, index=list(names) if names is not None else list(FEATURE_NAMES)[: len(model.coef_)])
    contribution = (coef * row.reindex(coef.index).fillna(0.0)).sort_values(ascending=False)
    own = signals[signals["service"] == service]
    for name, value in contribution.items():
        if value <= 0:
            break
        if name in KINDS:
            mine = own[own["kind"] == name]
            if len(mine):
                return str(name), mine.loc[mine["strength"].idxmax()]
        elif name == "callee_stopped" and graph is not None:
            callees = graph.callees.get(service, frozenset())
            stopped = signals[(signals["kind"] == "stopped") & signals["service"].isin(callees)]
            return str(name), (stopped.loc[stopped["strength"].idxmax()] if len(stopped) else None)
        elif name in GRAPH_FEATURES and name in ("caller_wait",):
            return str(name), None
    if len(own):
        best = own.loc[own["strength"].idxmax()]
        return str(best["kind"]), best
    return None, None


def _affected(root: str, ranking: Ranking, cfg: RcaConfig) -> list[str]:
    threshold = float(np.log1p(cfg.affected_z))
    symptoms = ranking.features[list(_AFFECTED_KINDS)].max(axis=1)
    deviating = set(symptoms[symptoms >= threshold].index) - {root}
    graph = ranking.graph
    if root in graph.callers or root in graph.callees:
        related = graph.upstream(root) | graph.downstream(root)
        deviating &= related
    order = [s for s in ranking.probabilities.index if s in deviating]
    return [str(s) for s in order]


def _evidence(root: str, affected: list[str], signals: pd.DataFrame, cfg: RcaConfig) -> list[Evidence]:
    if not len(signals):
        return []
    ordered = signals.sort_values("strength", ascending=False)
    picked = ordered[ordered["service"] == root].drop_duplicates("kind").head(cfg.root_evidence)
    rows = [picked]
    room = cfg.max_evidence - len(picked)
    for service in affected:
        if room <= 0:
            break
        rows.append(ordered[ordered["service"] == service].head(1))
        room -= 1
    chosen = pd.concat(rows)
    return [
        Evidence(service=str(r.service), kind=str(r.kind), modality=str(r.modality), signal=str(r.name),
                 strength=round(float(r.strength), 2), detail=str(r.detail))
        for r in chosen.itertuples()
    ]

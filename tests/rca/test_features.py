from __future__ import annotations

import numpy as np
import pandas as pd

from triage.rca.features import FEATURE_NAMES, service_features
from triage.rca.graph import ServiceGraph
from triage.rca.signals import signals_frame


def _signal(service: str, kind: str, z: float) -> dict[str, object]:
    return {"service": service, "kind": kind, "modality": "metrics", "name": kind, "strength": z, "detail": ""}


def test_graph_features_follow_the_call_direction() -> None:
    graph = ServiceGraph.from_edges([("web", "api"), ("api", "db")])
    signals = signals_frame([
        _signal("db", "resource", 50.0), _signal("db", "latency", 20.0),
        _signal("api", "latency", 10.0), _signal("web", "latency", 8.0), _signal("web", "client_latency", 9.0),
        _signal("api", "client_latency", 12.0),
    ])
    features = service_features(signals, graph, ["web", "api", "db", "idle"])
    assert list(features.columns) == list(FEATURE_NAMES)
    assert features.loc["db", "resource"] == np.log1p(50.0)
    # api's latency is explained by its callee db; db's is not explained by anyone
    assert features.loc["api", "callee_symptoms"] == np.log1p(50.0)
    assert features.loc["api", "unexplained"] == 0.0
    assert features.loc["db", "unexplained"] == np.log1p(50.0)
    # db's callers show symptoms and wait on their outgoing calls
    assert features.loc["db", "caller_symptoms"] == np.log1p(10.0)
    assert features.loc["db", "caller_wait"] == np.log1p(12.0)
    assert (features.loc["idle"] == 0.0).all()


def test_no_signals_gives_zero_rows() -> None:
    features = service_features(signals_frame([]), ServiceGraph(), ["a", "b"])
    assert features.shape == (2, len(FEATURE_NAMES)) and not features.to_numpy().any()
    assert isinstance(features, pd.DataFrame)


def test_silenced_service_below_and_stopped_callees_are_graph_features() -> None:
    graph = ServiceGraph.from_edges([("web", "api"), ("api", "db"), ("web", "mail")])
    signals = signals_frame([
        _signal("db", "silenced", 10.0), _signal("api", "errors", 8.0), _signal("web", "errors", 5.0),
        _signal("mail", "stopped", 4.0),
    ])
    features = service_features(signals, graph, ["web", "api", "db", "mail"])
    # errors travel up, missing work travels down: db (silenced, still called) explains api's and web's errors
    assert features.loc["api", "downstream_silenced"] == features.loc["web", "downstream_silenced"] == np.log1p(10.0)
    assert features.loc["db", "downstream_silenced"] == 0.0
    # mail no longer receives requests: its caller changed what it does
    assert features.loc["web", "callee_stopped"] == np.log1p(4.0)
    assert features.loc["api", "callee_stopped"] == 0.0
    assert features.loc["db", "lead_silenced"] == np.log1p(10.0)

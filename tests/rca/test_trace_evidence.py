from __future__ import annotations

import numpy as np
import pandas as pd

from triage.rca.bundle import BundleManifest, IncidentBundle, TimeWindow
from triage.rca.importers.nezha import load_nezha_case
from triage.rca.trace_evidence import trace_signals


def test_network_delay_is_localised_on_the_real_slice(nezha_dir) -> None:
    # case-b is a network delay on one service: callers wait ~0.6 s longer than it works
    signals = trace_signals(load_nezha_case(nezha_dir / "cases" / "case-b"))
    network = signals[signals["kind"] == "network"].sort_values("strength", ascending=False)
    assert network.iloc[0]["service"] == "currencyservice"
    assert network.iloc[0]["strength"] > 3 * network.iloc[1]["strength"]


def _calls(rows: list[tuple[float, str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "caller", "callee", "operation", "latency_p50"]).assign(count=50.0)


def test_slower_server_spans_and_collapsed_requests() -> None:
    rows = []
    for ts in range(0, 600, 60):
        rows += [(ts, "api", "db", "/query", 0.010), (ts, "api", "auth", "/check", 0.020)]
    for ts in range(630, 900, 60):
        rows += [(ts, "api", "db", "/query", 0.080), (ts, "api", "auth", "/check", 0.0005)]
    manifest = BundleManifest(detection_time=600.0, incident_window=TimeWindow(start=600.0, end=900.0),
                              baseline_windows=(TimeWindow(start=0.0, end=600.0),))
    signals = trace_signals(IncidentBundle(manifest=manifest, calls=_calls(rows)))
    slow = signals[signals["kind"] == "latency"]
    assert slow["service"].tolist() == ["db"] and "slowed 8.0x" in slow.iloc[0]["detail"]
    cut = signals[(signals["kind"] == "span_pattern") & (signals["service"] == "auth")]
    assert len(cut) == 1 and "faster" in cut.iloc[0]["detail"]


def test_aggregated_client_spans_localise_a_delayed_callee() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for ts in range(0, 900, 60):
        delay = 0.3 if ts >= 600 else 0.0
        for caller, callees in (("web", ("cart", "user")), ("orders", ("cart", "pay"))):
            server = {c: 0.01 * (1 + rng.normal(0, 0.05)) for c in callees}
            for callee in callees:
                rows.append((ts, caller, callee, f"/api/{callee}", server[callee]))
            # the tracer's client spans do not name the callee: one "HTTP GET" per caller
            client = np.mean([server[c] + 0.003 + (delay if c == "cart" else 0.0) for c in callees])
            rows.append((ts, caller, caller, "HTTP GET", client))
    calls = _calls(rows).assign(count=lambda f: np.where(f["operation"] == "HTTP GET", 100.0, 50.0))
    calls["latency_mean"] = calls["latency_p50"]
    manifest = BundleManifest(detection_time=600.0, incident_window=TimeWindow(start=600.0, end=900.0),
                              baseline_windows=(TimeWindow(start=0.0, end=600.0),))
    network = trace_signals(IncidentBundle(manifest=manifest, calls=calls))
    network = network[network["kind"] == "network"].sort_values("strength", ascending=False)
    assert network.iloc[0]["service"] == "cart"
    assert "calls to cart wait" in network.iloc[0]["detail"]


def test_fewer_calls_per_request_are_credited_to_the_sender_not_to_a_quieter_victim() -> None:
    rows = []
    for ts in range(0, 900, 60):
        incident = ts >= 600
        rows += [
            (ts, "", "web", "/home", 100.0),                          # web serves as many requests
            (ts, "web", "db", "/query", 100.0 if incident else 300.0),  # ... but queries db less per request
            (ts, "web", "api", "/x", 30.0 if incident else 100.0),
            (ts, "api", "cache", "/get", 30.0 if incident else 100.0),  # api is called less: sends less
        ]
    calls = pd.DataFrame(rows, columns=["ts", "caller", "callee", "operation", "count"]).assign(latency_p50=0.01)
    manifest = BundleManifest(detection_time=600.0, incident_window=TimeWindow(start=600.0, end=900.0),
                              baseline_windows=(TimeWindow(start=0.0, end=600.0),))
    signals = trace_signals(IncidentBundle(manifest=manifest, calls=calls))
    silenced = signals[signals["kind"] == "silenced"]
    assert set(silenced["service"]) == {"web"}
    assert set(silenced["name"]) == {"/query", "/x"}
    assert silenced["strength"].min() > 5

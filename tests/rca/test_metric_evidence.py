from __future__ import annotations

import numpy as np
import pandas as pd

from triage.rca.bundle import BundleManifest, IncidentBundle, TimeWindow
from triage.rca.metric_evidence import classify_metric, metric_signals


def _bundle(rows: list[pd.DataFrame]) -> IncidentBundle:
    manifest = BundleManifest(detection_time=100.0, incident_window=TimeWindow(start=100.0, end=200.0),
                              baseline_windows=(TimeWindow(start=0.0, end=100.0),))
    return IncidentBundle(manifest=manifest, metrics=pd.concat(rows, ignore_index=True))


def _series(service: str, metric: str, base: np.ndarray, incident: np.ndarray, instance: str = "") -> pd.DataFrame:
    values = np.r_[base, incident]
    ts = np.r_[np.linspace(0, 95, base.size), np.linspace(100, 195, incident.size)]
    return pd.DataFrame({"ts": ts, "service": service, "instance": instance, "metric": metric, "value": values})


def test_classification_vocabulary() -> None:
    assert classify_metric("CpuUsageRate(%)").kind == "resource"
    assert classify_metric("carts_mem").kind == "resource" or classify_metric("mem").kind == "resource"
    assert classify_metric("PodClientLatencyP90(s)").kind == "client_latency"
    assert classify_metric("PodServerLatencyP90(s)").kind == "latency"
    assert classify_metric("PodSuccessRate(%)").direction == "down"
    assert classify_metric("NodeCpuUsageRate(%)").kind == "skip"
    assert classify_metric("lod").kind == "traffic"


def test_one_sided_deviation_and_direction() -> None:
    rng = np.random.default_rng(1)
    rows = [
        _series("hot", "cpu", rng.normal(10, 1, 40), rng.normal(90, 1, 10)),
        _series("cold", "cpu", rng.normal(50, 1, 40), rng.normal(5, 1, 10)),  # CPU falling is not trouble
        _series("calm", "cpu", rng.normal(30, 1, 40), rng.normal(30, 1, 10)),
        _series("failing", "success_rate", rng.normal(99, 0.2, 40), rng.normal(60, 1, 10)),
    ]
    signals = metric_signals(_bundle(rows)).set_index("service")
    assert signals.loc["hot", "strength"] > 30 and signals.loc["hot", "kind"] == "resource"
    assert "rose" in signals.loc["hot", "detail"]
    assert "cold" not in signals.index
    assert signals.loc["failing", "kind"] == "errors" and "fell" in signals.loc["failing", "detail"]
    assert signals.loc["calm", "strength"] < 4 if "calm" in signals.index else True


def test_a_spiky_baseline_shrinks_the_score() -> None:
    rng = np.random.default_rng(2)
    steady = rng.normal(10, 1, 40)
    spiky = rng.normal(10, 1, 40)
    spiky[::5] = 40.0  # the baseline itself often reaches 40
    signals = metric_signals(_bundle([_series("steady", "cpu", steady, rng.normal(40, 1, 10)),
                                      _series("spiky", "cpu", spiky, rng.normal(40, 1, 10))])).set_index("service")
    assert signals.loc["steady", "strength"] > 3 * signals.loc["spiky", "strength"]


def test_host_metrics_shared_by_services_and_idle_latencies_are_skipped() -> None:
    rng = np.random.default_rng(3)
    host = np.r_[rng.normal(30, 1, 40), rng.normal(90, 1, 10)]
    rows = [
        _series("a", "host_cpu_share", host[:40], host[40:]),
        _series("b", "host_cpu_share", host[:40], host[40:]),
        _series("idle", "latency_p90", np.full(40, 0.0046), np.full(10, 3600.0)),
        _series("idle", "requests", np.zeros(40), np.zeros(10)),
    ]
    assert metric_signals(_bundle(rows)).empty


def test_a_quiet_service_that_stops_receiving_requests_is_flagged_scale_free() -> None:
    rng = np.random.default_rng(5)
    rows = [
        _series("mail", "PodWorkload(Ops)", np.abs(rng.normal(0.3, 0.05, 20)), np.r_[0.0, 0.0, 0.0, 0.25]),
        _series("web", "PodWorkload(Ops)", rng.normal(50, 2, 20), rng.normal(50, 2, 4)),
        _series("flaky", "PodWorkload(Ops)", np.r_[np.zeros(8), np.full(12, 0.2)], np.r_[0.0, 0.0, 0.2, 0.2]),
    ]
    signals = metric_signals(_bundle(rows))
    stopped = signals[signals["kind"] == "stopped"].set_index("service")["strength"]
    assert "web" not in stopped.index  # never at zero
    assert stopped["mail"] > 3
    assert stopped.get("flaky", 0.0) < 1.0  # often at zero in the baseline anyway
    # a robust-z view alone misses it: 0.3 req/s is tiny next to the busy service's scale
    traffic = signals[(signals["kind"] == "traffic") & (signals["service"] == "mail")]
    assert traffic.empty or traffic["strength"].max() < stopped["mail"]

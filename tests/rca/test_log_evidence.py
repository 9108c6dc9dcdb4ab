from __future__ import annotations

import pandas as pd

from triage.rca.bundle import IncidentBundle
from triage.rca.log_evidence import log_signals


def test_vanishing_statement_and_exception_burst_are_found(synthetic_incident) -> None:
    bundle = synthetic_incident("payment", modalities=("logs",))
    signals = log_signals(bundle)
    vanished = signals[(signals["kind"] == "log_pattern") & signals["detail"].str.contains("stopped")]
    mine = vanished[vanished["service"] == "payment"]
    assert mine["name"].str.contains("PaymentHandler#20").any() and mine["strength"].max() > 5
    assert "PaymentHandler#12" not in " ".join(mine["name"])  # the statement before the fault still runs
    errors = signals[signals["kind"] == "errors"].sort_values("strength", ascending=False)
    assert errors.iloc[0]["service"] == "payment"
    # callers' new warnings are there too (symptoms; the graph features discount them)
    assert (signals["name"].str.contains("Client#40") & signals["service"].isin(["orders", "gateway"])).any()


def test_without_trace_ids_template_shares_are_compared(synthetic_incident) -> None:
    bundle = synthetic_incident("stock", modalities=("logs",))
    untraced = IncidentBundle(manifest=bundle.manifest, logs=bundle.logs.assign(trace_id=""))
    signals = log_signals(untraced)
    vanished = signals[(signals["kind"] == "log_pattern") & signals["detail"].str.contains("stopped")]
    assert vanished.sort_values("strength").iloc[-1]["service"] == "stock"


def test_stored_template_ids_are_used_when_present(synthetic_incident) -> None:
    bundle = synthetic_incident("bank", modalities=("logs",))
    logs = bundle.logs.assign(template_id=bundle.logs["message"].str.extract(r"(\w+#\d+)")[0])
    signals = log_signals(IncidentBundle(manifest=bundle.manifest, logs=logs))
    assert set(signals.loc[signals["kind"] == "log_pattern", "name"]) <= set(logs["template_id"])


def test_no_baseline_logs_means_no_signals(synthetic_incident) -> None:
    bundle = synthetic_incident("bank", modalities=("logs",))
    late = bundle.logs[bundle.logs["ts"] >= bundle.manifest.detection_time]
    assert log_signals(IncidentBundle(manifest=bundle.manifest, logs=late)).empty
    assert isinstance(log_signals(IncidentBundle(manifest=bundle.manifest)), pd.DataFrame)


def _silenced_case(*, with_calls: bool = True) -> IncidentBundle:
    """Minute buckets 0..9 baseline, 10..14 incident. ``svc`` keeps being called but stops logging
    ``Svc#20``; ``victim`` is called far less and logs proportionally less; ``steady`` does not change."""
    from triage.rca.bundle import BundleManifest, TimeWindow

    logs, calls = [], []
    for minute in range(15):
        incident = minute >= 10
        served = {"svc": 20, "victim": 4 if incident else 20, "steady": 20}
        for service, n in served.items():
            calls.append((minute * 60 + 59.0, "gw", service, f"/{service}", "span", float(n)))
            for k in range(n):
                ts = minute * 60 + k
                trace = f"{service}-{minute}-{k}"
                first = {"svc": "Svc#10 start", "victim": "Victim#5 handled", "steady": "Steady#1 ok"}[service]
                logs.append((ts, service, "INFO", first, trace))
                if service == "svc" and not incident:
                    logs.append((ts + 0.1, service, "INFO", "Svc#20 done", trace))
    manifest = BundleManifest(detection_time=600.0, incident_window=TimeWindow(start=600.0, end=900.0),
                              baseline_windows=(TimeWindow(start=0.0, end=600.0),))
    log_frame = pd.DataFrame(logs, columns=["ts", "service", "level", "message", "trace_id"])
    call_frame = pd.DataFrame(calls, columns=["ts", "caller", "callee", "operation", "observer", "count"])
    return IncidentBundle(manifest=manifest, logs=log_frame, calls=call_frame if with_calls else None)


def test_a_statement_silenced_while_still_called_points_inside_the_service() -> None:
    signals = log_signals(_silenced_case())
    silenced = signals[signals["kind"] == "silenced"]
    assert silenced["service"].tolist() == ["svc"]
    assert "Svc#20" in silenced.iloc[0]["name"] and silenced.iloc[0]["strength"] > 5
    # the victim went quiet too (a volume shift), but only as much as its calls did: not silenced
    assert ((signals["service"] == "victim") & (signals["kind"] == "traffic")).any()
    assert "victim" not in set(silenced["service"])


def test_no_calls_table_means_no_silenced_signals() -> None:
    signals = log_signals(_silenced_case(with_calls=False))
    assert not (signals["kind"] == "silenced").any()
    assert (signals["service"] == "svc").any()  # the other log tests still run

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

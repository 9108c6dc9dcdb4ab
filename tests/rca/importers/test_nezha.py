"""The Nezha importer on the real slices in tests/fixtures/rca/nezha (see its README)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from triage.errors import InvalidInput
from triage.rca.importers.nezha import load_nezha_case, looks_like_nezha


def test_trainticket_case_has_all_three_modalities(nezha_dir: Path) -> None:
    bundle = load_nezha_case(nezha_dir / "cases" / "case-a")
    assert bundle.modalities == ("logs", "metrics", "calls")
    manifest = bundle.manifest
    assert manifest.source == "nezha"
    assert manifest.system == "trainticket"
    assert manifest.detection_time == 1674991743.0
    assert manifest.incident_window.start == manifest.detection_time
    # the 20-minute pre-window plus the day's fault-free minute from baselines/
    assert len(manifest.baseline_windows) == 2
    assert manifest.baseline_windows[0].end == manifest.detection_time
    assert manifest.baseline_windows[1].end < manifest.detection_time - 3600
    logs = bundle.logs
    assert len(logs) > 2000 and set(logs["level"]) <= {"INFO", "WARN", "ERROR"}
    assert (logs["trace_id"] != "").all()
    # the baseline minute's lines were merged in and fall into the second baseline window
    assert manifest.baseline_windows[1].mask(logs["ts"]).sum() > 500
    # the 12 services of the slice, plus callers seen only as parents of their spans
    assert {"ts-price-service", "ts-basic-service", "ts-gateway-service"} <= set(bundle.services)
    assert set(bundle.metrics["service"]) < set(bundle.services)


def test_trace_aggregates_become_calls_in_seconds(nezha_dir: Path) -> None:
    bundle = load_nezha_case(nezha_dir / "cases" / "case-a")
    calls = bundle.calls
    assert set(calls["observer"]) == {"span"}
    edge = calls[(calls["caller"] == "ts-basic-service") & (calls["callee"] == "ts-price-service")]
    assert len(edge) and (edge["latency_p50"] < 1.0).all() and (edge["count"] > 0).all()
    # minute files are placed just before their HH:MM: the pre-fault one before the detection time
    stamps = sorted(calls["ts"].unique())
    t0 = bundle.manifest.detection_time
    assert any(t < t0 for t in stamps) and any(t > t0 for t in stamps)
    entry = calls[calls["callee"] == "ts-gateway-service"]
    assert (entry["caller"] == "").any()  # parent "root" means no known caller
    assert ("ts-basic-service", "ts-price-service") in {(e.caller, e.callee) for e in bundle.manifest.dependencies}


def test_onlineboutique_edge_latency_is_split_by_known_services(nezha_dir: Path) -> None:
    bundle = load_nezha_case(nezha_dir / "cases" / "case-b")
    calls = bundle.calls
    edges = calls[calls["observer"] != "span"]
    assert set(edges["observer"]) == {"caller", "callee"}
    assert ("frontend", "currencyservice") in set(zip(edges["caller"], edges["callee"], strict=True))
    assert bundle.logs is None
    assert bundle.manifest.system == "onlineboutique"
    assert len(bundle.services) == 10


def test_detection_time_can_be_given_or_is_left_unknown(nezha_copy: Path) -> None:
    case = nezha_copy / "cases" / "case-b"
    (case / "label.json").unlink()
    assert looks_like_nezha(case)
    undated = load_nezha_case(case)  # minute files are then placed on the metrics' day
    assert undated.manifest.detection_time is None and undated.manifest.incident_window is None
    assert undated.calls is not None and undated.calls["ts"].between(1661140000, 1661150000).all()
    bundle = load_nezha_case(case, detection_time=1661146026.0)
    assert bundle.manifest.detection_time == 1661146026.0
    assert bundle.manifest.incident_window.start == 1661146026.0


def test_trace_minute_files_need_some_time_reference(tmp_path: Path) -> None:
    (tmp_path / "trace_ops.csv").write_text(
        "source_minute_file,service,operation,parent_service,span_count\n05_27,a,op,b,3\n")
    with pytest.raises(InvalidInput, match="minute files"):
        load_nezha_case(tmp_path)


def test_answer_fields_in_the_label_are_never_used(nezha_copy: Path) -> None:
    case = nezha_copy / "cases" / "case-a"
    before = load_nezha_case(case)
    label = json.loads((case / "label.json").read_text())
    label.update({"root_cause_service": "ts-route-service", "fault_type": "cpu_contention",
                  "root_cause_pod": "x", "case_id": "tt-ts-route-service-cpu"})
    (case / "label.json").write_text(json.dumps(label))
    renamed = case.rename(case.parent / "ts-route-service-cpu_contention")
    after = load_nezha_case(renamed)
    assert after.manifest == before.manifest
    assert np.array_equal(after.metrics["value"].to_numpy(), before.metrics["value"].to_numpy())


def test_a_metrics_table_without_its_id_columns_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("unix,pod,service,cpu\n1,a,svc,1\n")
    assert looks_like_nezha(tmp_path)
    (tmp_path / "metrics.csv").write_text("unix,cpu\n1,1\n")
    assert not looks_like_nezha(tmp_path)

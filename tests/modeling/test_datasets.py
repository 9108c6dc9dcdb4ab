from __future__ import annotations

import json

import pandas as pd
import pytest

from triage.modeling.datasets import bgl_examples, hadoop_examples, nezha_examples
from triage.modeling.labels import LABELLED_COLUMNS, LabelError, dataset_label_map

from .conftest import MODELING


def test_bgl_alert_lines_become_examples() -> None:
    frame = pd.read_csv(MODELING / "BGL_slice.log_structured.csv")
    examples = bgl_examples(frame, dataset_label_map("bgl"))
    assert list(examples.columns) == list(LABELLED_COLUMNS)
    assert len(examples) == (frame["Label"] != "-").sum()  # non-alert lines are no examples
    row = examples[examples["native_label"] == "APPTO"].iloc[0]
    assert row["category"] == "TIMEOUT" and "timed out" in row["message"]
    assert (examples[examples["native_label"] == "KERNDTLB"]["category"] == "HARDWARE").all()
    with pytest.raises(LabelError, match="without a taxonomy mapping"):
        bgl_examples(frame, {"APPTO": "TIMEOUT"})


def test_hadoop_fault_specific_error_events() -> None:
    templates = (MODELING / "Hadoop_templates.csv").read_text().splitlines()
    labels = pd.read_csv(MODELING / "hadoop_app_labels.csv").set_index("application_id")["label"].to_dict()
    sessions = [(line.split(",", 1)[0], line.split(",", 1)[1].split())
                for line in (MODELING / "hadoop_sessions.txt").read_text().splitlines()]  # fmt: skip
    examples = hadoop_examples(sessions, templates, labels, dataset_label_map("hadoop"))
    assert len(examples) > 0
    assert set(examples["native_label"]) <= {"disk_full", "network_disconnection", "machine_down"}
    disk = examples[examples["message"].str.contains("not enough space", case=False)]
    assert len(disk) and (disk["category"] == "RESOURCE_EXHAUSTION").all()
    assert examples["ts"].is_monotonic_increasing
    with pytest.raises(LabelError, match="no fault label"):
        hadoop_examples([("application_1_2/container_1", ["1"])], templates, labels, dataset_label_map("hadoop"))


def test_nezha_fault_window_lines_not_in_the_baseline() -> None:
    label = json.loads((MODELING / "nezha_case_label.json").read_text())
    logs = pd.read_csv(MODELING / "nezha_case_logs.csv")
    baseline = pd.read_csv(MODELING / "nezha_baseline_messages.csv")["message"]
    examples = nezha_examples(logs, fault_type=label["fault_type"], root_cause_service=label["root_cause_service"],
                              inject_unix=label["inject_unix"], fault_duration_s=label["fault_duration_s"],
                              baseline_messages=baseline, mapping=dataset_label_map("nezha"))  # fmt: skip
    assert len(examples) > 0
    assert (examples["service"] == label["root_cause_service"]).all()
    assert (examples["ts"] >= pd.Timestamp(label["inject_unix"], unit="s")).all()
    assert (examples["category"] == "DATA_INTEGRITY").all()  # a "return" fault
    assert not examples["message"].str.match(r"^\d{2}:\d{2}:\d{2}").any()  # the service's clock is stripped

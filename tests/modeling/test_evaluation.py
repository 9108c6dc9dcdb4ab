from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.modeling.evaluation import (
    TOP_LABEL,
    calibration_summary,
    chronological_split,
    confusion_frame,
    expected_calibration_error,
    macro_f1,
    per_class_report,
    reliability_table,
)


def test_macro_f1_by_hand() -> None:
    truth = ["A", "A", "B", "B", "C"]
    pred = ["A", "B", "B", "B", "A"]
    # A: p=1/2 r=1/2 f=.5; B: p=2/3 r=1 f=.8; C: p=0 r=0 f=0
    assert macro_f1(truth, pred) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    report = per_class_report(truth, pred).set_index("class")
    assert report.loc["B", "precision"] == pytest.approx(2 / 3) and report.loc["C", "support"] == 1
    # a class only ever predicted counts as F1 0
    assert macro_f1(["A", "A"], ["A", "Z"]) == pytest.approx((2 / 3 + 0.0) / 2)
    assert confusion_frame(truth, pred).loc["A", "B"] == 1


def test_reliability_and_ece_by_hand() -> None:
    truth = np.array(["A", "A", "B", "B"])
    proba = np.array([[0.95, 0.05], [0.95, 0.05], [0.35, 0.65], [0.65, 0.35]])
    table = reliability_table(truth, proba, ["A", "B"], n_bins=10)
    top = table[(table["class"] == TOP_LABEL) & (table["count"] > 0)]
    # top labels: 0.95 (right), 0.95 (right), 0.65 (right), 0.65 (wrong) -> bins 0.6-0.7 and 0.9-1.0
    assert top["count"].tolist() == [2, 2]
    assert expected_calibration_error(table) == pytest.approx((2 * abs(0.5 - 0.65) + 2 * abs(1.0 - 0.95)) / 4)
    summary = calibration_summary(truth, proba, ["A", "B"]).set_index("class")
    assert summary.loc["A", "support"] == 2 and summary.loc[TOP_LABEL, "ece"] == pytest.approx(0.1)


def test_probabilities_are_checked() -> None:
    with pytest.raises(InvalidInput, match="shape"):
        reliability_table(["A"], [[0.5, 0.5, 0.0]], ["A", "B"])
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        reliability_table(["A"], [[1.5, -0.5]], ["A", "B"])


def test_chronological_split_holds_back_the_latest_rows_of_each_dataset() -> None:
    frame = pd.DataFrame({
        "dataset": ["a"] * 8 + ["b"] * 4,
        "ts": pd.to_datetime([f"2024-01-0{d}" for d in (8, 1, 2, 7, 3, 6, 4, 5)] + ["2020-01-01"] * 4),
    })  # fmt: skip
    train, test = chronological_split(frame, test_fraction=0.25)
    assert sorted(frame.iloc[test]["ts"][frame.iloc[test]["dataset"] == "a"].dt.day) == [7, 8]
    assert (frame.iloc[test]["dataset"] == "b").sum() == 1
    assert len(set(train) | set(test)) == len(frame) and not set(train) & set(test)
    with pytest.raises(InvalidInput):
        chronological_split(frame, test_fraction=1.5)

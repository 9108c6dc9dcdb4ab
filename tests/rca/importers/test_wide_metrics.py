"""Wide metric tables in the RCD Sock Shop (normal/anomalous) and RCAEval (data.csv) shapes.

The Sock Shop data may not be redistributed, so these tables are synthetic in its exact column layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.rca.importers.wide_metrics import load_wide_metrics_case, looks_like_wide_metrics

CONTAINERS = ["carts", "carts-db", "front-end", "orders"]


def _table(start: float, n: int, *, hot: str | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {"time": start + np.arange(n)}
    for c in CONTAINERS:
        data[f"{c}_cpu"] = rng.normal(95 if c == hot else 5, 0.5, n)
        data[f"{c}_mem"] = rng.normal(3e8, 1e6, n)
    data["carts_lat_50"] = rng.normal(0.005, 0.0002, n)
    return pd.DataFrame(data)


def test_normal_anomalous_pair(tmp_path: Path) -> None:
    _table(1000.0, 120).to_csv(tmp_path / "normal.csv.gz", index=False)
    _table(90_000.0, 100, hot="orders").to_csv(tmp_path / "anomalous.csv.gz", index=False)
    assert looks_like_wide_metrics(tmp_path)
    bundle = load_wide_metrics_case(tmp_path)
    manifest = bundle.manifest
    assert bundle.modalities == ("metrics",)
    assert manifest.detection_time == 90_000.0  # the anomalous period's first sample when nothing says otherwise
    assert manifest.baseline_windows[0].start == 1000.0 and manifest.incident_window.start == 90_000.0
    assert set(bundle.services) == set(CONTAINERS)
    metrics = bundle.metrics
    assert set(metrics.loc[metrics["service"] == "carts", "metric"]) == {"cpu", "mem", "lat_50"}


def test_label_detection_time_wins_and_answers_are_ignored(tmp_path: Path) -> None:
    _table(1000.0, 60).to_csv(tmp_path / "normal.csv", index=False)
    _table(5000.0, 60).to_csv(tmp_path / "anomalous.csv", index=False)
    (tmp_path / "label.json").write_text('{"inject_unix": 5010, "root_cause_service": "carts"}')
    assert load_wide_metrics_case(tmp_path).manifest.detection_time == 5010.0


def test_single_series_needs_a_detection_time(tmp_path: Path) -> None:
    _table(1000.0, 600, seed=3).to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(InvalidInput, match="detection time"):
        load_wide_metrics_case(tmp_path)
    (tmp_path / "inject_time.txt").write_text("1400\n")
    bundle = load_wide_metrics_case(tmp_path)
    assert bundle.manifest.baseline_windows[0].end == 1400.0
    with pytest.raises(InvalidInput, match="outside the data"):
        load_wide_metrics_case(tmp_path, detection_time=99_999.0)

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from triage.errors import InvalidInput
from triage.rca.bundle import (
    BundleManifest,
    IncidentBundle,
    TimeWindow,
    default_windows,
    normalise_table,
)


def test_time_window_rejects_reversed_bounds() -> None:
    with pytest.raises(ValidationError):
        TimeWindow(start=10.0, end=5.0)
    window = TimeWindow(start=0.0, end=10.0)
    assert window.mask(np.array([-1.0, 0.0, 9.9, 10.0])).tolist() == [False, True, True, False]


def test_logs_accept_datetimes_and_fold_level_aliases() -> None:
    logs = pd.DataFrame({
        "ts": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z"]),
        "service": ["a", "b"], "level": ["warning", "Critical"], "message": ["x", "y"],
    })
    out = normalise_table("logs", logs)
    assert out["ts"].tolist() == [1704067200.0, 1704067201.0]
    assert out["level"].tolist() == ["WARN", "FATAL"]
    assert out["template_id"].tolist() == ["", ""]
    assert list(out.columns) == ["ts", "service", "instance", "level", "message", "template_id", "trace_id"]


def test_missing_required_column_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="missing required column"):
        normalise_table("metrics", pd.DataFrame({"ts": [1.0], "service": ["a"], "value": [1.0]}))


def test_unparseable_timestamps_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="timestamps"):
        normalise_table("metrics", pd.DataFrame({"ts": ["soon"], "service": ["a"], "metric": ["m"], "value": [1]}))


def test_metric_rows_without_a_value_are_dropped() -> None:
    frame = pd.DataFrame({"ts": [1, 2], "service": ["a", "a"], "metric": ["m", "m"], "value": [1.0, np.nan]})
    assert len(normalise_table("metrics", frame)) == 1


def test_bundle_lists_services_and_modalities() -> None:
    metrics = pd.DataFrame({"ts": [1.0], "service": ["api"], "metric": ["cpu"], "value": [3.0]})
    calls = pd.DataFrame({"ts": [1.0], "caller": ["api"], "callee": ["db"]})
    bundle = IncidentBundle(manifest=BundleManifest(), metrics=metrics, calls=calls)
    assert bundle.modalities == ("metrics", "calls")
    assert bundle.services == ("api", "db")


def test_with_detection_time_fills_default_windows() -> None:
    bundle = IncidentBundle(manifest=BundleManifest(),
                            metrics=pd.DataFrame({"ts": [1.0], "service": ["a"], "metric": ["m"], "value": [1.0]}))
    dated = bundle.with_detection_time(5000.0)
    incident, baseline = default_windows(5000.0)
    assert dated.manifest.detection_time == 5000.0
    assert dated.manifest.incident_window == incident
    assert dated.manifest.baseline_windows == (baseline,)
    assert baseline.end <= incident.start
    # an existing detection time is kept unless replace=True
    assert dated.with_detection_time(1.0).manifest.detection_time == 5000.0
    assert dated.with_detection_time(1.0, replace=True).manifest.detection_time == 1.0

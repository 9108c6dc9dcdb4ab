from __future__ import annotations

import pandas as pd
import pytest

from triage.errors import InvalidInput
from triage.rca.analysis import analyze
from triage.rca.builder import build_bundle


def test_bundle_from_store_shaped_tables(synthetic_incident) -> None:
    source = synthetic_incident("payment")
    logs = source.logs.rename(columns={"message": "content"})[["ts", "service", "level", "content"]]
    logs = logs.assign(ts=pd.to_datetime(logs["ts"], unit="s"), template_id=None)
    bundle = build_bundle(detection_time=source.manifest.detection_time, logs=logs, metrics=source.metrics,
                          dependencies=[(e.caller, e.callee) for e in source.manifest.dependencies])
    assert bundle.modalities == ("logs", "metrics")
    assert bundle.manifest.source == "store"
    assert bundle.logs["template_id"].eq("").all()
    assert bundle.logs["ts"].iloc[0] == pytest.approx(source.logs["ts"].iloc[0], abs=1e-3)
    assert analyze(bundle).root_cause.service == "payment"


def test_builder_needs_a_table_and_log_text() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        build_bundle(detection_time=1.0)
    with pytest.raises(InvalidInput, match="content or message"):
        build_bundle(detection_time=1.0, logs=pd.DataFrame({"ts": [1.0], "service": ["a"]}))

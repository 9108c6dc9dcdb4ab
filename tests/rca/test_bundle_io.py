from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from triage.errors import IntegrityError, InvalidInput
from triage.rca.bundle_io import is_bundle_dir, load_bundle, save_bundle


def test_round_trip_keeps_tables_and_manifest(tmp_path: Path, synthetic_incident) -> None:
    bundle = synthetic_incident("payment")
    save_bundle(bundle, tmp_path / "b")
    assert is_bundle_dir(tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    assert loaded.manifest.detection_time == bundle.manifest.detection_time
    assert loaded.manifest.dependencies == bundle.manifest.dependencies
    assert set(loaded.manifest.tables) == {"logs", "metrics", "calls"}
    for name in ("logs", "metrics", "calls"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(bundle, name), check_dtype=False)


def test_a_changed_table_fails_its_checksum(tmp_path: Path, synthetic_incident) -> None:
    save_bundle(synthetic_incident("bank", modalities=("metrics",)), tmp_path)
    pd.DataFrame({"ts": [1.0], "service": ["x"], "metric": ["m"], "value": [1.0]}).to_parquet(
        tmp_path / "metrics.parquet")
    with pytest.raises(IntegrityError, match="checksum"):
        load_bundle(tmp_path)


def test_a_broken_manifest_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "bundle.json").write_text('{"format": "triage.rca.bundle", "version": 99}')
    assert is_bundle_dir(tmp_path)
    with pytest.raises(InvalidInput, match="version"):
        load_bundle(tmp_path)


def test_a_table_path_may_not_leave_the_folder(tmp_path: Path) -> None:
    (tmp_path / "bundle.json").write_text(
        '{"format": "triage.rca.bundle", "tables": {"logs": {"file": "../x.parquet", "rows": 1, "sha256": "0"}}}')
    with pytest.raises(InvalidInput, match="outside"):
        load_bundle(tmp_path)

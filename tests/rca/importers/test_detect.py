"""Case kinds are recognised from folder contents, never from names."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.errors import InvalidInput, NotFound
from triage.rca.bundle_io import save_bundle
from triage.rca.importers import detect_case_kind, load_case


def test_kinds_by_content(tmp_path: Path, nezha_dir: Path, synthetic_incident) -> None:
    assert detect_case_kind(nezha_dir / "cases" / "case-a") == "nezha"
    save_bundle(synthetic_incident("db", modalities=("metrics",)), tmp_path / "sockshop-looking-name")
    assert detect_case_kind(tmp_path / "sockshop-looking-name") == "bundle"
    wide = tmp_path / "nezha-looking-name"
    wide.mkdir()
    (wide / "normal.csv").write_text("time,carts_cpu\n1,2\n")
    (wide / "anomalous.csv").write_text("time,carts_cpu\n9,3\n")
    assert detect_case_kind(wide) == "wide-metrics"


def test_empty_missing_and_unknown_folders(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        detect_case_kind(tmp_path / "nope")
    with pytest.raises(InvalidInput, match="empty"):
        detect_case_kind(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="not a recognised case"):
        detect_case_kind(tmp_path)
    with pytest.raises(InvalidInput, match="not a directory"):
        detect_case_kind(tmp_path / "notes.txt")


def test_load_case_applies_a_given_detection_time_to_bundles(tmp_path: Path, synthetic_incident) -> None:
    save_bundle(synthetic_incident("db", modalities=("metrics",)), tmp_path)
    assert load_case(tmp_path, detection_time=123.0).manifest.detection_time == 123.0

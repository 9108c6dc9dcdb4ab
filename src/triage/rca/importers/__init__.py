"""Turn a case folder into an :class:`~triage.rca.bundle.IncidentBundle`, whatever its kind.

The kind is decided from the folder's **contents** (a bundle manifest, Nezha-shaped tables, wide metric
tables), never from folder or file-path names, and importers read only non-answer label fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from triage.errors import InvalidInput, NotFound
from triage.rca.bundle import IncidentBundle
from triage.rca.bundle_io import is_bundle_dir, load_bundle
from triage.rca.importers.nezha import load_nezha_case, looks_like_nezha
from triage.rca.importers.wide_metrics import load_wide_metrics_case, looks_like_wide_metrics

CaseKind = Literal["bundle", "nezha", "wide-metrics"]

__all__ = ["CaseKind", "detect_case_kind", "load_case"]


def detect_case_kind(folder: Path) -> CaseKind:
    """Which importer understands ``folder``; raises InvalidInput when none does."""
    if not folder.exists():
        raise NotFound(f"{folder}: no such case directory")
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: not a directory")
    if is_bundle_dir(folder):
        return "bundle"
    if looks_like_nezha(folder):
        return "nezha"
    if looks_like_wide_metrics(folder):
        return "wide-metrics"
    if not any(folder.iterdir()):
        raise InvalidInput(f"{folder}: the case directory is empty")
    raise InvalidInput(
        f"{folder}: not a recognised case (expected bundle.json, Nezha metrics/logs/trace tables, "
        "or normal+anomalous / data metric tables)"
    )


def load_case(folder: Path, *, detection_time: float | None = None) -> IncidentBundle:
    """Load any supported case folder; ``detection_time`` (unix s) overrides or supplies the case's own."""
    kind = detect_case_kind(folder)
    if kind == "bundle":
        bundle = load_bundle(folder)
        if detection_time is not None:
            bundle = bundle.with_detection_time(detection_time, replace=True)
        return bundle
    if kind == "nezha":
        return load_nezha_case(folder, detection_time=detection_time)
    return load_wide_metrics_case(folder, detection_time=detection_time)

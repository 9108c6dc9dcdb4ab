"""Root-cause analysis: incident bundles, importers, evidence per service, ranking, issue naming.

The public entry points (imported lazily, so ``import triage.rca.bundle`` stays light):

* :func:`analyze` (bundle -> :class:`RcaResult`), :func:`rank_services` (the intermediate ranking)
* :func:`load_case` (a case folder of any supported kind -> bundle), :func:`build_bundle` (DataFrames -> bundle)
* :func:`save_bundle` / :func:`load_bundle` (bundle folders), :class:`IncidentBundle`
* :class:`RootCauseRanker` (the learned part), :func:`default_ranker` (the packaged one)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "analyze": "triage.rca.analysis",
    "rank_services": "triage.rca.analysis",
    "explain": "triage.rca.analysis",
    "default_ranker": "triage.rca.analysis",
    "RcaConfig": "triage.rca.analysis",
    "load_case": "triage.rca.importers",
    "detect_case_kind": "triage.rca.importers",
    "build_bundle": "triage.rca.builder",
    "save_bundle": "triage.rca.bundle_io",
    "load_bundle": "triage.rca.bundle_io",
    "IncidentBundle": "triage.rca.bundle",
    "TimeWindow": "triage.rca.bundle",
    "RootCauseRanker": "triage.rca.ranker",
    "RcaResult": "triage.rca.schemas",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'triage.rca' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

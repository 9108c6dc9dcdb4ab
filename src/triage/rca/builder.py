"""Cut an incident bundle out of DataFrames, e.g. those the live store holds for an incident.

Pure: no store, no files. The API reads the tables for the incident's services and time range and hands
them here. Logs may come as the store holds them (``ts, service, level, template_id, content``); metric and
call tables use the bundle's column names (see :mod:`triage.rca.bundle`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from triage.rca.bundle import (
    BundleError,
    BundleManifest,
    DependencyEdge,
    IncidentBundle,
    TimeWindow,
    default_windows,
)


def build_bundle(
    *,
    detection_time: float,
    logs: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    calls: pd.DataFrame | None = None,
    dependencies: Iterable[tuple[str, str]] | Iterable[DependencyEdge] = (),
    incident_window: TimeWindow | None = None,
    baseline_windows: Sequence[TimeWindow] | None = None,
    system: str | None = None,
    source: str = "store",
) -> IncidentBundle:
    """A validated bundle from tables; windows default to the ones around ``detection_time``.

    ``logs``: ``ts`` (datetime or unix s), ``service``, ``level``, and ``content`` or ``message``;
    optional ``template_id``, ``trace_id``, ``instance``. ``metrics``: ``ts, service, metric, value``
    (optional ``instance``). ``calls``: ``ts, caller, callee`` plus latency/count columns.
    """
    if logs is None and metrics is None and calls is None:
        raise BundleError("a bundle needs at least one of logs, metrics or calls")
    if logs is not None:
        logs = _store_logs(logs)
    default_incident, default_baseline = default_windows(float(detection_time))
    edges = tuple(
        e if isinstance(e, DependencyEdge) else DependencyEdge(caller=str(e[0]), callee=str(e[1]))
        for e in dependencies
    )
    manifest = BundleManifest(
        source=source,
        system=system,
        detection_time=float(detection_time),
        incident_window=incident_window or default_incident,
        baseline_windows=tuple(baseline_windows) if baseline_windows else (default_baseline,),
        dependencies=edges,
    )
    return IncidentBundle(manifest=manifest, logs=logs, metrics=metrics, calls=calls)


def _store_logs(logs: pd.DataFrame) -> pd.DataFrame:
    if "message" not in logs.columns and "content" in logs.columns:
        logs = logs.rename(columns={"content": "message"})
    if "message" not in logs.columns:
        raise BundleError("logs: need a content or message column")
    if "template_id" in logs.columns:
        logs = logs.assign(template_id=logs["template_id"].where(logs["template_id"].notna(), ""))
    return logs

"""The cross-service root cause of a live incident: cut an incident bundle from the events the scorer has
seen (and the store holds) for the incident's services and rank them with the root-cause model.

Pure: callers pass the events; the runtime runs this off the request path and hands the result to the
engine, whose later diagnoses of the incident carry it (``EngineState.causes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from triage.diagnosis.engine import RankedCause
from triage.errors import TriageError
from triage.rca.analysis import analyze
from triage.rca.builder import build_bundle

LOG_COLUMNS = ("ts", "service", "level", "template_id", "content")


def rank_incident(
    events: pd.DataFrame,
    *,
    services: Iterable[str],
    first_seen: datetime,
    computed_at: datetime,
    dependencies: Iterable[tuple[str, str]] = (),
) -> RankedCause | None:
    """Rank the incident's services from their events (``ts, service, level, template_id, content``);
    None when the data cannot support a ranking (one service, or nothing in the windows)."""
    wanted = set(services)
    if len(wanted) < 2 or events.empty:
        return None
    logs = events.loc[events["service"].isin(wanted), list(LOG_COLUMNS)]
    if logs["service"].nunique() < 2:
        return None
    try:
        bundle = build_bundle(detection_time=first_seen.timestamp(), logs=logs, dependencies=dependencies,
                              source="live")
        result = analyze(bundle)
    except (TriageError, ValueError):
        return None  # not enough evidence yet; the next round may have it
    return RankedCause(
        service=result.root_cause.service,
        issue=result.root_cause.issue,
        confidence=float(result.root_cause.confidence),
        affected=tuple(result.affected_services),
        ranking=tuple((r.service, float(r.score)) for r in result.ranking),
        computed_at=computed_at,
    )

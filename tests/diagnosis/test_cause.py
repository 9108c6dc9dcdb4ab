from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from triage.diagnosis.cause import rank_incident

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def _propagating_outage() -> pd.DataFrame:
    """Normal traffic on three services, then the database fails first and its callers follow."""
    rows = []
    for i in range(600):
        for service in ("frontend", "orders", "db"):
            rows.append((T0 - timedelta(minutes=20) + timedelta(seconds=2 * i), service, "INFO",
                         "request served in <*> ms", "request served in 12 ms"))
    for i in range(60):
        at = T0 + timedelta(seconds=i)
        rows.append((at, "db", "ERROR", "connection pool exhausted", "connection pool exhausted"))
        if i > 10:
            rows.append((at, "orders", "ERROR", "timeout calling <*>", "timeout calling db"))
        if i > 20:
            rows.append((at, "frontend", "ERROR", "502 from <*>", "502 from orders"))
    return pd.DataFrame(rows, columns=["ts", "service", "level", "template_id", "content"])


def test_the_service_that_failed_first_ranks_first() -> None:
    cause = rank_incident(_propagating_outage(), services=["frontend", "orders", "db"], first_seen=T0,
                          computed_at=T0, dependencies=[("frontend", "orders"), ("orders", "db")])
    assert cause is not None
    assert cause.service == "db"
    assert cause.ranking[0][0] == "db" and cause.ranking[0][1] > cause.ranking[1][1]
    assert set(cause.affected) <= {"orders", "frontend"} and cause.affected
    assert 0 < cause.confidence <= 1


def test_a_single_service_incident_is_not_ranked() -> None:
    events = _propagating_outage()
    assert rank_incident(events, services=["db"], first_seen=T0, computed_at=T0) is None
    assert rank_incident(events.iloc[:0], services=["db", "orders"], first_seen=T0, computed_at=T0) is None

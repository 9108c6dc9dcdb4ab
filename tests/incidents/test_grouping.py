from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage.diagnosis.schemas import Severity
from triage.incidents.grouping import IncidentGrouper

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_same_service_within_window_joins_and_severity_escalates() -> None:
    g = IncidentGrouper(window=timedelta(minutes=15), onset=timedelta(minutes=2))
    a = g.assign(service="orders", at=T0, severity=Severity.MEDIUM, category="TIMEOUT")
    b = g.assign(service="orders", at=T0 + timedelta(minutes=10), severity=Severity.CRITICAL, category="TIMEOUT")
    assert a.opened and not b.opened and a.incident_id == b.incident_id
    assert b.incident.severity is Severity.CRITICAL and b.incident.error_count == 2


def test_quiet_incident_does_not_absorb_later_errors() -> None:
    g = IncidentGrouper(window=timedelta(minutes=15))
    a = g.assign(service="orders", at=T0, severity=Severity.HIGH, category="TIMEOUT")
    b = g.assign(service="orders", at=T0 + timedelta(minutes=16), severity=Severity.HIGH, category="TIMEOUT")
    assert b.opened and b.incident_id != a.incident_id


def test_services_join_by_dependency_trace_or_common_onset() -> None:
    g = IncidentGrouper(onset=timedelta(minutes=2), dependencies={"frontend": ["orders"]})
    a = g.assign(service="orders", at=T0, severity=Severity.HIGH, category="DATABASE_CONNECTION", trace_id="t1")
    by_edge = g.assign(service="frontend", at=T0 + timedelta(minutes=5), severity=Severity.HIGH, category="TIMEOUT")
    by_trace = g.assign(service="payments", at=T0 + timedelta(minutes=6), severity=Severity.HIGH,
                        category="TIMEOUT", trace_id="t1")
    by_onset = g.assign(service="users", at=T0 + timedelta(minutes=1), severity=Severity.HIGH, category="TIMEOUT")
    assert {by_edge.incident_id, by_trace.incident_id, by_onset.incident_id} == {a.incident_id}
    assert a.incident.services == {"orders", "frontend", "payments", "users"}
    unrelated = g.assign(service="reports", at=T0 + timedelta(minutes=7), severity=Severity.HIGH, category="TIMEOUT")
    assert unrelated.opened


def test_low_severity_never_opens_an_incident_alone() -> None:
    g = IncidentGrouper()
    low = g.assign(service="orders", at=T0, severity=Severity.LOW, category="UNKNOWN")
    assert low.incident_id is None and not g.open
    g.assign(service="orders", at=T0, severity=Severity.HIGH, category="TIMEOUT")
    joined = g.assign(service="orders", at=T0, severity=Severity.LOW, category="UNKNOWN")
    assert joined.incident_id is not None

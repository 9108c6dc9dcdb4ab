from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from triage.changes.config import BlackoutWindow, DependencyGraph
from triage.changes.conflicts import find_conflicts
from triage.changes.schemas import ChangeRequest, ChangeState, ChangeType, ScheduleWindow

MON = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # a Monday
GRAPH = DependencyGraph({"web": ["api"], "api": ["postgres"], "reports": ["postgres"]})


def window(start_h: float, end_h: float) -> ScheduleWindow:
    return ScheduleWindow(start=MON + timedelta(hours=start_h), end=MON + timedelta(hours=end_h))


def other(cid: str, services, w, state=ChangeState.SCHEDULED) -> ChangeRequest:
    return ChangeRequest(id=cid, type=ChangeType.NORMAL, state=state, title="o", requester="x",
                         services=tuple(services), window=w, created_at=MON, updated_at=MON)


def clashes(services, w, others=(), blackouts=()):
    return find_conflicts(change_id="CHG-000100", services=services, window=w, others=others, graph=GRAPH,
                          blackouts=blackouts)


def test_same_service_overlapping_windows_clash() -> None:
    found = clashes(["api"], window(10, 12), [other("CHG-000001", ["api"], window(11, 13))])
    assert [(c.kind, c.ref) for c in found] == [("change", "CHG-000001")] and "same service" in found[0].detail


def test_dependent_services_clash_both_ways() -> None:
    assert clashes(["web"], window(10, 12), [other("CHG-000002", ["postgres"], window(9, 10.5))])
    assert clashes(["postgres"], window(10, 12), [other("CHG-000002", ["web"], window(9, 10.5))])


def test_unrelated_or_disjoint_or_finished_changes_do_not_clash() -> None:
    assert not clashes(["web"], window(10, 12), [other("CHG-000003", ["reports"], window(10, 12))])
    assert not clashes(["api"], window(10, 12), [other("CHG-000004", ["api"], window(12, 13))])  # touching
    assert not clashes(["api"], window(10, 12), [other("CHG-000005", ["api"], window(10, 12),
                                                       state=ChangeState.CLOSED)])
    assert not clashes(["api"], window(10, 12), [other("CHG-000100", ["api"], window(10, 12))])  # itself


def test_absolute_blackout_scoped_to_services() -> None:
    freeze = BlackoutWindow(name="billing freeze", start=MON + timedelta(hours=20), end=MON + timedelta(hours=30),
                            services=("reports",))
    assert clashes(["reports"], window(22, 23), blackouts=[freeze])[0].ref == "billing freeze"
    assert not clashes(["web"], window(22, 23), blackouts=[freeze])
    assert not clashes(["reports"], window(31, 32), blackouts=[freeze])


def test_weekly_blackout_recurs_and_may_cross_midnight() -> None:
    clinic = BlackoutWindow(name="clinic hours", weekdays=(0, 1, 2, 3, 4), from_time=time(8), to_time=time(18))
    assert clashes(["web"], window(9, 10), blackouts=[clinic])  # Monday 09:00
    assert not clashes(["web"], window(19, 21), blackouts=[clinic])  # Monday evening
    assert not clashes(["web"], window(5 * 24 + 9, 5 * 24 + 10), blackouts=[clinic])  # Saturday
    batch = BlackoutWindow(name="nightly batch", weekdays=(6,), from_time=time(23), to_time=time(2))
    assert clashes(["web"], window(7 * 24 + 1, 7 * 24 + 3), blackouts=[batch])  # Monday 01:00 after Sunday


def test_blackout_needs_one_complete_form() -> None:
    with pytest.raises(ValueError):
        BlackoutWindow(name="x", weekdays=(1,))
    with pytest.raises(ValueError):
        BlackoutWindow(name="x", start=MON, end=MON - timedelta(hours=1))

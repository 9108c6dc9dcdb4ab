"""The status tables in a real DuckDB store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.errors import Conflict, NotFound
from triage.status.schemas import ComponentState, MaintenanceCreate, Sample, UpdateCreate, UpdateStatus
from triage.status.store import StatusStore
from triage.storage.database import Database

NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)


@pytest.fixture
def store(settings) -> StatusStore:
    return StatusStore(Database(settings.store_path))


def test_samples_are_counted_per_utc_day_and_state_and_old_ones_dropped(store) -> None:
    ticks = [NOW - timedelta(minutes=m) for m in range(0, 120, 10)]  # 23:30 back to 21:40, one day
    store.record([Sample("portal", t, ComponentState.OPERATIONAL) for t in ticks[:8]])
    store.record([Sample("portal", t, ComponentState.MAJOR_OUTAGE, "probe failed") for t in ticks[8:]])
    store.record([Sample("portal", NOW - timedelta(days=1, hours=1), ComponentState.PARTIAL_OUTAGE)])
    counts = store.day_counts(since=(NOW - timedelta(days=5)).date())
    assert counts["portal"][NOW.date()] == {"operational": 8, "major_outage": 4}
    assert counts["portal"][(NOW - timedelta(days=1)).date()] == {"partial_outage": 1}
    latest = store.latest()["portal"]
    assert latest.state is ComponentState.OPERATIONAL and latest.at == ticks[0]
    # a sample older than the retention goes when the next tick is recorded
    store.record([Sample("portal", NOW - timedelta(days=100), ComponentState.OPERATIONAL)], keep_days=91)
    store.record([Sample("portal", NOW + timedelta(minutes=1), ComponentState.OPERATIONAL)], keep_days=91)
    assert (NOW - timedelta(days=100)).date() not in store.day_counts(since=(NOW - timedelta(days=120)).date())["portal"]


def test_updates_round_trip(store) -> None:
    request = UpdateCreate(status=UpdateStatus.IDENTIFIED, message="Cause found", title="Slow logins")
    stored = store.post_update("INC-1", request, message="Cause found", components=["portal"], actor="olga", now=NOW)
    assert store.updates(["INC-1"]) == [stored]
    assert store.updates(["INC-2"]) == [] and store.updates([]) == []
    assert store.updated_incidents(since=NOW - timedelta(hours=1)) == ["INC-1"]


def test_maintenance_schedule_list_cancel(store) -> None:
    request = MaintenanceCreate(title="DB upgrade", components=["portal", "portal"], starts_at=NOW + timedelta(hours=1),
                                ends_at=NOW + timedelta(hours=2))
    item = store.schedule(request, actor="sam", now=NOW)
    assert item.components == ("portal",) and item.upcoming(NOW) and not item.active(NOW)
    assert item.active(NOW + timedelta(minutes=90))
    assert [m.maintenance_id for m in store.maintenances(ending_after=NOW)] == [item.maintenance_id]
    assert store.maintenances(ending_after=NOW + timedelta(hours=3)) == []
    canceled = store.cancel(item.maintenance_id, now=NOW)
    assert canceled.canceled_at == NOW and store.maintenances(ending_after=NOW) == []
    assert len(store.maintenances(ending_after=NOW, include_canceled=True)) == 1
    with pytest.raises(Conflict):
        store.cancel(item.maintenance_id, now=NOW)
    with pytest.raises(NotFound):
        store.cancel("mnt-nope", now=NOW)


def test_maintenance_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends_at must be after starts_at"):
        MaintenanceCreate(title="x", components=["a"], starts_at=NOW, ends_at=NOW)
    with pytest.raises(ValueError, match="timezone"):
        MaintenanceCreate(title="x", components=["a"], starts_at=datetime(2026, 1, 1), ends_at=NOW)

"""Component states from checks and incidents, uptime from samples, public incidents."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from triage.status.config import ComponentConfig, StatusConfig
from triage.status.rules import (
    component_state,
    daily_uptime,
    overall,
    public_id,
    public_incidents,
    state_from_checks,
    window_uptime,
)
from triage.status.schemas import (
    CheckOutcome,
    ComponentState,
    Impact,
    Maintenance,
    StoredUpdate,
    UpdateStatus,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
S = ComponentState
PORTAL = ComponentConfig(id="portal", name="Patient portal", services=("portal-*",), checks=("store",))
CONFIG = StatusConfig(components=(PORTAL, ComponentConfig(id="api", name="API", checks=("writer",))))


def ok(ms: float = 10) -> CheckOutcome:
    return CheckOutcome("c", True, ms)


def bad() -> CheckOutcome:
    return CheckOutcome("c", False, 5, "connection refused")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], None),
        ([ok()], S.OPERATIONAL),
        ([ok(), ok(1500)], S.DEGRADED_PERFORMANCE),
        ([ok(), bad()], S.PARTIAL_OUTAGE),
        ([bad(), bad()], S.MAJOR_OUTAGE),
        ([bad(), ok(5000)], S.PARTIAL_OUTAGE),
    ],
)
def test_state_from_checks(outcomes, expected) -> None:
    assert state_from_checks(outcomes, degraded_ms=1000) == expected


def impact(severity: str, status: UpdateStatus = UpdateStatus.INVESTIGATING, services=("portal-api",),
           started: datetime = NOW - timedelta(minutes=30), resolved: datetime | None = None, history=()) -> Impact:
    return Impact("INC-1", tuple(services), severity, status, started, resolved, tuple(history))


def test_open_incidents_on_a_components_services_set_its_state() -> None:
    state, reason = component_state(PORTAL, [ok()], [impact("HIGH")], [], NOW, CONFIG)
    assert state is S.PARTIAL_OUTAGE and "open incidents" in reason
    assert component_state(PORTAL, [ok()], [impact("CRITICAL")], [], NOW, CONFIG)[0] is S.MAJOR_OUTAGE
    # another service, a resolved incident, or a LOW one: no effect
    assert component_state(PORTAL, [ok()], [impact("CRITICAL", services=("billing",))], [], NOW, CONFIG)[0] is S.OPERATIONAL
    assert component_state(PORTAL, [ok()], [impact("CRITICAL", UpdateStatus.RESOLVED)], [], NOW, CONFIG)[0] is S.OPERATIONAL
    assert component_state(PORTAL, [ok()], [impact("LOW")], [], NOW, CONFIG)[0] is S.OPERATIONAL
    # the worse of checks and incidents wins
    assert component_state(PORTAL, [bad()], [impact("MEDIUM")], [], NOW, CONFIG)[0] is S.MAJOR_OUTAGE


def test_active_maintenance_shows_instead_of_failures() -> None:
    window = Maintenance(maintenance_id="m", title="Upgrade", description="", components=("portal",),
                         starts_at=NOW - timedelta(minutes=5), ends_at=NOW + timedelta(hours=1), created_by="x",
                         created_at=NOW)
    assert component_state(PORTAL, [bad()], [], [window], NOW, CONFIG)[0] is S.UNDER_MAINTENANCE
    later = NOW + timedelta(hours=2)
    assert component_state(PORTAL, [bad()], [], [window], later, CONFIG)[0] is S.MAJOR_OUTAGE
    canceled = window.model_copy(update={"canceled_at": NOW})
    assert component_state(PORTAL, [bad()], [], [canceled], NOW, CONFIG)[0] is S.MAJOR_OUTAGE


def test_overall_banner_is_the_worst_state() -> None:
    assert overall([S.OPERATIONAL, S.OPERATIONAL]) == (S.OPERATIONAL, "All systems operational")
    assert overall([S.OPERATIONAL, S.PARTIAL_OUTAGE, S.DEGRADED_PERFORMANCE])[1] == "Partial system outage"
    assert overall([S.UNDER_MAINTENANCE, S.OPERATIONAL])[0] is S.UNDER_MAINTENANCE


def test_daily_uptime_counts_measured_time_and_weights_partial_outages() -> None:
    weights = CONFIG.downtime_weights
    today = date(2026, 11, 27)
    counts = {
        today: {"operational": 90, "major_outage": 10},
        today - timedelta(days=1): {"operational": 50, "partial_outage": 50},
        today - timedelta(days=2): {"under_maintenance": 24},
        today - timedelta(days=3): {"operational": 30, "under_maintenance": 30, "degraded_performance": 10},
    }
    days = daily_uptime(counts, today=today, days=90, weights=weights)
    assert len(days) == 90 and days[-1].day == today and days[0].day == today - timedelta(days=89)
    assert days[-1].uptime == pytest.approx(0.9) and days[-1].worst is S.MAJOR_OUTAGE
    assert days[-2].uptime == pytest.approx(1 - 0.5 * 0.3) and days[-2].worst is S.PARTIAL_OUTAGE
    assert days[-3].uptime is None and days[-3].worst is S.UNDER_MAINTENANCE  # maintenance is not downtime
    assert days[-4].uptime == 1.0 and days[-4].worst is S.DEGRADED_PERFORMANCE
    assert days[0].uptime is None and days[0].worst is None  # no data is not 100 %
    total = window_uptime(days, weights)
    measured = 100 + 100 + 40
    assert total == pytest.approx(1 - (10 + 0.3 * 50) / measured)
    assert window_uptime(days[:5], weights) is None


def test_public_incidents_follow_the_incident_with_generic_words() -> None:
    opened = NOW - timedelta(minutes=30)
    identified = NOW - timedelta(minutes=10)
    incident = impact("HIGH", UpdateStatus.IDENTIFIED, started=opened,
                      history=[(UpdateStatus.INVESTIGATING, opened), (UpdateStatus.IDENTIFIED, identified)])
    [public] = public_incidents([incident], [], CONFIG, now=NOW)
    assert public.public_id == public_id("INC-1") and "INC-1" not in public.public_id
    assert public.title == "Partial outage affecting Patient portal"
    assert public.status is UpdateStatus.IDENTIFIED and public.components == ("Patient portal",)
    assert [u.status for u in public.updates] == [UpdateStatus.IDENTIFIED, UpdateStatus.INVESTIGATING]
    assert "portal-api" not in str(public) and "INC-1" not in str(public.updates)


def test_posted_updates_replace_the_automatic_ones_and_set_the_title() -> None:
    posted = StoredUpdate(update_id="u1", incident_id="INC-1", status=UpdateStatus.MONITORING, title="Portal logins slow",
                          message="A fix is rolling out.", components=("portal",), posted_at=NOW - timedelta(minutes=1),
                          posted_by="olga (engineer)")
    incident = impact("MEDIUM", history=[(UpdateStatus.INVESTIGATING, NOW - timedelta(minutes=30))])
    [public] = public_incidents([incident], [posted], CONFIG, now=NOW)
    assert public.title == "Portal logins slow" and public.status is UpdateStatus.MONITORING
    assert public.updates[0].message == "A fix is rolling out."
    assert len(public.updates) == 2  # the automatic "investigating" stays, the posted one is newest


def test_which_incidents_are_public() -> None:
    low = impact("LOW")
    elsewhere = impact("CRITICAL", services=("billing",))
    long_ago = impact("HIGH", UpdateStatus.RESOLVED, started=NOW - timedelta(days=40),
                      resolved=NOW - timedelta(days=39))
    recent = impact("HIGH", UpdateStatus.RESOLVED, started=NOW - timedelta(days=2), resolved=NOW - timedelta(days=1))
    shown = public_incidents([low, elsewhere, long_ago, recent], [], CONFIG, now=NOW)
    assert len(shown) == 1 and shown[0].status is UpdateStatus.RESOLVED
    assert shown[0].updates[0].message == "This incident has been resolved."

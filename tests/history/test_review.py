"""RTO against elapsed time, and the post-incident review drafted from the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.alerting.schemas import Alert, AlertType
from triage.changes.schemas import ChangeRequest, ChangeType, Milestone
from triage.diagnosis.schemas import RootCause, Severity
from triage.errors import InvalidInput
from triage.history.review import DashboardConfig, load_dashboard_config, post_incident_review, rto_status
from triage.incidents.schemas import IncidentDetail, IncidentStatus, Resolution

START = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def incident(resolved_after: timedelta | None, worked: bool = True) -> IncidentDetail:
    resolved = START + resolved_after if resolved_after else None
    return IncidentDetail(
        incident_id="INC-1", title="Database connection on billing-db", status=IncidentStatus.RESOLVED if resolved
        else IncidentStatus.INVESTIGATING, severity=Severity.CRITICAL, category="DATABASE_CONNECTION",
        services=["billing", "billing-db"], root_cause=RootCause(service="billing-db", issue="pool exhausted", confidence=0.9),
        error_count=42, first_seen=START, last_seen=START + timedelta(minutes=30), resolved_at=resolved,
        resolved_by="ana (analyst)" if resolved else None,
        resolution=Resolution(fix_id="restart-service", suggested_fix_worked=worked, notes="pool resized") if resolved else None,
        diagnoses=[{"detectedAt": (START + timedelta(minutes=2)).isoformat(), "evidence": {"template": "pool <*> exhausted"}}],
    )


def test_rto_status_and_config(tmp_path) -> None:
    config = DashboardConfig()
    inside = rto_status(START, "CRITICAL", now=START + timedelta(minutes=30), resolved_at=None, config=config)
    assert inside == {"elapsedSeconds": 1800, "rtoSeconds": 2700, "used": pytest.approx(0.667, abs=1e-3),
                      "breached": False}
    late = rto_status(START, "critical", now=START + timedelta(hours=5), resolved_at=START + timedelta(minutes=50),
                      config=config)
    assert late["breached"] and late["elapsedSeconds"] == 3000  # the clock stops at resolution
    path = tmp_path / "dashboard.yaml"
    path.write_text("rto_minutes: {high: 60}\n")
    assert load_dashboard_config(path).rto("HIGH") == timedelta(minutes=60)
    assert load_dashboard_config(path).rto("CRITICAL") == timedelta(minutes=45)
    path.write_text("rto_minutes: {HIGH: 0}\n")
    with pytest.raises(InvalidInput, match="positive"):
        load_dashboard_config(path)


def test_review_of_an_open_incident_is_a_draft() -> None:
    review = post_incident_review(incident(None), now=START + timedelta(minutes=10))
    assert review["state"] == "draft" and review["dueBy"] is None and review["resolution"] is None
    assert review["impact"]["detectedAt"] == (START + timedelta(minutes=2)).isoformat()
    assert review["rootCause"]["template"] == "pool <*> exhausted"
    assert review["actionItems"] == []


def test_review_draws_action_items_from_what_happened() -> None:
    now = START + timedelta(hours=2)
    change = ChangeRequest(id="CHG-000001", type=ChangeType.EMERGENCY, title="Restart billing-db pool",
                           requester="triage", services=("billing-db",), incident_id="INC-1",
                           breaches_escalated=(Milestone.APPROVAL,), rollback_reason="validation failed",
                           created_at=START, updated_at=now)
    alert = Alert(id="ALT-1", dedup_key="k", type=AlertType.DATABASE, severity="CRITICAL", title="pool exhausted",
                  incident_id="INC-1", first_seen=START, last_seen=START, team="database_admin", escalation_level=1,
                  escalated_to=("technical_lead",), acknowledged_by="olga", acknowledged_at=START + timedelta(minutes=18))
    feedback = [{"categoryCorrect": False}, {"categoryCorrect": True}]
    review = post_incident_review(incident(timedelta(minutes=70), worked=False), changes=[change], alerts=[alert],
                                  feedback=feedback, now=now)
    assert review["state"] == "ready for review"
    assert review["dueBy"] == (START + timedelta(minutes=70, hours=24)).isoformat()
    assert review["response"]["minutesToAcknowledge"] == 18.0 and review["response"]["escalatedAlerts"] == 1
    assert review["response"]["deadlinesMissed"] == ["approval"]
    items = " ".join(review["actionItems"])
    for expected in ("25 min longer than the CRITICAL RTO", "suggested fix did not work", "1 diagnosis verdict",
                     "1 alert(s) escalated", "Emergency deadlines missed (approval)", "rolled back (CHG-000001)"):
        assert expected in items
    calm = post_incident_review(incident(timedelta(minutes=20)), now=now)
    assert calm["actionItems"] == ["No follow-up suggested by the data; record what went well."]

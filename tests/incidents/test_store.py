from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from triage.diagnosis.schemas import RootCause
from triage.errors import Conflict, NotFound
from triage.incidents.schemas import FeedbackRequest, IncidentStatus, ResolveRequest
from triage.incidents.store import DiagnosisRow, IncidentState, IncidentStore, TimelineRow
from triage.storage.database import Database

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def _seed(store: IncidentStore) -> None:
    store.write_batch(
        diagnoses=[
            DiagnosisRow("e1", "INC-1", T0, T0, "orders", "ERROR", "HIGH", "TIMEOUT", "T1", "Read timed out", "{}", 1),
            DiagnosisRow("e2", None, T0, T0, "reports", "WARN", "LOW", "UNKNOWN", "T2", "slow query", "{}", 2),
        ],
        incidents=[
            IncidentState("INC-1", "TIMEOUT on orders", "HIGH", "TIMEOUT", ("orders", "frontend"),
                          RootCause(service="orders", issue="timeouts", confidence=0.8), 3, T0, T0 + timedelta(minutes=4)),
        ],
        timeline=[TimelineRow("INC-1", T0, "error", "Read timed out")],
    )


def test_incidents_filter_and_timeline(tmp_path: Path) -> None:
    store = IncidentStore(Database(tmp_path / "s.duckdb"))
    _seed(store)
    assert [i.incident_id for i in store.list(service="frontend")] == ["INC-1"]
    assert store.list(service="billing") == []
    assert store.list(severity="critical") == []
    assert [i.incident_id for i in store.list(text="timeout", status="open")] == ["INC-1"]
    detail = store.get("INC-1")
    assert detail.root_cause.service == "orders" and detail.timeline[0].kind == "error"
    with pytest.raises(NotFound):
        store.get("INC-404")


def test_traffic_updates_never_reopen_a_resolved_incident(tmp_path: Path) -> None:
    store = IncidentStore(Database(tmp_path / "s.duckdb"))
    _seed(store)
    resolved = store.resolve("INC-1", ResolveRequest(fix_id="restart-service", suggested_fix_worked=True),
                             actor="ana", now=T0 + timedelta(minutes=30))
    assert resolved.status is IncidentStatus.RESOLVED and resolved.resolution.fix_id == "restart-service"
    _seed(store)  # a late flush of the same incident's live state
    assert store.get("INC-1").status is IncidentStatus.RESOLVED
    with pytest.raises(Conflict):
        store.resolve("INC-1", ResolveRequest(suggested_fix_worked=False), actor="ana", now=T0)
    assert store.open_incidents() == []


def test_feedback_becomes_labelled_rows(tmp_path: Path) -> None:
    store = IncidentStore(Database(tmp_path / "s.duckdb"))
    _seed(store)
    store.add_feedback("e1", FeedbackRequest(category_correct=False, correct_category="dependency_failure"),
                       actor="ana", now=T0)
    store.add_feedback("e2", FeedbackRequest(category_correct=True, severity_correct=True), actor="ana", now=T0)
    rows = store.labelled_feedback().set_index("error_id")
    assert rows.loc["e1", "category"] == "DEPENDENCY_FAILURE"
    assert rows.loc["e2", "category"] == "UNKNOWN" and rows.loc["e2", "severity"] == "LOW"
    with pytest.raises(NotFound):
        store.add_feedback("nope", FeedbackRequest(), actor="ana", now=T0)

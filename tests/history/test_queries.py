"""Searching past incidents in a real store: every filter, text search, paging, facets, lifecycles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from triage.diagnosis.schemas import RootCause
from triage.history.queries import HistoryFilter, IncidentHistory
from triage.incidents.schemas import IncidentStatus, ResolveRequest
from triage.incidents.store import DiagnosisRow, IncidentState, IncidentStore, TimelineRow
from triage.storage.database import Database

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _seed(db: Database) -> IncidentStore:
    store = IncidentStore(db)
    rows = [  # id, days ago, category, severity, services, root, issue
        ("INC-A", 20, "DATABASE_CONNECTION", "HIGH", ("billing", "billing-db"), "billing-db", "Connection pool exhausted"),
        ("INC-B", 10, "TIMEOUT", "MEDIUM", ("scheduling",), "scheduling", "Upstream call exceeded 100% of its budget"),
        ("INC-C", 3, "TIMEOUT", "LOW", ("scheduling", "portal_api"), "portal_api", "Slow search queries"),
        ("INC-D", 1, "NETWORK", "CRITICAL", ("ehr-sync",), "gateway", "Packet loss"),
    ]
    for incident_id, days, category, severity, services, root, issue in rows:
        start = NOW - timedelta(days=days)
        store.write_batch(
            incidents=[IncidentState(incident_id, f"{category} on {root}", severity, category, services,
                                     RootCause(service=root, issue=issue, confidence=0.7), 2, start,
                                     start + timedelta(minutes=5))],
            diagnoses=[DiagnosisRow(f"err-{incident_id}", incident_id, start, start, services[0], "ERROR", severity,
                                    category, "t1", f"{services[0]} failed: token=<SECRET> at shard-{days}", "{}")],
            timeline=[TimelineRow(incident_id, start, "opened", "opened")],
        )
    for incident_id, hours in (("INC-A", 2), ("INC-B", 0.5)):
        start = NOW - timedelta(days=20 if incident_id == "INC-A" else 10)
        store.resolve(incident_id, ResolveRequest(fix_id="restart-service", suggested_fix_worked=True,
                                                  notes="pool resized"),
                      actor="ana", now=start + timedelta(hours=hours))
    store.set_status("INC-D", IncidentStatus.IDENTIFIED, actor="olga", note="gateway flapping",
                     now=NOW - timedelta(hours=20))
    return store


@pytest.fixture
def history(settings) -> IncidentHistory:
    db = Database(settings.store_path)
    _seed(db)
    return IncidentHistory(db)


def ids(history: IncidentHistory, **filters) -> list[str]:
    frame, total = history.search(HistoryFilter(**filters))
    assert total == len(frame)
    return list(frame["incident_id"])


def test_each_filter(history) -> None:
    assert ids(history) == ["INC-D", "INC-C", "INC-B", "INC-A"]  # newest first
    assert ids(history, service="scheduling") == ["INC-C", "INC-B"]
    assert ids(history, category="timeout") == ["INC-C", "INC-B"]
    assert ids(history, severity="critical") == ["INC-D"]
    assert ids(history, root_cause="billing-db") == ["INC-A"]  # the root-cause service
    assert ids(history, root_cause="pool") == ["INC-A"]  # or words of the issue
    assert ids(history, status="resolved") == ["INC-B", "INC-A"]
    assert ids(history, status="open") == ["INC-D", "INC-C"]
    assert ids(history, status="identified") == ["INC-D"]
    assert ids(history, since=NOW - timedelta(days=5)) == ["INC-D", "INC-C"]
    assert ids(history, until=NOW - timedelta(days=5)) == ["INC-B", "INC-A"]
    assert ids(history, service="scheduling", severity="LOW") == ["INC-C"]


def test_text_search_reaches_titles_causes_resolutions_services_and_error_messages(history) -> None:
    assert ids(history, text="packet") == ["INC-D"]  # root issue
    assert ids(history, text="resized") == ["INC-B", "INC-A"]  # resolution notes
    assert ids(history, text="ehr-sync") == ["INC-D"]  # services
    assert ids(history, text="shard-3") == ["INC-C"]  # a diagnosed error's (redacted) message
    assert ids(history, text="100%") == ["INC-B"]  # % is literal, not a wildcard
    assert ids(history, text="portal_api") == ["INC-C"]  # _ is literal too
    assert ids(history, text="portalXapi") == []


def test_paging_and_derived_columns(history) -> None:
    page, total = history.search(HistoryFilter(), limit=2, offset=1)
    assert total == 4 and list(page["incident_id"]) == ["INC-C", "INC-B"]
    frame = history.frame()
    row = frame.set_index("incident_id").loc["INC-A"]
    assert row["minutes_to_resolve"] == pytest.approx(120) and row["fix"] == "restart-service"
    assert row["services"] == ["billing", "billing-db"] and str(row["first_seen"].tz) == "UTC"
    assert frame.set_index("incident_id").loc["INC-D"]["minutes_to_resolve"] != frame.set_index("incident_id").loc["INC-D"]["minutes_to_resolve"]  # NaN: open


@pytest.mark.parametrize(("field", "value"), [("severity", "SEVERE"), ("status", "closed"), ("text", "x" * 201)])
def test_bad_filters_are_refused(field, value) -> None:
    with pytest.raises(ValueError):
        HistoryFilter(**{field: value})


def test_facets_and_lifecycles(history) -> None:
    facets = history.facets()
    assert facets["services"] == ["billing", "billing-db", "ehr-sync", "portal_api", "scheduling"]
    assert facets["categories"] == ["DATABASE_CONNECTION", "NETWORK", "TIMEOUT"]
    assert facets["rootServices"] == ["billing-db", "gateway", "portal_api", "scheduling"]
    cycles = {c["incident_id"]: c for c in history.lifecycles(resolved_since=NOW - timedelta(days=15))}
    assert set(cycles) == {"INC-B", "INC-C", "INC-D"}  # INC-A was resolved before the horizon
    assert [s for s, _ in cycles["INC-D"]["history"]] == ["investigating", "identified"]
    assert [s for s, _ in cycles["INC-B"]["history"]] == ["investigating", "resolved"]


def test_feedback_and_similar(history, settings) -> None:
    from triage.incidents.schemas import FeedbackRequest

    IncidentStore(Database(settings.store_path)).add_feedback(
        "err-INC-C", FeedbackRequest(category_correct=False, correct_category="DATABASE_CONNECTION"), actor="ana", now=NOW)
    [verdict] = history.feedback("INC-C")
    assert verdict["categoryCorrect"] is False and verdict["correctCategory"] == "DATABASE_CONNECTION"
    similar = history.similar(incident_id="INC-C", root_service="scheduling", category="TIMEOUT")
    assert list(similar["incident_id"]) == ["INC-B"]
    assert json.dumps(history.facets())  # JSON-ready


def test_templates_of_an_incident(history) -> None:
    [template] = history.templates("INC-C")
    assert template == {"templateId": "t1", "template": None, "count": 1, "services": ["scheduling"]}
    assert history.templates("INC-none") == []

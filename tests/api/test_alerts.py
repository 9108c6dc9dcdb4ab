"""Alerts through the real server: raised from a posted diagnosis, listed grouped by incident,
acknowledged and resolved, with role checks. (Delivery to receivers: test_operations.py.)"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta


def _critical(server) -> str:
    """Post a CRITICAL diagnosis on a fresh service; returns its incident id once its alert exists."""
    # a moment of its own: the grouper joins errors of any service close in time into one incident
    at = datetime.now(UTC) + timedelta(days=random.randrange(1, 3000))
    event = {"service": f"orders-{uuid.uuid4().hex[:8]}", "timestamp": at.isoformat(),
             "level": "ERROR", "message": "java.lang.OutOfMemoryError: Java heap space"}  # fmt: skip
    with server.client("service") as svc, server.client("analyst") as ana:
        diagnosis = svc.post("/v1/diagnose", json=event).json()
        assert diagnosis["severity"] == "CRITICAL"
        incident = diagnosis["incidentId"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if ana.get("/v1/alerts", params={"incident": incident}).json()["count"]:
                return incident
            time.sleep(0.3)
    raise AssertionError(f"no alert raised for {incident}")


def test_alert_raised_for_a_posted_diagnosis_and_listed_by_incident(server) -> None:
    incident = _critical(server)
    with server.client("analyst") as ana:
        listed = ana.get("/v1/alerts", params={"incident": incident}).json()
        [group] = listed["groups"]
        assert group["incidentId"] == incident and group["highestSeverity"] == "CRITICAL"
        alert = group["alerts"][0]
        assert alert["type"] == "system_outage" and alert["team"] == "on_call_engineer"
        assert alert["state"] == "open" and alert["source"].startswith("diagnosis:")
        detail = ana.get(f"/v1/alerts/{alert['id']}").json()
        # no endpoints are configured on this server: every planned delivery is visible as skipped
        assert {d["channel"] for d in detail["deliveries"]} == {"sms", "phone", "email", "slack", "pagerduty"}
        assert {d["status"] for d in detail["deliveries"]} == {"skipped"}
        assert all("address" not in d for d in detail["deliveries"])
        everything = ana.get("/v1/alerts").json()
        assert incident in [g["incidentId"] for g in everything["groups"]]


def test_acknowledge_and_resolve(server) -> None:
    incident = _critical(server)
    with server.client("engineer") as eng, server.client("analyst") as ana:
        alert_id = ana.get("/v1/alerts", params={"incident": incident}).json()["groups"][0]["alerts"][0]["id"]
        assert ana.post(f"/v1/alerts/{alert_id}/ack").status_code == 403  # analysts read alerts only
        acked = eng.post(f"/v1/alerts/{alert_id}/ack", json={"comment": "on it"}).json()
        assert acked["state"] == "acknowledged" and acked["acknowledgedBy"] == "test-engineer"
        assert acked["nextEscalationAt"] is None  # escalation stops
        resolved = eng.post(f"/v1/alerts/{alert_id}/resolve", json={"reason": "heap raised"}).json()
        assert resolved["state"] == "resolved" and resolved["resolvedBy"] == "test-engineer"
        r = eng.post(f"/v1/alerts/{alert_id}/ack")
        assert r.status_code == 409  # a resolved alert cannot be acknowledged
        assert alert_id not in str(ana.get("/v1/alerts", params={"incident": incident}).json())
        assert alert_id in str(ana.get("/v1/alerts", params={"incident": incident, "open": "false"}).json())
        trail = ana.get("/v1/audit", params={"subjectId": alert_id}).json()["entries"]
        assert [e["action"] for e in trail] == ["alert.raised", "alert.acknowledged", "alert.resolved"]
        assert trail[1]["actor"] == "test-engineer"


def test_acknowledge_an_incident_group(server) -> None:
    incident = _critical(server)
    with server.client("approver") as appr:
        done = appr.post("/v1/alerts/ack", json={"incidentId": incident}).json()
        assert done["incidentId"] == incident and done["acknowledged"]
        assert {a["state"] for a in done["acknowledged"]} == {"acknowledged"}
        assert appr.post("/v1/alerts/ack", json={"incidentId": "INC-none"}).status_code == 404


def test_alert_ids_and_roles(server) -> None:
    with server.client("engineer") as eng, server.client("service") as svc:
        assert eng.get("/v1/alerts/ALT-999999").status_code == 404
        assert eng.get("/v1/alerts/nope").status_code == 422
        assert svc.get("/v1/alerts").status_code == 403
        assert eng.get("/v1/alerts", params={"state": "sleeping"}).status_code == 422

"""Change requests through the real server: the whole workflow, approvals by authority, role checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta


def _service() -> str:
    return f"records-{uuid.uuid4().hex[:8]}"  # one service per test: no schedule clash between tests


def _window(minutes: int = 120) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(minutes=minutes)).isoformat(),
    }


def test_normal_change_from_request_to_close(server) -> None:
    with server.client("engineer") as eng, server.client("approver") as appr, server.client("analyst") as ana:
        r = eng.post("/v1/changes", json={
            "type": "normal", "title": "Add index on records.patient_id", "services": [_service()],
            "rollbackProcedure": "DROP INDEX idx_patient", "validationPlan": "p99 < 50 ms",
        })  # fmt: skip
        assert r.status_code == 201, r.text
        change = r.json()
        cid = change["id"]
        assert change["state"] == "new" and change["requester"] == "test-engineer"
        assert change["nextStates"] == ["assess", "canceled"]

        assessed = eng.post(f"/v1/changes/{cid}/assess", json={"impact": {"userImpact": "partial"}}).json()
        assert assessed["state"] == "authorize"  # a rollback procedure is there: straight on to approval
        assert 1 <= assessed["risk"]["score"] <= 10 and assessed["risk"]["factors"]
        assert assessed["missingApprovals"] == ["technical_lead"]

        scheduled = eng.post(f"/v1/changes/{cid}/schedule", json=_window()).json()
        assert scheduled["state"] == "authorize" and scheduled["window"]["start"]
        r = eng.post(f"/v1/changes/{cid}/implement")
        assert r.status_code == 409 and "cannot go from authorize to implement" in r.json()["detail"]

        # an engineer is on call, not technical lead: the authority check refuses
        r = eng.post(f"/v1/changes/{cid}/approve", json={"comment": "lgtm"})
        assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")

        approved = appr.post(f"/v1/changes/{cid}/approve", json={"comment": "go"}).json()
        assert approved["state"] == "scheduled"
        assert [(a["authority"], a["user"]) for a in approved["approvals"]] == [
            ("technical_lead", "test-approver")
        ]
        assert approved["missingApprovals"] == []

        assert eng.post(f"/v1/changes/{cid}/implement").json()["state"] == "implement"
        reviewed = eng.post(
            f"/v1/changes/{cid}/review", json={"validation": True, "notes": "p99 41 ms"}
        ).json()
        assert reviewed["state"] == "review" and reviewed["validationPassed"] is True
        closed = appr.post(f"/v1/changes/{cid}/close", json={"notes": "done"}).json()
        assert closed["state"] == "closed" and closed["closeCode"] == "successful"
        assert closed["nextStates"] == []

        shown = ana.get(f"/v1/changes/{cid}").json()  # analysts read
        assert shown["state"] == "closed" and shown["version"] > 1
        assert cid in [c["id"] for c in ana.get("/v1/changes", params={"state": "closed"}).json()]
        assert cid not in [c["id"] for c in ana.get("/v1/changes", params={"open": "true"}).json()]
        r = eng.post(f"/v1/changes/{cid}/cancel", json={"reason": "too late"})
        assert r.status_code == 409 and "closed" in r.json()["detail"]


def test_self_approval_is_refused(server) -> None:
    with server.client("approver") as appr, server.client("admin") as admin:
        cid = appr.post("/v1/changes", json={
            "type": "normal", "title": "Raise pool size", "services": [_service()], "rollbackProcedure": "revert",
        }).json()["id"]  # fmt: skip
        assert appr.post(f"/v1/changes/{cid}/assess").json()["state"] == "authorize"
        r = appr.post(f"/v1/changes/{cid}/approve")
        assert r.status_code == 403
        assert "may not approve" in r.json()["detail"] and r.json()["status"] == 403
        r = appr.post(f"/v1/changes/{cid}/reject", json={"reason": "changed my mind"})
        assert r.status_code == 403  # nor reject it (cancel instead)
        assert appr.get(f"/v1/changes/{cid}").json()["approvals"] == []
        # someone else may
        assert admin.post(f"/v1/changes/{cid}/approve").json()["approvals"][0]["user"] == "test-admin"


def test_emergency_change_approved_rolled_back_and_closed(server) -> None:
    with server.client("engineer") as eng, server.client("approver") as appr, server.client("admin") as admin:
        r = admin.post("/v1/changes", json={
            "type": "emergency", "title": "Fail over the records database", "services": [_service()],
            "justification": "primary down",
        })  # fmt: skip
        change = r.json()
        cid = change["id"]
        assert r.status_code == 201 and change["state"] == "authorize"
        assert [d["milestone"] for d in change["deadlines"]] == [
            "declared", "requested", "impact_analysis", "approval", "implementation", "validation",
            "post_incident_review",
        ]  # fmt: skip
        assert {d["state"] for d in change["deadlines"][:3]} == {"met"}
        assert change["missingApprovals"] == ["on_call_engineer", "technical_lead"]

        assert eng.post(f"/v1/changes/{cid}/approve").json()["missingApprovals"] == ["technical_lead"]
        r = eng.post(f"/v1/changes/{cid}/approve")
        assert r.status_code == 403  # one person fills one authority
        ready = appr.post(f"/v1/changes/{cid}/approve").json()
        assert ready["missingApprovals"] == [] and ready["milestones"]["approval"]

        assert eng.post(f"/v1/changes/{cid}/implement").json()["state"] == "implement"
        assert eng.post(f"/v1/changes/{cid}/rollback", json={}).status_code == 422  # a reason is required
        rolled = eng.post(f"/v1/changes/{cid}/rollback", json={"reason": "error rate doubled"}).json()
        assert rolled["state"] == "rolled_back" and rolled["rollbackReason"] == "error rate doubled"
        assert eng.post(f"/v1/changes/{cid}/review", json={"notes": "reverted"}).json()["state"] == "review"
        r = eng.post(f"/v1/changes/{cid}/close")
        assert r.status_code == 422  # an emergency closes with its post-incident review
        closed = eng.post(f"/v1/changes/{cid}/close", json={"notes": "post-incident review: PIR-7"}).json()
        assert closed["state"] == "closed" and closed["closeCode"] == "rolled_back"


def test_standard_change_from_the_catalogue_and_cancel(server) -> None:
    with server.client("engineer") as eng:
        templates = {t["id"] for t in eng.get("/v1/changes/catalogue").json()}
        assert "service-restart" in templates
        r = eng.post("/v1/changes", json={
            "type": "standard", "templateId": "service-restart", "title": "Restart the scheduler",
            "services": [_service()], "window": _window(),
        })  # fmt: skip
        change = r.json()
        assert (
            r.status_code == 201
            and change["state"] == "scheduled"
            and change["templateId"] == "service-restart"
        )
        assert change["rollbackProcedure"]  # from the template
        canceled = eng.post(f"/v1/changes/{change['id']}/cancel", json={"reason": "not needed"}).json()
        assert canceled["state"] == "canceled"


def test_roles_and_bad_input(server) -> None:
    body = {"type": "normal", "title": "t", "services": [_service()]}
    with server.client("analyst") as ana, server.client("service") as svc, server.client() as anon:
        assert ana.post("/v1/changes", json=body).status_code == 403
        assert svc.get("/v1/changes").status_code == 403
        assert anon.get("/v1/changes").status_code == 401
    with server.client("engineer") as eng:
        assert eng.get("/v1/changes/CHG-999999").status_code == 404
        assert eng.get("/v1/changes/not-a-change").status_code == 422
        assert eng.post("/v1/changes", json={**body, "services": []}).status_code == 422
        assert eng.post("/v1/changes", json={**body, "bogus": 1}).status_code == 422
        assert eng.post("/v1/changes", json={**body, "type": "weekly"}).status_code == 422
        now = datetime.now(UTC)
        backwards = {"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()}
        assert eng.post("/v1/changes", json={**body, "window": backwards}).status_code == 422
        r = eng.post("/v1/changes", json={**body, "type": "standard", "templateId": "no-such-template"})
        assert r.status_code == 404 and "no-such-template" in r.json()["detail"]
        cid = eng.post("/v1/changes", json=body).json()["id"]
        r = eng.post(f"/v1/changes/{cid}/submit")  # a normal change is assessed first
        assert r.status_code == 409 and "from new to authorize" in r.json()["detail"]

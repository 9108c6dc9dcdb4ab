"""The command-center, incident-page and history endpoints on the shared server: roles, ETags, CSV, pages."""

from __future__ import annotations

import csv
import io

import pytest

TOKEN_LINE = "HikariPool-1 - Connection is not available, request timed out after 30000ms."


@pytest.fixture(scope="module")
def incident_id(server) -> str:
    with server.client("service") as svc:
        r = svc.post("/v1/diagnose", json={"service": "dash-orders", "timestamp": "2026-11-27T07:00:00Z",
                                           "level": "ERROR", "message": TOKEN_LINE})
        assert r.status_code == 200
        return r.json()["incidentId"]


@pytest.mark.parametrize("path", ["/v1/dashboard/summary", "/v1/history/incidents", "/v1/history/trends",
                                  "/v1/history/facets", "/v1/history/incidents.csv"])
def test_data_needs_a_key_that_may_read_incidents(server, path) -> None:
    with server.client() as anonymous, server.client("service") as svc, server.client("analyst") as analyst:
        assert anonymous.get(path).status_code == 401
        assert anonymous.get(path).headers["content-type"] == "application/problem+json"
        assert svc.get(path).status_code == 403
        assert analyst.get(path).status_code == 200


def test_summary_lists_the_incident_and_answers_304_when_unchanged(server, incident_id) -> None:
    with server.client("analyst") as analyst:
        first = analyst.get("/v1/dashboard/summary", params={"hours": 24})
        body = first.json()
        card = next(i for i in body["incidents"] if i["incidentId"] == incident_id)
        assert card["rto"]["rtoSeconds"] > 0 and card["recoveryPlan"]["stages"][-1]["kind"] == "escalate"
        assert "dash-orders" in [s["name"] for s in body["trends"]["services"]]
        assert {"counts", "changes", "models", "onCall", "escalations"} <= set(body)
        again = analyst.get("/v1/dashboard/summary", params={"hours": 24},
                            headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and not again.content
        assert analyst.get("/v1/dashboard/summary", params={"hours": 0}).status_code == 422


def test_incident_view_and_unknown_incident(server, incident_id) -> None:
    with server.client("analyst") as analyst:
        view = analyst.get(f"/v1/dashboard/incidents/{incident_id}").json()
        assert view["incident"]["incidentId"] == incident_id and view["review"]["state"] == "draft"
        assert view["evidence"]["templates"][0]["count"] >= 1
        missing = analyst.get("/v1/dashboard/incidents/INC-nope")
        assert missing.status_code == 404 and missing.json()["detail"] == "no incident INC-nope"


def test_history_filters_and_csv(server, incident_id) -> None:
    with server.client("analyst") as analyst:
        found = analyst.get("/v1/history/incidents", params={"service": "dash-orders"}).json()
        assert found["total"] == 1 and found["items"][0]["incidentId"] == incident_id
        assert analyst.get("/v1/history/incidents", params={"q": "30000ms"}).json()["total"] >= 1
        assert analyst.get("/v1/history/incidents", params={"severity": "SEVERE"}).status_code == 422
        r = analyst.get("/v1/history/incidents.csv", params={"service": "dash-orders"})
        assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["incident_id"] for row in rows] == [incident_id]
        assert "dash-orders" in analyst.get("/v1/history/facets").json()["services"]


@pytest.mark.parametrize("path", ["/v1/history/incidents", "/v1/incidents"])
def test_an_offset_past_any_listing_is_refused_not_a_store_failure(server, path) -> None:
    with server.client("analyst") as analyst:
        assert analyst.get(path, params={"offset": 2**31 - 1}).status_code == 200  # the largest accepted
        huge = analyst.get(path, params={"offset": 1192777937339068306161664})  # found by schemathesis: a 503
        assert huge.status_code == 422 and huge.json()["status"] == 422


def test_pages_are_public_shells_with_a_strict_policy(server) -> None:
    with server.client() as anonymous:
        for path in ("/", "/history", "/incidents/INC-x"):
            r = anonymous.get(path)
            assert r.status_code == 200 and "text/html" in r.headers["content-type"]
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert "INC-" not in r.text.replace("INC-x", "")  # no data in the shell
        assert anonymous.get("/static/js/common.js").status_code == 200
        assert anonymous.get("/static/../app.py").status_code == 404
        assert anonymous.get("/static/%2e%2e/app.py").status_code == 404
        assert anonymous.get("/static/css").status_code == 404

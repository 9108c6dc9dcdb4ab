"""POST /v1/diagnose answered by the pure-ASGI hot path must be the route's answer, and every request the
hot path does not take (unknown key, wrong role, other media type, invalid body) must still get the route's
answer. A media type the hot path does not take but FastAPI reads as JSON forces the route."""

from __future__ import annotations

import json
import re

EVENT = {"service": "billing", "timestamp": "2026-11-27T08:00:00Z", "level": "ERROR",
         "message": "HikariPool-1 - Connection is not available, request timed out after 30000ms."}
ROUTE_ONLY = "application/vnd.triage+json"  # JSON to FastAPI, not the hot path's exact media type


def _diagnose_count(metrics: str) -> float:
    pattern = r'triage_http_request_duration_seconds_count\{method="POST",route="/v1/diagnose",status="200"\} (\S+)'
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


def test_the_hot_path_and_the_route_give_the_same_diagnosis(server) -> None:
    with server.client("service") as svc, server.client("analyst") as analyst:
        fast = svc.post("/v1/diagnose", json=EVENT)
        slow = svc.post("/v1/diagnose", json=EVENT, headers={"Content-Type": ROUTE_ONLY})
        assert fast.status_code == slow.status_code == 200
        assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
        a, b = fast.json(), slow.json()
        assert set(a) == set(b)
        for field in ("severity", "category", "affectedServices", "modelVersions"):
            assert a[field] == b[field], field
        assert a["evidence"]["templateId"] == b["evidence"]["templateId"]
        assert [f["action"] for f in a["suggestedFixes"]] == [f["action"] for f in b["suggestedFixes"]]
        assert a["errorId"] != b["errorId"]
        for answer in (a, b):  # both were journaled and reach the store
            stored = analyst.get(f"/v1/diagnoses/{answer['errorId']}")
            assert stored.status_code == 200 and stored.json()["errorId"] == answer["errorId"]


def test_the_hot_path_takes_either_key_header_and_a_charset_and_is_counted_under_its_route(server) -> None:
    with server.client() as anonymous:
        before = _diagnose_count(anonymous.get("/metrics").text)
        by_header = anonymous.post("/v1/diagnose", json=EVENT, headers={"X-API-Key": server.keys["service"]})
        with_charset = anonymous.post(
            "/v1/diagnose", content=_body(), headers={"Authorization": f"bearer {server.keys['service']}",
                                                      "Content-Type": "application/json; charset=utf-8"})
        chunked = anonymous.post(  # a body in several receive() messages
            "/v1/diagnose", content=iter([_body()[:20], _body()[20:]]),
            headers={"Authorization": f"Bearer {server.keys['service']}", "Content-Type": "application/json"})
        assert [r.status_code for r in (by_header, with_charset, chunked)] == [200, 200, 200]
        assert by_header.json()["category"] == with_charset.json()["category"] == chunked.json()["category"]
        assert _diagnose_count(anonymous.get("/metrics").text) == before + 3


def test_requests_the_hot_path_refuses_get_the_routes_problem_answers(server) -> None:
    with server.client() as anonymous, server.client("service") as svc:
        missing = anonymous.post("/v1/diagnose", json=EVENT)
        assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
        unknown = anonymous.post("/v1/diagnose", json=EVENT, headers={"Authorization": "Bearer tri_nope.nope"})
        assert unknown.status_code == 401
        wrong_role = anonymous.post("/v1/diagnose", json=EVENT,
                                    headers={"Authorization": f"Bearer {server.keys['analyst']}"})
        assert wrong_role.status_code == 403 and "may not" in wrong_role.json()["detail"]

        invalid = svc.post("/v1/diagnose", json={**EVENT, "message": ""})
        assert invalid.status_code == 422 and invalid.json()["detail"].startswith("message:")
        extra = svc.post("/v1/diagnose", json={**EVENT, "patient": "x"})
        assert extra.status_code == 422 and extra.json()["detail"].startswith("patient:")
        broken = svc.post("/v1/diagnose", content=b'{"service": ', headers={"Content-Type": "application/json"})
        assert broken.status_code == 422 and "not valid JSON" in broken.json()["detail"]
        not_json = svc.post("/v1/diagnose", content=_body(), headers={"Content-Type": "text/plain"})
        assert not_json.status_code == 422


def _body() -> bytes:
    return json.dumps(EVENT).encode()


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(server) -> None:
    too_big = b'{"message": "' + b"x" * 1_100_000 + b'"}'  # over the default 1 MiB limit
    with server.client("service") as svc:
        declared = svc.post("/v1/diagnose", content=too_big, headers={"Content-Type": "application/json"})
        streamed = svc.post("/v1/diagnose", content=iter([too_big[:600_000], too_big[600_000:]]),
                            headers={"Content-Type": "application/json"})
        assert declared.status_code == streamed.status_code == 413
        assert declared.json()["title"] == streamed.json()["title"] == "Content Too Large"
        assert svc.post("/v1/diagnose", json=EVENT).status_code == 200  # the connection's server is fine

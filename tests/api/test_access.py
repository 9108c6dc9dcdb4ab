"""Every role against the endpoints, bad keys, malformed and oversized bodies: always a JSON problem."""

from __future__ import annotations

import pytest

EVENT = {"service": "orders", "timestamp": "2026-11-27T06:00:00Z", "level": "ERROR",
         "message": "java.net.SocketTimeoutException: Read timed out calling payments"}

# (method, path, body, roles allowed)
ENDPOINTS = [
    ("POST", "/v1/diagnose", EVENT, {"service", "engineer", "admin"}),
    ("POST", "/v1/errors:batch", {"events": [EVENT]}, {"service", "engineer", "admin"}),
    ("GET", "/v1/incidents", None, {"analyst", "engineer", "approver", "admin"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
@pytest.mark.parametrize("role", ["service", "analyst", "engineer", "approver", "admin"])
def test_each_role(server, method, path, body, allowed, role) -> None:
    with server.client(role) as c:
        r = c.request(method, path, json=body)
    if role in allowed:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
        assert role in r.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"X-API-Key": "trg_abc_def"}, {"Authorization": "Basic dXNlcjpw"}],
)
def test_missing_or_bad_key_is_401(server, headers) -> None:
    with server.client() as c:
        r = c.post("/v1/diagnose", json=EVENT, headers=headers)
    assert r.status_code == 401
    assert r.json()["status"] == 401 and r.json()["title"] == "Unauthorized"


def test_x_api_key_header_is_accepted(server) -> None:
    with server.client() as c:
        r = c.post("/v1/diagnose", json=EVENT, headers={"X-API-Key": server.keys["service"]})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**EVENT, "timestamp": "yesterday"}, "timestamp"),
        ({**EVENT, "timestamp": "2026-11-27T06:00:00"}, "timestamp"),  # no timezone
        ({k: v for k, v in EVENT.items() if k != "message"}, "message"),
        ({**EVENT, "service": ""}, "service"),
        ({**EVENT, "message": "x" * 9000}, "message"),
        ({**EVENT, "unexpected": 1}, "unexpected"),
    ],
)
def test_malformed_bodies_are_422_problems(server, body, field) -> None:
    with server.client("service") as c:
        r = c.post("/v1/diagnose", json=body)
    assert r.status_code == 422
    assert field in r.json()["detail"]


def test_not_json_is_a_problem(server) -> None:
    with server.client("service") as c:
        r = c.post("/v1/diagnose", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "body: not valid JSON (at character 1)"  # not "1: JSON decode error"


def test_oversized_body_is_413(server) -> None:
    with server.client("service") as c:
        r = c.post("/v1/errors:batch", content=b"[" + b" " * 2_000_000 + b"]",
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["title"] == "Content Too Large"


def test_batch_over_1000_events_is_422(server) -> None:
    with server.client("service") as c:
        r = c.post("/v1/errors:batch", json={"events": [EVENT] * 1001})
    assert r.status_code in (413, 422)


def test_health_metrics_docs_need_no_key(server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json()["status"] == "ok"
        head = c.head("/healthz")  # what load balancers probe with
        assert head.status_code == 200 and head.content == b""
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["store"]["ok"]
        metrics = c.get("/metrics").text
        assert "triage_http_request_duration_seconds_bucket" in metrics
        assert c.get("/docs").status_code == 200
        assert "/v1/diagnose" in c.get("/openapi.json").json()["paths"]

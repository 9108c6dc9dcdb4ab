"""The public status page and the keyed routes that feed it, on the shared server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def test_status_page_and_json_need_no_key(server) -> None:
    with server.client() as anonymous:
        page = anonymous.get("/status")
        assert page.status_code == 200 and "Diagnosis API" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        body = anonymous.get("/status.json").json()
        assert [c["id"] for c in body["components"]] == ["diagnosis-api", "platform"]
        assert all(len(c["days"]) == 90 for c in body["components"])


def test_updates_and_maintenance_need_the_right_roles(server) -> None:
    with server.client("service") as svc:
        incident_id = svc.post("/v1/diagnose", json={"service": "status-web", "timestamp": "2026-11-27T07:00:00Z",
                                                     "level": "FATAL", "message": "OutOfMemoryError: Java heap space"}
                               ).json()["incidentId"]
    update = {"status": "identified", "message": "Call 555-867-5309 if stuck", "title": "Web errors"}
    start = datetime.now(UTC) + timedelta(days=1)
    maintenance = {"title": "Patch", "components": ["platform"], "startsAt": start.isoformat(),
                   "endsAt": (start + timedelta(hours=1)).isoformat()}
    with server.client("analyst") as analyst, server.client("engineer") as engineer, server.client() as anonymous:
        assert anonymous.post(f"/v1/status/incidents/{incident_id}/updates", json=update).status_code == 401
        assert analyst.post("/v1/status/maintenance", json=maintenance).status_code == 403
        posted = analyst.post(f"/v1/status/incidents/{incident_id}/updates", json=update)
        assert posted.status_code == 201, posted.text
        assert posted.json()["components"] == ["platform"] and "867-5309" not in posted.json()["message"]
        assert analyst.post("/v1/status/incidents/INC-nope/updates", json=update).status_code == 404
        assert analyst.post(f"/v1/status/incidents/{incident_id}/updates",
                            json={**update, "components": ["nope"]}).status_code == 422
        created = engineer.post("/v1/status/maintenance", json=maintenance)
        assert created.status_code == 201, created.text
        mid = created.json()["maintenanceId"]
        assert engineer.post("/v1/status/maintenance", json={**maintenance, "endsAt": maintenance["startsAt"]}
                             ).status_code == 422
        assert engineer.post("/v1/status/maintenance", json={**maintenance, "components": ["nope"]}).status_code == 422
        assert mid in [m["maintenanceId"] for m in analyst.get("/v1/status/maintenance").json()]
        public = anonymous.get("/status.json").json()
        assert any(i["title"] == "Web errors" and i["status"] == "identified" for i in public["incidents"])
        assert public["maintenance"][0]["title"] == "Patch" and public["maintenance"][0]["components"] == ["Platform services"]
        assert engineer.post(f"/v1/status/maintenance/{mid}/cancel").status_code == 200
        assert engineer.post(f"/v1/status/maintenance/{mid}/cancel").status_code == 409
        assert anonymous.get("/status.json").json()["maintenance"] == []
        components = analyst.get("/v1/status/components").json()
        assert components[0]["checks"] == ["store", "writer"]  # the internal view shows what the public one hides


def test_a_broken_status_config_disables_the_page_not_the_service(server_factory, tmp_path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "status.yaml").write_text("components: [{id: 'Not An Id', name: X}]\n")
    srv = server_factory(home)
    with srv.client() as anonymous:
        r = anonymous.get("/status")
        assert r.status_code == 503 and "see /readyz" in r.json()["detail"]
        ready = anonymous.get("/readyz")
        assert ready.status_code == 503
        assert "components.0.id" in ready.json()["checks"]["status_page"]["detail"]
        assert anonymous.get("/healthz").status_code == 200

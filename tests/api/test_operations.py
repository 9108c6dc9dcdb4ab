"""The live wiring, end to end on a real server configured like a deployment: a CRITICAL diagnosis posted
to /v1/diagnose raises alerts that reach a real local HTTP receiver and opens one emergency change with
its deadlines; a missed deadline raises an alert too; the background loop escalates what nobody
acknowledges. Time runs for real here (a 1 s loop, 2 s escalation): the rules themselves are tested with
an injected clock in tests/alerting and tests/changes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.api.conftest import Server, free_port, make_keys

from triage.api.operations import load_configs
from triage.settings import Settings


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that records every JSON body POSTed to it, by path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                with receiver._lock:
                    receiver.requests.append((self.path, body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str) -> list[dict]:
        with self._lock:
            return [body for p, body in self.requests if p == path]

    def wait_for(self, path: str, match: Callable[[dict], bool], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [b for b in self.bodies(path) if match(b)]
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"nothing matching arrived at {path}; got {self.bodies(path)}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("ops-home")
    (home / "config").mkdir()
    (home / "config" / "alerting.yaml").write_text(f"""
teams:
  on_call_engineer: [{{name: Olga, email: olga@example.org}}]
  technical_lead: [{{name: Tess, email: tess@example.org}}]
channels:
  webhook: {{kind: webhook, url: "{receiver.url}/hook"}}
  slack: {{kind: slack, url: "{receiver.url}/slack"}}
levels:
  CRITICAL: {{within: 0, channels: [webhook, slack]}}
escalation:
  after: 2
""")
    # the approval deadline is due at detection, so the emergency change breaches it at once
    (home / "config" / "changes.yaml").write_text("deadlines:\n  approval: 0\n")
    srv = Server(home, free_port())
    srv.keys = make_keys(home)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIAGE_OPS_INTERVAL_SECONDS", "1")
        srv.start()
    yield srv
    srv.stop()


def _post_critical(server: Server, service: str) -> dict:
    at = datetime.now(UTC) + timedelta(days=int(service[-6:], 16) % 3000)  # apart from other incidents
    event = {"service": service, "timestamp": at.isoformat(), "level": "ERROR",
             "message": "java.lang.OutOfMemoryError: Java heap space"}  # fmt: skip
    with server.client("service") as svc:
        diagnosis = svc.post("/v1/diagnose", json=event).json()
    assert diagnosis["severity"] == "CRITICAL"
    return diagnosis


def test_critical_diagnosis_alerts_receivers_and_opens_one_emergency_change(ops_server, receiver) -> None:
    service = f"orders-{uuid.uuid4().hex[:6]}"
    diagnosis = _post_critical(ops_server, service)
    incident = diagnosis["incidentId"]

    def about(kind: str) -> Callable[[dict], bool]:
        return lambda b: b.get("incident_id") == incident and b["kind"] == "new" and any(
            a["type"] == kind for a in b["alerts"])  # fmt: skip

    hook = receiver.wait_for("/hook", about("system_outage"))
    assert hook["type"] == "triage.alert" and hook["team"] == "on_call_engineer"
    assert hook["alerts"][0]["severity"] == "CRITICAL" and service in hook["alerts"][0]["services"]
    slack = receiver.wait_for("/slack", lambda b: incident in json.dumps(b))
    assert "CRITICAL" in slack["text"] and slack["blocks"]

    with ops_server.client("engineer") as eng:
        deadline = time.monotonic() + 10  # alerts and the emergency change come from the same reaction round,
        while not (changes := eng.get("/v1/changes", params={"incident": incident}).json()):  # in either order
            assert time.monotonic() < deadline, "no emergency change"
            time.sleep(0.2)
        [change] = changes
        assert change["type"] == "emergency" and change["state"] == "authorize"
        assert change["requester"] == "triage" and service in change["services"]
        deadlines = {d["milestone"]: d for d in change["deadlines"]}
        assert len(deadlines) == 7 and deadlines["declared"]["state"] == "met"
        assert deadlines["approval"]["state"] == "breached"  # configured due at detection
        assert deadlines["post_incident_review"]["state"] == "pending"
        assert datetime.fromisoformat(deadlines["implementation"]["dueAt"]) > datetime.fromisoformat(
            diagnosis["detectedAt"]
        )

    # the deadline loop (every second here) escalates the breach: an alert for the technical lead,
    # delivered like any other, and recorded on the change
    breach = receiver.wait_for("/hook", about("change_deadline"))
    assert breach["team"] == "technical_lead" and change["id"] in breach["alerts"][0]["title"]
    with ops_server.client("engineer") as eng:
        deadline = time.monotonic() + 10
        while (escalated := eng.get(f"/v1/changes/{change['id']}").json()["breachesEscalated"]) != ["approval"]:
            assert time.monotonic() < deadline, escalated
            time.sleep(0.2)

    # the same failure again: one emergency change per incident
    again = _post_critical(ops_server, service)
    assert again["incidentId"] == incident
    time.sleep(1.5)  # the reaction thread runs every 0.5 s
    with ops_server.client("engineer") as eng:
        assert len(eng.get("/v1/changes", params={"incident": incident}).json()) == 1
        trail = eng.get("/v1/changes", params={"incident": incident}).json()[0]
    with ops_server.client("analyst") as ana:
        actions = [
            e["action"] for e in ana.get("/v1/audit", params={"subjectId": trail["id"]}).json()["entries"]
        ]
        assert "change.deadline_breached" in actions


def test_unacknowledged_alert_escalates_until_acknowledged(ops_server, receiver) -> None:
    incident = _post_critical(ops_server, f"billing-{uuid.uuid4().hex[:6]}")["incidentId"]
    escalation = receiver.wait_for(
        "/hook", lambda b: b.get("incident_id") == incident and b["kind"] == "escalation", timeout=30
    )
    assert escalation["team"] == "technical_lead"  # the first step of the chain
    with ops_server.client("engineer") as eng:
        alert_id = eng.get("/v1/alerts", params={"incident": incident}).json()["groups"][0]["alerts"][0]["id"]
        acked = eng.post(f"/v1/alerts/{alert_id}/ack").json()
        level = acked["escalationLevel"]
        assert level >= 1 and acked["escalatedTo"][0] == "technical_lead"
        time.sleep(4)  # two escalation periods, several loop runs
        assert eng.get(f"/v1/alerts/{alert_id}").json()["escalationLevel"] == level
    with ops_server.client("analyst") as ana:
        actions = [
            e["action"] for e in ana.get("/v1/audit", params={"subjectId": alert_id}).json()["entries"]
        ]
        assert "alert.escalated" in actions and actions[-1] == "alert.acknowledged"


def test_readiness_reports_the_loop(ops_server) -> None:
    with ops_server.client() as anon:
        body = anon.get("/readyz").json()
    assert body["checks"]["operations"]["ok"] is True
    assert "every 1 s" in body["checks"]["operations"]["detail"]


def test_a_broken_configuration_is_reported_not_fatal(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    settings.config_dir.mkdir()
    (settings.config_dir / "alerting.yaml").write_text("channels: [not, a, mapping")
    (settings.config_dir / "changes.yaml").write_text("deadlines:\n  approval: soon\n")
    changes, alerts, error = load_configs(settings)
    assert error and "alerting.yaml" in error and "changes.yaml" in error
    assert alerts.channels == {} and changes.deadlines  # the defaults stand in

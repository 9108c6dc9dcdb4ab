"""Recovery through the real server: snapshots, restore while the API serves requests, rollback at each
level with health verification, and the restoration orchestrator's plans (dry run, approval, execution),
plus `triage recover` on the same home."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.api.conftest import Server, free_port, make_keys

from triage.recovery.crypto import generate_key

SNAPSHOT_KEY = generate_key()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose home has a snapshot key (the session server has none)."""
    home = tmp_path_factory.mktemp("recovery-home")
    srv = Server(home, free_port())
    srv.keys = make_keys(home)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRIAGE_SNAPSHOT_KEY", SNAPSHOT_KEY)
        srv.start()
    yield srv
    srv.stop()


def _event(service: str, message: str, at: datetime | None = None) -> dict:
    moment = at or datetime.now(UTC)
    return {"service": service, "timestamp": moment.isoformat(), "level": "ERROR", "message": message}


def _apart(sign: int = 1) -> datetime:
    """A moment of its own: the grouper joins errors of any service close in time into one incident."""
    return datetime.now(UTC) + sign * timedelta(days=random.randrange(1, 3000))


# -- without a key, and who may ----------------------------------------------------------------------------
def test_snapshots_without_a_key_give_a_clear_error(server) -> None:
    with server.client("engineer") as eng:
        assert eng.get("/v1/recovery/snapshots").json() == []
        r = eng.post("/v1/recovery/snapshots", json={"components": ["config"]})
        assert r.status_code == 422 and "key" in r.json()["detail"].lower()
        assert eng.post("/v1/recovery/snapshots", json={"components": ["disk"]}).status_code == 422


def test_recovery_is_for_engineers_approvers_and_admins(server) -> None:
    for role, status in (
        ("engineer", 200),
        ("approver", 200),
        ("admin", 200),
        ("analyst", 403),
        ("service", 403),
    ):
        with server.client(role) as c:
            assert c.get("/v1/recovery/snapshots").status_code == status, role
    with server.client("analyst") as ana:
        assert ana.post("/v1/recovery/rollback/store", json={"to": "2026-01-01T00:00:00Z"}).status_code == 403
        assert ana.post("/v1/recovery/rollback/model", json={"model": "error-classifier"}).status_code == 403
    with server.client("engineer") as eng:
        r = eng.post("/v1/recovery/rollback/model", json={"model": "no-such-model"})
        assert r.status_code == 404 and "unknown model" in r.json()["detail"]


# -- snapshots ---------------------------------------------------------------------------------------------
def test_snapshot_create_list_show_verify(keyed) -> None:
    with keyed.client("engineer") as eng:
        r = eng.post(
            "/v1/recovery/snapshots", json={"components": ["store", "config"], "reason": "before testing"}
        )
        assert r.status_code == 201, r.text
        snap = r.json()
        assert snap["components"] == ["store", "config"] and snap["creator"] == "test-engineer"
        assert snap["id"] in [s["id"] for s in eng.get("/v1/recovery/snapshots").json()]
        shown = eng.get(f"/v1/recovery/snapshots/{snap['id']}").json()
        assert shown["reason"] == "before testing" and shown["files"] >= 1
        report = eng.get(f"/v1/recovery/snapshots/{snap['id']}/verify").json()
        assert report["ok"] is True and report["files"] == shown["files"] and report["firstBad"] is None
        assert eng.get("/v1/recovery/snapshots/20200101T000000Z-abcdef").status_code == 404
        assert eng.get("/v1/recovery/snapshots/../../etc").status_code in (404, 422)
        assert eng.post("/v1/recovery/snapshots/20200101T000000Z-abcdef/restore").status_code == 404
    with keyed.client("analyst") as ana:
        trail = ana.get("/v1/audit", params={"action": "recovery.snapshot", "subjectId": snap["id"]}).json()
        assert trail["entries"][0]["actor"] == "test-engineer"


def test_restore_while_the_api_serves_requests_drops_none(keyed) -> None:
    service, at = f"billing-{uuid.uuid4().hex[:6]}", _apart()
    accepted: dict[str, str] = {}  # error id -> incident id

    def post(client: httpx.Client, i: int) -> httpx.Response:
        r = client.post("/v1/diagnose", json=_event(service, f"payment gateway timeout #{i}", at))
        if r.status_code == 200:
            accepted[r.json()["errorId"]] = r.json()["incidentId"]
        return r

    with keyed.client("service") as svc, keyed.client("engineer") as eng, keyed.client("analyst") as ana:
        for i in range(5):
            post(svc, i)
        snap = eng.post("/v1/recovery/snapshots", json={"components": ["store"]}).json()["id"]
        for i in range(5, 10):  # accepted after the snapshot: the restore must not lose them either
            post(svc, i)

        results: list[tuple[float, float, int | str]] = []
        stop = threading.Event()

        def keep_posting() -> None:
            with keyed.client("service") as poster:
                i = 100
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        results.append((started, time.monotonic(), post(poster, i).status_code))
                    except httpx.HTTPError as exc:
                        results.append((started, time.monotonic(), type(exc).__name__))
                    i += 1
                    time.sleep(0.02)

        poster = threading.Thread(target=keep_posting)
        poster.start()
        time.sleep(0.5)
        began = time.monotonic()
        restored = eng.post(
            f"/v1/recovery/snapshots/{snap}/restore", json={"components": ["store"], "reason": "drill"}
        )
        ended = time.monotonic()
        time.sleep(0.5)
        stop.set()
        poster.join(60)

        assert restored.status_code == 200, restored.text
        assert restored.json()["components"] == ["store"] and restored.json()["dryRun"] is False
        during = [r for r in results if r[0] < ended and r[1] > began]
        assert during, "no request overlapped the restore"
        assert [r for r in results if r[2] != 200] == []  # every request answered, none failed
        # each one by id: an incident's detail lists at most 500 diagnoses, and a fast server takes more
        missing = [e for e in accepted if ana.get(f"/v1/diagnoses/{e}").status_code != 200]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted diagnoses lost"
        assert (
            ana.get("/v1/audit", params={"action": "recovery.restore", "subjectId": snap}).json()["count"]
            == 1
        )
        assert ana.get("/v1/audit/verify").json()["ok"] is True


def test_rollback_levels_with_health_verification(keyed) -> None:
    with keyed.client("engineer") as eng:
        full = eng.post("/v1/recovery/snapshots", json={"reason": "full"}).json()
        assert full["kind"] == "full"
        config = eng.post(
            "/v1/recovery/rollback/config", json={"snapshot": full["id"], "reason": "drill"}
        ).json()
        assert config["level"] == "config" and config["healthy"] is True
        assert {c["name"] for c in config["health"]["checks"]} >= {"api_response", "store_connectivity"}
        store = eng.post(
            "/v1/recovery/rollback/store", json={"to": datetime.now(UTC).isoformat(), "check": "immediate"}
        )
        assert store.status_code == 200, store.text
        assert store.json()["level"] == "store" and store.json()["healthy"] is True and store.json()["to"]
        system = eng.post("/v1/recovery/rollback/system", json={"snapshot": full["id"]}).json()
        assert system["level"] == "system" and system["healthy"] is True and "redeploy" in system["code"]
        assert eng.post("/v1/recovery/rollback/store", json={}).status_code == 422
        assert eng.post("/v1/recovery/rollback/config", json={"check": "thorough"}).status_code == 422
        assert eng.get("/readyz").status_code == 200  # still serving after all that
    with keyed.client("analyst") as ana:
        levels = [
            e["subjectKind"]
            for e in ana.get("/v1/audit", params={"action": "recovery.rollback"}).json()["entries"]
        ]
        assert {"config", "store", "system"} <= set(levels)


def test_plan_waits_for_approval_then_rolls_the_recent_change_back(keyed) -> None:
    service = f"ledger-{uuid.uuid4().hex[:6]}"
    with keyed.client("engineer") as eng, keyed.client("approver") as appr, keyed.client("service") as svc:
        now = datetime.now(UTC)
        change = eng.post("/v1/changes", json={
            "type": "standard", "templateId": "service-restart", "title": "Restart the ledger", "services": [service],
            "window": {"start": now.replace(microsecond=0).isoformat(), "end": "2099-01-01T00:00:00Z"},
        }).json()  # fmt: skip
        implemented = eng.post(f"/v1/changes/{change['id']}/implement", json={"snapshot": ["config"]}).json()
        assert implemented["state"] == "implement" and implemented["snapshotId"]

        diagnosis = svc.post(
            "/v1/diagnose", json=_event(service, "Deadlock found when trying to get lock", _apart(-1))
        ).json()
        assert diagnosis["severity"] == "MEDIUM"
        incident = diagnosis["incidentId"]

        assert eng.get("/v1/recovery/plans/INC-none").status_code == 404
        dry = eng.get(f"/v1/recovery/plans/{incident}").json()
        assert dry["plan"]["automatic"] is False and dry["plan"]["branch"] == "known_issue"
        kinds = [(s["kind"], s["target"]) for s in dry["plan"]["stages"]]
        assert ("rollback_change", change["id"]) in kinds and kinds[-1][0] == "escalate"
        assert [c["changeId"] for c in dry["input"]["recentChanges"]] == [change["id"]]

        waiting = eng.post(f"/v1/recovery/plans/{incident}/execute").json()["outcome"]
        assert waiting["status"] == "awaiting_approval" and waiting["steps"][-1]["stage"] == 1
        assert eng.get(f"/v1/changes/{change['id']}").json()["state"] == "implement"  # nothing ran
        assert eng.post(f"/v1/recovery/plans/{incident}/approve").status_code == 403
        assert eng.post(f"/v1/recovery/plans/{incident}/execute", json={"approve": True}).status_code == 403

        approved = appr.post(f"/v1/recovery/plans/{incident}/approve", json={"comment": "go ahead"}).json()
        assert approved["approvedStages"] == [
            i for i, s in enumerate(dry["plan"]["stages"], 1) if s["needsApproval"]
        ]
        done = eng.post(f"/v1/recovery/plans/{incident}/execute").json()["outcome"]
        steps = {s["kind"]: s for s in done["steps"]}
        assert steps["targeted_fix"]["outcome"] == "failed"  # fixes are carried out by people
        # the steps carry their health reports: if this fails, the message says which check did
        assert steps["rollback_change"]["outcome"] == "healthy", done["steps"]
        assert done["status"] == "recovered" and done["resolvedBy"] == f"rollback_change {change['id']}", done
        rolled = eng.get(f"/v1/changes/{change['id']}").json()
        assert rolled["state"] == "rolled_back" and incident in rolled["rollbackReason"]
    with keyed.client("analyst") as ana:
        trail = ana.get("/v1/audit", params={"subjectKind": "incident", "subjectId": incident}).json()[
            "entries"
        ]
        assert [e["action"] for e in trail].count("recovery.step") == len(waiting["steps"]) + len(
            done["steps"]
        )
        assert any(e["action"] == "recovery.approved" and e["actor"] == "test-approver" for e in trail)


def test_a_store_restored_from_the_command_line_while_serving_gets_the_accepted_diagnoses_back(keyed) -> None:
    """Another process swaps the store: the server notices and re-applies its journal, no new request needed."""
    service = f"billing-{uuid.uuid4().hex[:6]}"
    with keyed.client("engineer") as eng, keyed.client("service") as svc, keyed.client("analyst") as ana:
        snap = eng.post("/v1/recovery/snapshots", json={"components": ["store"]}).json()["id"]
        after = svc.post("/v1/diagnose", json=_event(service, "ledger write failed: disk full", _apart())).json()
        incident = after["incidentId"]
        deadline = time.monotonic() + 30
        while ana.get(f"/v1/incidents/{incident}").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # written by the server's batch writer
        env = {**os.environ, "TRIAGE_SNAPSHOT_KEY": SNAPSHOT_KEY}
        restore = subprocess.run(
            [sys.executable, "-m", "triage.cli", "--home", str(keyed.home), "snapshot", "restore", snap,
             "-c", "store", "--yes"], capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        seen = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the server's background round follows the file (every ~2 s)
            seen = ana.get(f"/v1/incidents/{incident}")
            if seen.status_code == 200:
                break
            time.sleep(0.25)
        assert seen is not None and seen.status_code == 200, "the accepted diagnosis did not come back"
        assert after["errorId"] in {d["errorId"] for d in seen.json()["diagnoses"]}
        assert ana.get("/status.json").status_code == 200


def test_only_an_incident_of_triage_itself_may_end_in_a_full_restore(keyed) -> None:
    """Restoring triage's snapshot mends no other system and would rewind the incident's own records."""
    with keyed.client("engineer") as eng, keyed.client("service") as svc:
        full = eng.post("/v1/recovery/snapshots", json={"reason": "last good"})
        assert full.status_code == 201, full.text
        own = svc.post("/v1/diagnose", json=_event("triage", "widget frobnication failed", _apart())).json()
        other = svc.post("/v1/diagnose", json=_event(f"ledger-{uuid.uuid4().hex[:6]}",
                                                     "widget frobnication failed", _apart())).json()  # fmt: skip
        own_plan = eng.get(f"/v1/recovery/plans/{own['incidentId']}").json()
        other_plan = eng.get(f"/v1/recovery/plans/{other['incidentId']}").json()
    assert ("full_restore", full.json()["id"]) in [(s["kind"], s["target"]) for s in own_plan["plan"]["stages"]]
    assert "full_restore" not in [s["kind"] for s in other_plan["plan"]["stages"]]
    assert other_plan["input"]["lastGoodSnapshot"] is None
    assert any("TRIAGE_RESTORE_SERVICES" in note for note in other_plan["input"]["notes"])


def test_recover_command_prints_and_refuses(keyed) -> None:
    with keyed.client("service") as svc:
        incident = svc.post("/v1/diagnose", json=_event(f"scheduler-{uuid.uuid4().hex[:6]}",
                                                        "widget frobnication failed", _apart())).json()["incidentId"]  # fmt: skip
    time.sleep(1)  # written by the server's batch writer

    def recover(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TRIAGE_SNAPSHOT_KEY": SNAPSHOT_KEY}
        return subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(keyed.home), "recover", *args],
                              capture_output=True, text=True, timeout=120, env=env)  # fmt: skip

    dry = recover("--incident", incident, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    body = json.loads(dry.stdout)
    assert body["plan"]["incidentId"] == incident and body["plan"]["stages"][-1]["kind"] == "escalate"
    refused = recover("--incident", incident, "--role", "analyst")
    assert refused.returncode == 2 and "may not run recovery" in refused.stderr

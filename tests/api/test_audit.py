"""The audit trail through the real server: filtered entries, verification catching an entry edited in
the store, exports for auditors, role checks, and PHI reads recorded."""

from __future__ import annotations

import csv
import io
import time
import uuid

from triage.settings import Settings
from triage.storage.database import Database


def _new_change(server) -> str:
    with server.client("engineer") as eng:
        r = eng.post("/v1/changes", json={"type": "normal", "title": "Audit me",
                                          "services": [f"audit-{uuid.uuid4().hex[:8]}"], "rollbackProcedure": "undo"})  # fmt: skip
        cid = r.json()["id"]
        eng.post(f"/v1/changes/{cid}/assess")
    return cid


def test_entries_filtered_by_subject_and_action(server) -> None:
    cid = _new_change(server)
    with server.client("analyst") as ana:
        entries = ana.get("/v1/audit", params={"subjectKind": "change", "subjectId": cid}).json()["entries"]
        assert [e["action"] for e in entries][:2] == ["change.created", "change.transitioned"]
        assert all(e["actor"] == "test-engineer" and e["actorRole"] == "engineer" for e in entries)
        assert entries[0]["after"]["state"] == "new" and len(entries[0]["hash"]) == 64
        seqs = [e["seq"] for e in entries]
        assert seqs == sorted(seqs)
        assessed = ana.get("/v1/audit", params={"subjectId": cid, "action": "change.assess*"}).json()[
            "entries"
        ]
        assert {e["action"] for e in assessed} == {"change.assessed"}
        assert ana.get("/v1/audit", params={"subjectId": cid, "limit": 1}).json()["count"] == 1


def test_verify_names_an_entry_edited_in_the_store(server) -> None:
    cid = _new_change(server)
    db = Database(Settings(home=server.home).store_path)
    with server.client("analyst") as ana:
        before = ana.get("/v1/audit/verify").json()
        assert before["ok"] is True and before["entries"] > 0 and before["firstBadSeq"] is None
        head = ana.get("/v1/audit/head").json()
        target = ana.get("/v1/audit", params={"subjectId": cid}).json()["entries"][0]["seq"]
        with db.write() as s:
            original = s.scalar("SELECT reason FROM audit_log WHERE seq = ?", [target])
            s.execute("UPDATE audit_log SET reason = 'nothing to see here' WHERE seq = ?", [target])
        try:
            report = ana.get("/v1/audit/verify").json()
            assert report["ok"] is False and report["firstBadSeq"] == target
            assert f"entry {target}" in report["problem"] and "TAMPERED" in report["summary"]
        finally:
            with db.write() as s:
                s.execute("UPDATE audit_log SET reason = ? WHERE seq = ?", [original, target])
        after = ana.get("/v1/audit/verify", params={"anchor": head["anchor"]}).json()
        assert after["ok"] is True and after["entries"] >= before["entries"]
        r = ana.get("/v1/audit/verify", params={"anchor": f"{head['seq']}:{'0' * 64}"})
        assert r.json()["ok"] is False and r.json()["firstBadSeq"] == head["seq"]  # history rewritten
        assert ana.get("/v1/audit/verify", params={"anchor": "nonsense"}).status_code == 422


def test_export_csv_and_json(server) -> None:
    cid = _new_change(server)
    with server.client("approver") as auditor:
        r = auditor.get("/v1/audit/export", params={"format": "csv", "subjectId": cid})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="audit.csv"' in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows and {row["subject_id"] for row in rows} == {cid}
        assert {"seq", "actor", "action", "prev_hash", "hash"} <= set(rows[0])
        doc = auditor.get("/v1/audit/export", params={"format": "json", "subjectId": cid}).json()
        assert doc["format"] == "triage-audit/1" and len(doc["entries"]) == len(rows)
        assert doc["head"]["seq"] >= max(int(row["seq"]) for row in rows)
        assert auditor.get("/v1/audit/export", params={"format": "xml"}).status_code == 422


def test_audit_roles(server) -> None:
    for role, status in (
        ("analyst", 200),
        ("approver", 200),
        ("admin", 200),
        ("engineer", 403),
        ("service", 403),
    ):
        with server.client(role) as c:
            assert c.get("/v1/audit/verify").status_code == status, role
    with server.client() as anon:
        assert anon.get("/v1/audit").status_code == 401


def test_reading_a_diagnosis_is_recorded_as_a_phi_read(server) -> None:
    with server.client("service") as svc, server.client("analyst") as ana:
        event = {"service": "phi-reader", "timestamp": "2026-11-27T07:00:00Z", "level": "ERROR",
                 "message": "unable to open patient chart 4711: timeout"}  # fmt: skip
        error_id = svc.post("/v1/diagnose", json=event).json()["errorId"]
        assert ana.get(f"/v1/diagnoses/{error_id}").status_code == 200
        assert ana.get("/v1/diagnoses/ERR-does-not-exist").status_code == 404  # not a read: not recorded
        deadline = time.monotonic() + 15
        reads: list[dict] = []
        while time.monotonic() < deadline and not reads:
            time.sleep(0.5)
            reads = ana.get("/v1/audit", params={"action": "phi.read", "subjectId": error_id}).json()[
                "entries"
            ]
        assert reads, "no phi.read entry"
        assert reads[0]["actor"] == "test-analyst" and reads[0]["actorRole"] == "analyst"
        assert (
            reads[0]["subjectKind"] == "diagnosis"
            and reads[0]["details"]["route"] == "/v1/diagnoses/{error_id}"
        )
        missing = ana.get(
            "/v1/audit", params={"action": "phi.read", "subjectId": "ERR-does-not-exist"}
        ).json()
        assert missing["count"] == 0

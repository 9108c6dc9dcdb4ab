"""A store restore rewinds data, never the record of what people did (governance tables carried forward).

Real DuckDB files, real encrypted snapshots, the real change/alert/key/audit services driven through the
CLI entry point (in-process), and the real journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from triage.audit.log import AuditLog
from triage.audit.schemas import AuditEvent
from triage.recovery.carry import CARRIED_FORWARD
from triage.recovery.errors import RestoreRefused
from triage.recovery.executor import create_snapshot, recover_interrupted, restore_snapshot
from triage.recovery.journal import REWIND, Journal, JournaledStore
from triage.settings import Settings
from triage.storage.database import Database, load_migrations

from .conftest import add_events, event_ids
from .test_executor import RESTORER

GOVERNANCE = ("changes", "alerts", "alert_deliveries", "api_keys")


def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`triage --home HOME ARGS` in-process, with only this home's snapshot key in the environment."""
    import io

    from triage.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith("TRIAGE_")]:
            mp.delenv(name)
        mp.setenv("TRIAGE_SNAPSHOT_KEY", settings.snapshot_key.get_secret_value())
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        try:
            main(["--home", str(settings.home), *args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def ok(settings: Settings, *args: str) -> str:
    code, out, err = cli(settings, *args)
    assert code == 0, f"{args}: {err}"
    return out


class People:
    """The real services people act through (the CLI's own wiring), built against the current store."""

    def __init__(self, settings: Settings) -> None:
        from triage.access.keys import KeyStore
        from triage.cli.change import alert_service, change_service

        self.settings = settings
        self.changes = change_service(settings)
        self.alerts = alert_service(settings)
        self.keys = KeyStore(Database(settings.store_path))

    def change(self, title: str, *, approve: bool) -> str:
        from triage.changes.schemas import Actor, ChangeType, Role

        alice = Actor(user="alice", role=Role.ENGINEER)
        cr = self.changes.create(type=ChangeType.NORMAL, title=title, services=["records", "api"],
                                 requester="alice", actor=alice, rollback_procedure="undo")  # fmt: skip
        self.changes.assess(change_id=cr.id, actor=alice)
        if approve:
            self.approve(cr.id)
        return cr.id

    def approve(self, change_id: str) -> None:
        from triage.changes.schemas import Actor, Role

        self.changes.approve(change_id=change_id, actor=Actor(user="carol", role=Role.APPROVER), comment="ok")

    def alert(self, incident: str) -> str:
        alert = self.alerts.raise_from_diagnosis(diagnosis={
            "errorId": f"e-{incident}", "incidentId": incident, "detectedAt": "2030-01-01T00:00:00Z",
            "severity": "HIGH", "category": "model", "affectedServices": ["scorer"],
            "rootCause": {"service": "scorer", "issue": "inference latency above budget", "confidence": 0.7},
        })  # fmt: skip
        assert alert is not None
        return alert.id

    def key(self, name: str) -> str:
        from triage.access.keys import parse_role

        return self.keys.create(name=name, role=parse_role("engineer"), created_by="admin").key.key_id

    def phi_read(self, who: str) -> None:
        phi_read(self.settings, who)


def phi_read(settings: Settings, who: str) -> None:
    """An audit entry appended directly (not through the journal), as the PHI readers do."""
    AuditLog(Database(settings.store_path)).append(
        AuditEvent(actor=who, action="phi.read", subject_kind="record", subject_id="patient-17", at=datetime.now(UTC))
    )  # fmt: skip


def governance(settings: Settings) -> dict[str, list[tuple]]:
    """Every row of every governance table (that the store has), in storage order."""
    with Database(settings.store_path).read() as s:
        return {
            t: s.execute(f"SELECT * FROM {t} ORDER BY rowid")
            for t in (*GOVERNANCE, "audit_log", "audit_head")
            if s.table_exists(t)
        }


def trail(settings: Settings) -> list[tuple[int, str, str]]:
    return [(e.seq, e.event.action, e.hash) for e in AuditLog(Database(settings.store_path)).entries()]


def verify(settings: Settings) -> dict[str, Any]:
    code, out, err = cli(settings, "audit", "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"], (report, err)
    return report


def test_store_restore_rewinds_data_and_keeps_every_governance_record(
    rsettings: Settings, home: JournaledStore, tmp_path: Path
) -> None:
    people = People(rsettings)
    before_snapshot = people.change("in the snapshot", approve=False)  # a row the restore must update
    snap = json.loads(ok(rsettings, "snapshot", "create", "-c", "store", "--reason", "drill", "--json"))["id"]

    add_events(home, range(1000, 1010), "after")  # data after the snapshot: rewound
    people.approve(before_snapshot)
    after_snapshot = people.change("after the snapshot", approve=True)
    alert = people.alert("INC-7")
    key = people.key("bob")
    people.phi_read("dana")
    live = governance(rsettings)
    live_trail = trail(rsettings)
    assert len(live_trail) >= 8 and live["alerts"] and live["api_keys"]

    restored = json.loads(ok(rsettings, "snapshot", "restore", snap, "-c", "store", "--yes", "--json"))

    assert event_ids(rsettings) == list(range(50))  # data as of the snapshot
    after = governance(rsettings)
    for table in GOVERNANCE:  # governance as it was live, mutable rows in their latest state
        assert after[table] == live[table], table
    assert set(restored["carried"]) == {t.name for t in CARRIED_FORWARD}
    assert restored["carried"]["changes"] == 2 and any("carried forward" in n for n in restored["notes"])
    # the full chain: every entry from before the restore, unchanged, then the restore's own entry
    full = trail(rsettings)
    assert full[: len(live_trail)] == live_trail and len(full) == len(live_trail) + 1
    assert full[-1][1] == "recovery.restore"
    assert verify(rsettings)["entries"] == len(live_trail) + 1
    actions = [a for _, a, _ in full]
    assert {"change.created", "change.approved", "alert.raised", "api_key.created", "phi.read"} <= set(
        actions
    )
    assert actions.count("recovery.snapshot") == 1  # written through the journal, yet not replayed twice

    shown = json.loads(ok(rsettings, "change", "show", before_snapshot, "--json"))
    assert [a["user"] for a in shown["approvals"]] == ["carol"]  # an update after the snapshot, kept
    assert json.loads(ok(rsettings, "change", "show", after_snapshot, "--json"))["state"] == "authorize"
    shown_alert = json.loads(ok(rsettings, "alerts", "show", alert))
    assert shown_alert["id"] == alert and len(shown_alert["deliveries"]) >= 1
    assert key in ok(rsettings, "keys", "list")
    # life goes on on top of the carried records: ids continue, the chain stays linear
    assert People(rsettings).change("after the restore", approve=False) == "CHG-000003"
    assert verify(rsettings)["entries"] > len(full)


def test_point_in_time_rollback_keeps_records_made_after_the_moment(
    rsettings: Settings, home: JournaledStore, tmp_path: Path
) -> None:
    people = People(rsettings)
    ok(rsettings, "snapshot", "create", "-c", "store", "--json")
    add_events(home, range(100, 110))
    people.change("before the moment", approve=True)  # written directly, between journaled entries
    ok(rsettings, "snapshot", "create", "-c", "config", "--json")  # a journaled audit entry after it
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    add_events(home, range(200, 210))
    late = people.change("after the moment", approve=True)
    people.alert("INC-8")
    people.key("erin")
    people.phi_read("frank")
    live, live_trail = governance(rsettings), trail(rsettings)

    result = json.loads(ok(rsettings, "rollback", "store", "--to", moment.isoformat(), "--yes", "--json"))

    assert result["healthy"] and result["restore"]["replayed"] >= 2
    assert event_ids(rsettings) == list(range(50)) + list(range(100, 110))  # data as of the moment
    after = governance(rsettings)
    for table in GOVERNANCE:
        assert after[table] == live[table], table
    full = trail(rsettings)
    assert full[: len(live_trail)] == live_trail and [a for _, a, _ in full[len(live_trail) :]] == [
        "recovery.rollback"
    ]
    assert verify(rsettings)["entries"] == len(live_trail) + 1
    assert json.loads(ok(rsettings, "change", "show", late, "--json"))["state"] == "authorize"
    # the data entries after the moment stay void for a later replay; the records never were data
    assert any(e.kind == REWIND for e in Journal(rsettings.journal_dir).read())


def test_a_snapshot_from_before_the_governance_tables_gets_them_and_their_migrations(
    rsettings: Settings, home: JournaledStore, tmp_path: Path
) -> None:
    snap = create_snapshot(rsettings, components=["store"]).manifest  # events only: no governance schema
    people = People(rsettings)
    people.change("first change", approve=True)
    people.alert("INC-9")
    people.key("gina")
    live = governance(rsettings)

    report = restore_snapshot(rsettings, snap.id, components=["store"])

    assert event_ids(rsettings) == list(range(50))
    assert {t: governance(rsettings)[t] for t in GOVERNANCE} == {t: live[t] for t in GOVERNANCE}
    assert report.carried["audit_log"] == len(live["audit_log"])
    db = Database(rsettings.store_path)
    for component in ("audit", "changes", "alerting", "access"):  # the copies' schema is recorded as applied
        migrations = load_migrations(component, _sql_dir(component))
        assert db.migrate(migrations) == []
    assert AuditLog(db).verify().ok


def test_a_table_the_live_store_lacks_keeps_the_snapshots_rows(
    rsettings: Settings, home: JournaledStore
) -> None:
    People(rsettings).key("hank")
    snap = create_snapshot(rsettings, components=["store"]).manifest
    with Database(rsettings.store_path).read() as s:
        keys_then = s.execute("SELECT * FROM api_keys")
    with Database(rsettings.store_path).write() as s:  # a live store from before the keys existed
        s.execute("DROP TABLE api_keys")
        s.execute("DELETE FROM schema_migrations WHERE component = 'access'")
    phi_read(rsettings, "ivy")

    report = restore_snapshot(rsettings, snap.id, components=["store"])

    with Database(rsettings.store_path).read() as s:
        assert s.execute("SELECT * FROM api_keys") == keys_then
    assert "api_keys" not in report.carried and any(
        "(api_keys): the snapshot's are kept" in n for n in report.notes
    )
    assert [a for _, a, _ in trail(rsettings)][-1] == "phi.read"  # the rest was carried


def test_a_live_store_recreated_empty_keeps_the_snapshots_records(
    rsettings: Settings, home: JournaledStore
) -> None:
    people = People(rsettings)
    change = people.change("in the snapshot", approve=True)
    people.key("olga")
    snap = create_snapshot(rsettings, components=["store"]).manifest
    then = governance(rsettings)
    rsettings.store_path.unlink()  # lost; the services re-create the store with empty governance tables
    People(rsettings)
    assert all(rows == [] for rows in governance(rsettings).values())

    report = restore_snapshot(rsettings, snap.id, components=["store"])

    assert governance(rsettings) == then and report.carried == {}
    assert json.loads(ok(rsettings, "change", "show", change, "--json"))["approvals"][0]["user"] == "carol"
    verify(rsettings)


def test_a_live_trail_that_does_not_continue_the_snapshots_is_refused_and_nothing_changes(
    rsettings: Settings, home: JournaledStore
) -> None:
    phi_read(rsettings, "jack")
    snap = create_snapshot(rsettings, components=["store"]).manifest
    add_events(home, range(300, 305))
    with Database(rsettings.store_path).write() as s:  # the store was replaced outside triage: a new trail
        s.execute("DELETE FROM audit_log")
        s.execute("DELETE FROM audit_head")
    phi_read(rsettings, "kate")
    live_trail, live_ids = trail(rsettings), event_ids(rsettings)
    journal_end = Journal(rsettings.journal_dir).last().seq

    with pytest.raises(RestoreRefused, match="not a descendant"):
        restore_snapshot(rsettings, snap.id, components=["store"])

    assert trail(rsettings) == live_trail and event_ids(rsettings) == live_ids
    assert Journal(rsettings.journal_dir).last().seq == journal_end  # no rewind marker either
    assert [p for p in rsettings.home.rglob(".*") if ".restore-" in p.name] == []
    code, _, err = cli(rsettings, "snapshot", "restore", snap.id, "-c", "store", "--yes")
    assert code == 2 and "Move the live store aside" in err and "Traceback" not in err


def test_an_unreadable_live_store_is_restored_over_and_kept_aside(
    rsettings: Settings, home: JournaledStore
) -> None:
    snap = create_snapshot(rsettings, components=["store"]).manifest
    damaged = b"not a duckdb file" * 1000
    rsettings.store_path.write_bytes(damaged)
    rsettings.store_path.with_name(rsettings.store_path.name + ".wal").unlink(missing_ok=True)

    report = restore_snapshot(rsettings, snap.id, components=["store"])

    assert event_ids(rsettings) == list(range(50)) and report.carried == {}
    kept = list(rsettings.store_path.parent.glob(rsettings.store_path.name + ".unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    assert any("could not be read" in n for n in report.notes)


def test_journaled_audit_entries_the_live_store_never_applied_come_after_the_carried_chain(
    rsettings: Settings, home: JournaledStore
) -> None:
    from triage.api.restoration import KEEP_KINDS, audit_sink, store_apply
    from triage.recovery.records import RecoveryRecord

    snap = create_snapshot(rsettings, components=["store"]).manifest
    audit_sink(rsettings)(RecoveryRecord("recovery.applied", "test", "t1", "lee"))  # journaled and applied
    phi_read(rsettings, "mia")  # applied directly
    crashed = AuditEvent(actor="ned", action="recovery.crashed", subject_kind="test", subject_id="t2",
                         at=datetime.now(UTC))  # fmt: skip
    Journal(rsettings.journal_dir).append("audit", crashed.model_dump(mode="json"))  # never applied
    live_trail = trail(rsettings)

    restore_snapshot(rsettings, snap.id, components=["store"], apply=store_apply(), keep_kinds=KEEP_KINDS)

    full = trail(rsettings)
    assert full[: len(live_trail)] == live_trail
    assert [a for _, a, _ in full[len(live_trail) :]] == ["recovery.crashed"]
    assert AuditLog(Database(rsettings.store_path)).verify().ok


def test_a_kill_mid_swap_keeps_the_live_records_and_the_next_restore_carries_them(
    rsettings: Settings, home: JournaledStore, tmp_path: Path
) -> None:
    snap = create_snapshot(rsettings, components=["store"]).manifest
    People(rsettings).change("made after the snapshot", approve=True)
    add_events(home, range(400, 405))
    live, live_trail = governance(rsettings), trail(rsettings)
    marker = tmp_path / "marker"
    env = {**os.environ, "TRIAGE_SNAPSHOT_KEY": rsettings.snapshot_key.get_secret_value()}
    proc = subprocess.Popen(
        [sys.executable, "-c", RESTORER, str(rsettings.home), snap.id, "swap", str(marker)], env=env
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the restore never reached the swap"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)

    assert "restore" in recover_interrupted(rsettings)
    assert governance(rsettings) == live and event_ids(rsettings) == list(range(50)) + list(range(400, 405))
    restore_snapshot(rsettings, snap.id, components=["store"])
    assert event_ids(rsettings) == list(range(50))
    assert governance(rsettings) == live and "changes" in live
    assert trail(rsettings) == live_trail and AuditLog(Database(rsettings.store_path)).verify().ok


def _sql_dir(component: str) -> Path:
    import importlib

    return Path(importlib.import_module(f"triage.{component}").__file__).parent / "sql"


def test_the_declared_tables_are_exactly_what_the_governance_migrations_create(tmp_path: Path) -> None:
    created: dict[str, set[str]] = {}
    for component in ("audit", "changes", "alerting", "access"):
        db = Database(tmp_path / f"{component}.duckdb")
        db.migrate(load_migrations(component, _sql_dir(component)))
        with db.read() as s:
            created[component] = {
                r[0]
                for r in s.execute("SELECT table_name FROM duckdb_tables()")
                if r[0] != "schema_migrations"
            }
    declared: dict[str, set[str]] = {}
    for table in CARRIED_FORWARD:
        declared.setdefault(table.component, set()).add(table.name)
    assert declared == created
    assert [t.name for t in CARRIED_FORWARD if t.kind == "append-only"] == ["audit_log"]

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from triage.audit.log import AuditLog, compute_hash, read_export, verify_chain
from triage.audit.schemas import GENESIS_HASH, AuditEvent, ChainHead
from triage.errors import InvalidInput
from triage.settings import Settings
from triage.storage.database import Database

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def event(i: int, **extra) -> AuditEvent:
    return AuditEvent(
        actor=f"user{i % 3}",
        actor_role="engineer",
        action="change.transitioned",
        subject_kind="change",
        subject_id=f"CHG-{i:06d}",
        at=T0 + timedelta(minutes=i),
        before={"state": "new"},
        after={"state": "assess", "n": i},
        reason=f"step {i}",
        details=extra,
    )


@pytest.fixture
def log(settings: Settings) -> AuditLog:
    audit = AuditLog(Database(settings.store_path))
    audit.append_many([event(i) for i in range(1, 7)])
    return audit


def tamper(log: AuditLog, *statements: str) -> None:
    with log.db.write() as session:
        for sql in statements:
            session.execute(sql)


def test_chain_links_each_entry_to_the_previous(log: AuditLog) -> None:
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(entries):
        assert after.prev_hash == before.hash
        assert after.hash == compute_hash(after.seq, after.event, before.hash)
    assert log.head() == ChainHead(seq=6, hash=entries[-1].hash)
    report = log.verify()
    assert report.ok and report.entries == 6 and report.head == log.head()


def test_round_trip_keeps_who_what_when_before_after_why(log: AuditLog) -> None:
    third = log.entries(subject_id="CHG-000003")[0]
    assert third.event == event(3)
    assert third.event.at == T0 + timedelta(minutes=3)


def test_filters(log: AuditLog) -> None:
    assert [e.seq for e in log.entries(actor="user1")] == [1, 4]
    assert [e.seq for e in log.entries(since=T0 + timedelta(minutes=5))] == [5, 6]
    assert [e.seq for e in log.entries(action="change.*", limit=2)] == [1, 2]


def test_edited_entry_is_named(log: AuditLog) -> None:
    tamper(log, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 3
    assert "modified" in report.problem


def test_edited_json_detail_is_named(log: AuditLog) -> None:
    tamper(log, """UPDATE audit_log SET after_json = '{"state":"closed","n":4}' WHERE seq = 4""")
    assert log.verify().first_bad_seq == 4
    tamper(log, "UPDATE audit_log SET after_json = '{not json' WHERE seq = 2")
    assert log.verify().first_bad_seq == 2


def test_edited_timestamp_is_named(log: AuditLog) -> None:
    tamper(log, "UPDATE audit_log SET occurred_at = occurred_at + INTERVAL 1 SECOND WHERE seq = 5")
    assert log.verify().first_bad_seq == 5


def test_edit_with_recomputed_hash_breaks_the_next_link(log: AuditLog) -> None:
    forged = event(3).model_copy(update={"actor": "mallory"})
    entries = log.entries()
    digest = compute_hash(3, forged, entries[1].hash)
    tamper(log, f"UPDATE audit_log SET actor = 'mallory', hash = '{digest}' WHERE seq = 3")
    report = log.verify()
    assert report.first_bad_seq == 4 and "does not follow" in report.problem


def test_deleted_entry_is_named(log: AuditLog) -> None:
    tamper(log, "DELETE FROM audit_log WHERE seq = 2")
    report = log.verify()
    assert report.first_bad_seq == 2 and "missing" in report.problem


def test_deleted_entry_with_renumbering_is_named(log: AuditLog) -> None:
    tamper(log, "DELETE FROM audit_log WHERE seq = 2", "UPDATE audit_log SET seq = seq - 1 WHERE seq > 2")
    assert log.verify().first_bad_seq == 2


def test_deleted_tail_is_caught_by_the_head(log: AuditLog) -> None:
    tamper(log, "DELETE FROM audit_log WHERE seq >= 5")
    report = log.verify()
    assert report.first_bad_seq == 5 and "deleted tail" in report.problem


def test_deleted_head_row_is_caught(log: AuditLog) -> None:
    tamper(log, "DELETE FROM audit_head")
    assert not log.verify().ok


def test_inserted_entry_is_named(log: AuditLog) -> None:
    # A forger who knows the algorithm inserts a well-formed entry at position 4 and renumbers the rest.
    entries = log.entries()
    forged = event(99)
    digest = compute_hash(4, forged, entries[2].hash)
    tamper(log, "UPDATE audit_log SET seq = seq + 1 WHERE seq >= 4")
    with log.db.write() as session:
        session.execute(
            "INSERT INTO audit_log SELECT 4, occurred_at, 'mallory', actor_role, action, subject_kind, subject_id,"
            " before_json, after_json, reason, details_json, ?, ? FROM audit_log WHERE seq = 3",
            [entries[2].hash, digest],
        )
    report = log.verify()
    assert not report.ok and report.first_bad_seq == 4


def test_inserted_duplicate_seq_is_named(log: AuditLog) -> None:
    tamper(log, "INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 2")
    report = log.verify()
    assert report.first_bad_seq == 2 and "again" in report.problem


def test_appended_outside_the_log_is_named(log: AuditLog) -> None:
    head = log.head()
    forged = event(7)
    digest = compute_hash(7, forged, head.hash)
    tamper(
        log,
        "INSERT INTO audit_log SELECT 7, occurred_at, actor, actor_role, action, subject_kind, subject_id, before_json,"
        f" after_json, reason, details_json, '{head.hash}', '{digest}' FROM audit_log WHERE seq = 6",
    )
    report = log.verify()
    assert report.first_bad_seq == 7


def test_reordered_entries_are_named(log: AuditLog) -> None:
    tamper(
        log,
        "UPDATE audit_log SET seq = 100 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 100",
    )
    report = log.verify()
    assert report.first_bad_seq == 3 and not report.ok


def test_anchor_catches_a_full_rewrite(log: AuditLog) -> None:
    anchor = log.head()
    # Rewrite history completely (recomputing every hash and the head): only an outside anchor sees it.
    rewritten = [event(i).model_copy(update={"actor": "mallory"}) for i in range(1, 7)]
    tamper(log, "DELETE FROM audit_log", "DELETE FROM audit_head")
    log.append_many(rewritten)
    assert log.verify().ok
    report = log.verify(anchors=[anchor])
    assert not report.ok and report.first_bad_seq == 6 and "anchor" in report.problem
    assert ChainHead.parse(str(anchor)) == anchor
    with pytest.raises(InvalidInput):
        ChainHead.parse("12:abc")


def test_export_json_and_csv_verify_offline(log: AuditLog, tmp_path: Path) -> None:
    for fmt in ("json", "csv"):
        buffer = io.StringIO()
        assert log.export(buffer, fmt=fmt) == 6
        path = tmp_path / f"trail.{fmt}"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        rows, head = read_export(path)
        assert len(rows) == 6
        assert verify_chain(rows, head=head).ok
        assert rows[2]["before"] == {"state": "new"}
        tampered = buffer.getvalue().replace("user2", "userX", 1)
        path.write_text(tampered, encoding="utf-8")
        rows, head = read_export(path)
        assert verify_chain(rows, head=head).first_bad_seq == 2
    doc = json.loads(log_json(log))
    assert doc["head"]["seq"] == 6 and doc["entries"][0]["seq"] == 1


def test_an_empty_or_binary_file_is_not_an_export(tmp_path: Path) -> None:
    """Nothing to verify is not an intact trail, and undecodable bytes are a one-line refusal."""
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InvalidInput, match="empty file"):
        read_export(empty)
    binary = tmp_path / "trail.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\xf0\x9f\x00\xff")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_export(binary)


def log_json(log: AuditLog) -> str:
    buffer = io.StringIO()
    log.export(buffer, fmt="json")
    return buffer.getvalue()


def test_empty_store_verifies(settings: Settings) -> None:
    audit = AuditLog(Database(settings.store_path))
    assert audit.verify().ok and audit.entries() == [] and audit.head() is None


def test_appends_from_several_processes_stay_linear(settings: Settings, tmp_path: Path) -> None:
    AuditLog(Database(settings.store_path)).ensure_schema()
    script = textwrap.dedent(
        f"""
        import sys
        from datetime import UTC, datetime
        from triage.audit.log import AuditLog
        from triage.audit.schemas import AuditEvent
        from triage.storage.database import Database
        log = AuditLog(Database({str(settings.store_path)!r}))
        for i in range(8):
            log.append(AuditEvent(actor=sys.argv[1], action="test.append", subject_kind="t",
                                  subject_id=str(i), at=datetime.now(UTC)))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, f"p{n}"]) for n in range(3)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    audit = AuditLog(Database(settings.store_path))
    report = audit.verify()
    assert report.ok and report.entries == 24
    assert sorted(e.event.actor for e in audit.entries()).count("p1") == 8


def test_large_batches_keep_exact_values(settings: Settings) -> None:
    audit = AuditLog(Database(settings.store_path))
    batch = [event(i, note="ünïcode ✓", n=i) for i in range(1, 60)]  # above the executemany limit
    entries = audit.append_many(batch)
    stored = audit.entries()
    assert [e.event for e in stored] == batch and stored == entries
    assert audit.verify().ok

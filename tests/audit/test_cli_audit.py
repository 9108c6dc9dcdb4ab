"""`triage audit verify|export|head` as an auditor uses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from triage.audit.log import AuditLog
from triage.audit.schemas import AuditEvent
from triage.cli import main
from triage.settings import Settings
from triage.storage.database import Database


def run(capsys, settings: Settings, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(settings.home), *args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


@pytest.fixture
def trail(settings: Settings) -> AuditLog:
    log = AuditLog(Database(settings.store_path))
    log.append_many([
        AuditEvent(actor="alice", actor_role="engineer", action="phi.read", subject_kind="incident",
                   subject_id=f"INC-{i}", at=datetime(2025, 3, 3, 9, i, tzinfo=UTC), reason="triage of a page")
        for i in range(1, 5)
    ])
    return log


def test_verify_export_and_anchor(capsys, settings: Settings, trail: AuditLog, tmp_path) -> None:
    code, out, _ = run(capsys, settings, "audit", "verify")
    assert code == 0 and "intact: 4 entries" in out
    code, head, _ = run(capsys, settings, "audit", "head")
    assert head.strip() == str(trail.head())
    for fmt in ("csv", "json"):
        target = tmp_path / f"trail.{fmt}"
        code, _, err = run(capsys, settings, "audit", "export", "--format", fmt, "--output", str(target))
        assert code == 0 and "4 entries" in err
        code, out, _ = run(capsys, settings, "audit", "verify", "--file", str(target))
        assert code == 0, out
    code, out, _ = run(capsys, settings, "audit", "export", "--format", "json", "--subject", "incident:INC-2")
    assert [e["subject_id"] for e in json.loads(out)["entries"]] == ["INC-2"]
    code, out, _ = run(capsys, settings, "audit", "verify", "--anchor", head.strip(), "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_tampering_exits_1_and_names_the_entry(capsys, settings: Settings, trail: AuditLog) -> None:
    with trail.db.write() as session:
        session.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3")
    code, out, err = run(capsys, settings, "audit", "verify")
    assert code == 1 and "TAMPERED at entry 3" in err and "modified" in err
    code, out, _ = run(capsys, settings, "audit", "verify", "--json")
    assert code == 1 and json.loads(out)["first_bad_seq"] == 3


def test_bad_arguments_exit_2(capsys, settings: Settings, trail: AuditLog) -> None:
    assert run(capsys, settings, "audit", "export", "--format", "xml")[0] == 2
    assert run(capsys, settings, "audit", "verify", "--anchor", "nonsense")[0] == 2

"""`triage change …` end to end through the real entry point (in-process: same error mapping as the console)."""

from __future__ import annotations

import json

import pytest

from triage.cli import main
from triage.settings import Settings


def run(capsys, settings: Settings, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["--home", str(settings.home), *args])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_a_change_from_request_to_close(capsys, settings: Settings) -> None:
    code, out, _ = run(capsys, settings, "change", "create", "--type", "normal", "--title", "Add index",
                       "--services", "records,api", "--requester", "alice", "--rollback-procedure", "drop it",
                       "--json")
    assert code == 0
    created = json.loads(out)
    cid = created["id"]
    assert cid == "CHG-000001" and created["state"] == "new" and created["services"] == ["records", "api"]
    steps = [
        ("assess", "--as", "alice", "--role", "engineer", "--user-impact", "partial"),
        ("schedule", "--as", "alice", "--role", "engineer", "--start", "now", "--end", "+2h"),
        ("approve", "--as", "carol", "--role", "approver", "--comment", "fine"),
        ("implement", "--as", "alice", "--role", "engineer"),
        ("review", "--as", "alice", "--role", "engineer", "--validation", "passed", "--notes", "ok"),
        ("close", "--as", "carol", "--role", "approver", "--notes", "done"),
    ]
    states = []
    for command, *rest in steps:
        code, out, err = run(capsys, settings, "change", command, cid, *rest, "--json")
        assert code == 0, err
        states.append(json.loads(out)["state"])
    assert states == ["authorize", "authorize", "scheduled", "implement", "review", "closed"]
    code, out, _ = run(capsys, settings, "change", "show", cid, "--json")
    shown = json.loads(out)
    assert shown["close_code"] == "successful" and shown["missing_approvals"] == []
    assert shown["required_approvals"] == ["technical_lead"]
    code, out, _ = run(capsys, settings, "change", "list")
    assert cid in out and "closed" in out
    code, out, _ = run(capsys, settings, "audit", "log", "--subject", f"change:{cid}")
    assert "assess->authorize" in out and "carol" in out


def test_refusals_exit_2_with_one_line(capsys, settings: Settings) -> None:
    code, out, _ = run(capsys, settings, "change", "create", "--type", "normal", "--title", "t", "--services",
                       "web", "--requester", "alice", "--rollback-procedure", "r")
    cid = out.split()[0]
    run(capsys, settings, "change", "assess", cid, "--as", "bob", "--role", "engineer")
    cases = [
        (("approve", cid, "--as", "alice", "--role", "approver"), "may not approve"),  # self-approval
        (("approve", cid, "--as", "ann", "--role", "analyst"), "no approval authority"),
        (("implement", cid, "--as", "bob", "--role", "engineer"), "cannot go from authorize"),
        (("reject", cid, "--as", "carol", "--role", "approver"), "--reason"),
        (("approve", cid, "--as", "carol", "--role", "wizard"), "--role must be one of"),
        (("show", "CHG-000404"), "no change CHG-000404"),
    ]
    for args, expected in cases:
        code, _, err = run(capsys, settings, "change", *args)
        assert code == 2 and expected in err and err.count("\n") == 1 and "Traceback" not in err, (args, err)


def test_bad_impact_or_window_values_name_the_option(capsys, settings: Settings) -> None:
    """A pydantic refusal is one line naming the option, not pydantic's trailing documentation link."""
    base = ("change", "create", "--type", "normal", "--title", "t", "--services", "web", "--requester", "bob")
    cases = [
        (("--user-impact", "bogus"), "--user-impact: Input should be 'none'"),
        (("--rollback-complexity", "zzz"), "--rollback-complexity: Input should be"),
        (("--downtime", "-3"), "--downtime: Input should be greater than or equal to 0"),
        (("--start", "+2h", "--end", "now"), "a schedule window must end after it starts"),
    ]
    for extra, expected in cases:
        code, _, err = run(capsys, settings, *base, *extra)
        assert code == 2 and expected in err and err.count("\n") == 1, (extra, err)
        assert "errors.pydantic.dev" not in err, (extra, err)


def test_emergency_from_a_diagnosis_file(capsys, settings: Settings, tmp_path) -> None:
    from datetime import UTC, datetime

    diagnosis = {"errorId": "e1", "incidentId": "INC-9", "detectedAt": datetime.now(UTC).isoformat(),
                 "severity": "CRITICAL", "category": "database", "affectedServices": ["records"],
                 "rootCause": {"service": "postgres", "issue": "disk full", "confidence": 0.9}}
    path = tmp_path / "diagnosis.json"
    path.write_text(json.dumps(diagnosis), encoding="utf-8")
    code, out, err = run(capsys, settings, "change", "emergency", "--diagnosis", str(path), "--json")
    assert code == 0, err
    cr = json.loads(out)
    assert cr["type"] == "emergency" and cr["state"] == "authorize" and cr["incident_id"] == "INC-9"
    code, out, _ = run(capsys, settings, "change", "show", cr["id"])
    assert "deadline approval" in out and "pending" in out
    code, out, _ = run(capsys, settings, "alerts", "list")
    assert "INC-9: 1 alert(s)" in out and "database" in out
    path.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, settings, "change", "emergency", "--diagnosis", str(path))
    assert code == 2 and "not valid JSON" in err

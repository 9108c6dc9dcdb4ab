"""`triage diagnose`: one diagnosis without the server, the API's JSON, nothing stored, rules or champion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from triage.diagnosis.schemas import Diagnosis, RootCause
from triage.incidents.store import DiagnosisRow, IncidentState, IncidentStore
from triage.modeling.tracking import ModelTracker
from triage.settings import Settings
from triage.storage.database import Database

from .test_snapshot import one_line_error, run

EMAIL = "john.doe@example.com"
MESSAGE = f"Connection refused to db-primary:5432 for user {EMAIL}"
NAME = "error-classifier"


def diagnose(home: Path, *args: str):
    return run(home, "diagnose", "--service", "checkout", *args, key=None)


def test_rules_only_on_a_fresh_home_creates_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")

    human = diagnose(settings.home, "--message", MESSAGE)
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].startswith("CRITICAL DATABASE_CONNECTION") and "not stored" in lines[0]
    assert "root cause: checkout: The database is down or unreachable (confidence 80%)" in human.stdout
    assert "models: none (rules only)" in human.stdout
    assert "  1. Find and terminate long-running or blocking database queries" in human.stdout
    assert "Database connection failures (pool exhausted, database down, deadlocks)" in human.stdout
    assert EMAIL not in human.stdout and "john.doe" not in human.stdout

    proc = diagnose(settings.home, "--message", MESSAGE, "--level", "error", "--trace-id", "t-1",
                    "--timestamp", "2026-05-27T06:15:00+02:00", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and EMAIL not in proc.stdout and "john.doe" not in proc.stdout
    body = json.loads(proc.stdout)
    # the API's wire format: camelCase, every Diagnosis field present, and it reads back as a Diagnosis
    assert set(body) == {f.alias for f in Diagnosis.model_fields.values()}
    assert Diagnosis.model_validate_json(proc.stdout).root_cause.service == "checkout"
    assert body["errorId"].startswith("ERR-") and body["severity"] == "CRITICAL"
    assert body["category"] == "DATABASE_CONNECTION" and body["modelVersions"] == {}
    assert body["rootCause"] == {"service": "checkout", "issue": "The database is down or unreachable",
                                 "confidence": 0.8}  # fmt: skip
    assert [f["fixId"] for f in body["suggestedFixes"]][:3] == ["kill-long-queries", "restart-service",
                                                                 "failover-database"]  # fmt: skip
    assert body["evidence"]["modelScores"]["decidedBy"] == "pattern:db-unreachable"
    assert body["evidence"]["template"] == "Connection refused to <*>:<*> for user <*>"
    assert "the message contained PHI, redacted before storage" in body["evidence"]["notes"]
    assert body["incidentId"] is None  # the incident it would open is not stored: no phantom id

    assert not settings.store_path.exists() and not settings.journal_dir.exists()  # a one-off
    assert not settings.home.exists()


def test_bad_options_exit_2_with_one_line_naming_the_option(tmp_path: Path) -> None:
    home = tmp_path / "home"
    err = one_line_error(diagnose(home, "--message", "boom", "--timestamp", "2026-05-27T06:15:00"))
    assert "--timestamp '2026-05-27T06:15:00'" in err and "must include a timezone" in err
    assert "--timestamp 'yesterday'" in one_line_error(
        diagnose(home, "--message", "boom", "--timestamp", "yesterday")
    )
    assert "--message: String should have at least 1 character" in one_line_error(
        diagnose(home, "--message", "")
    )
    assert "--service:" in one_line_error(
        run(home, "diagnose", "--service", "no spaces", "--message", "x", key=None)
    )
    assert "--service" in one_line_error(run(home, "diagnose", "--message", "x", key=None))  # missing
    assert not home.exists()


def test_an_existing_store_is_read_not_written(settings: Settings) -> None:
    """With a store the engine is the API's (build_engine): an open incident there is joined, but neither the
    diagnosis nor the incident's growth is written."""
    now = datetime.now(UTC)
    incidents = IncidentStore(Database(settings.store_path))
    incidents.write_batch(
        diagnoses=[DiagnosisRow("ERR-stored", "INC-20260527-AAAAAA", now - timedelta(minutes=2), now - timedelta(minutes=2),
                                "checkout", "ERROR", "CRITICAL", "DATABASE_CONNECTION", None, "Connection refused", "{}")],
        incidents=[IncidentState("INC-20260527-AAAAAA", "Database Connection on checkout", "CRITICAL",
                                 "DATABASE_CONNECTION", ("checkout",), RootCause(service="checkout", issue="db down",
                                 confidence=0.8), 1, now - timedelta(minutes=2), now - timedelta(minutes=2))],
    )  # fmt: skip

    def counts() -> tuple[int, int, int]:
        with Database(settings.store_path).read() as s:
            return (s.scalar("SELECT count(*) FROM diagnoses"), s.scalar("SELECT count(*) FROM incidents"),
                    s.scalar("SELECT error_count FROM incidents"))  # fmt: skip

    before = counts()
    assert before == (1, 1, 1)
    proc = diagnose(settings.home, "--message", MESSAGE, "--json")
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["incidentId"] == "INC-20260527-AAAAAA"  # the stored open incident, restored by build_engine
    assert diagnose(settings.home, "--message", "Disk full on /var/lib/postgresql").returncode == 0
    assert counts() == before
    assert not settings.journal_dir.exists() or not any(settings.journal_dir.rglob("*.jsonl"))


def test_the_served_champion_classifies(tracked_settings: Settings, trained_classifier) -> None:
    tracker = ModelTracker.from_settings(tracked_settings)
    tracker.log_trained(
        NAME, estimator=trained_classifier.estimator, params={}, metrics={}, eval_frame=trained_classifier.eval_frame,
        data_fingerprint="f", feature_view="labelled_examples/v1", drain3_config_hash="h", primary_metric="macro_f1",
        actor="test", reason="first",
    )  # fmt: skip
    home = tracked_settings.home

    proc = diagnose(home, "--message", "java.lang.NullPointerException at OrderService.process(OrderService.java:42)",
                    "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["modelVersions"] == {NAME: "1"}
    assert body["evidence"]["modelScores"]["decidedBy"] == f"model:{NAME}@1"
    human = diagnose(
        home, "--message", "java.lang.NullPointerException at OrderService.process(OrderService.java:42)"
    )
    assert human.returncode == 0 and f"decided by: model:{NAME}@1; models: {NAME} v1" in human.stdout
    assert not tracked_settings.store_path.exists()

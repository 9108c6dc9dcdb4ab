"""`triage rollback store|model` end to end: point in time / previous champion, health checked, audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.recovery.crypto import generate_key
from triage.recovery.journal import Journal, JournaledStore
from triage.settings import Settings
from triage.storage.database import Database

from .test_snapshot import one_line_error, run


def test_store_rollback_to_a_moment_keeps_the_audit_trail(tmp_path: Path) -> None:
    from triage.audit.log import AuditLog

    key = generate_key()
    settings = Settings(home=tmp_path / "home")
    db = Database(settings.store_path)
    with db.write() as s:
        s.execute("CREATE TABLE events (id INTEGER)")
    store = JournaledStore(db, Journal(settings.journal_dir))
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(10)]})])
    created = run(settings.home, "snapshot", "create", "-c", "store", "--json", key=key)
    assert created.returncode == 0, created.stderr
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(10, 20)]})])
    moment = datetime.now(UTC).isoformat()
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(20, 30)]})])

    proc = run(settings.home, "rollback", "store", "--to", moment, "--yes", "--json", key=key)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["healthy"] and result["restore"]["replayed"] >= 1
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM events") == 20  # up to the moment, nothing after, nothing lost
    audit = AuditLog(db)
    actions = [e.event.action for e in audit.entries()]
    assert actions == ["recovery.snapshot", "recovery.rollback"]
    assert audit.verify().ok

    assert "ISO 8601" in one_line_error(
        run(settings.home, "rollback", "store", "--to", "yesterday", "--yes", key=key)
    )


# -- model: the champion back to the previous champion, through change control ------------------------------
MODEL = "error-classifier"


@pytest.fixture(scope="module")
def weak_classifier(labelled_examples):
    """A poor model (two categories): a trained one beats it, so promotions pass their gate."""
    from triage.modeling.classification import ErrorClassifierConfig

    few = labelled_examples[labelled_examples["category"].isin(["AUTHENTICATION", "UNKNOWN"])].head(60)
    return (
        ErrorClassifierConfig(n_estimators=10, cv=2, max_features=200)
        .estimator()
        .fit(few, few[["category", "severity"]])
    )


def _register(settings: Settings, estimator, eval_frame, reason: str) -> int:
    from triage.modeling.tracking import ModelTracker

    return ModelTracker.from_settings(settings).log_trained(
        MODEL, estimator=estimator, params={}, metrics={}, eval_frame=eval_frame, data_fingerprint="f",
        feature_view="labelled_examples/v1", drain3_config_hash="h", primary_metric="macro_f1", actor="test",
        reason=reason,
    ).version  # fmt: skip


def test_model_rollback_after_two_promotions_moves_the_champion_back_and_verifies(
    tracked_settings: Settings, trained_classifier, weak_classifier
) -> None:
    from triage.audit.log import AuditLog
    from triage.changes.service import ChangeService
    from triage.modeling.tracking import ModelTracker, load_served

    home, held = tracked_settings.home, trained_classifier.eval_frame
    served_dir = tracked_settings.models_dir / "served"
    assert _register(tracked_settings, weak_classifier, held, "first") == 1  # champion
    assert _register(tracked_settings, trained_classifier.estimator, held, "better") == 2  # challenger
    assert run(home, "models", "promote", MODEL, "--as", "dana", key=None).returncode == 0  # champion v2
    assert load_served(served_dir, MODEL).version == 2

    proc = run(home, "rollback", "model", MODEL, "--as", "alice", "--reason", "bad night", key=None)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"rolled back model {MODEL}: champion v2 -> v1 under change CHG-000002"
    assert lines[1] == f"  served: {MODEL} v1 loads"
    assert any(line.split()[:2] == ["pass", "model_availability"] for line in lines)
    assert any(line.split()[:2] == ["pass", "model_inference"] for line in lines)
    assert lines[-1] == "healthy"
    assert ModelTracker.from_settings(tracked_settings).load(MODEL).version == 1
    assert load_served(served_dir, MODEL).version == 1

    assert _register(tracked_settings, trained_classifier.estimator, held, "again") == 3
    assert run(home, "models", "promote", MODEL, "--as", "dana", key=None).returncode == 0  # champion v3
    proc = run(home, "rollback", "model", MODEL, "--as", "alice", "--role", "admin", "--json", key=None)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["level"], result["subject"], result["alias"]) == ("model", MODEL, "champion")
    assert (result["from"], result["to"], result["change_id"]) == (3, 1, "CHG-000004")
    assert result["served"] == {"version": 1, "expected": 1, "ok": True, "detail": f"{MODEL} v1 loads"}
    assert result["healthy"] is True
    checks = {c["name"]: c["status"] for c in result["health"]["checks"]}
    assert checks["model_availability"] == checks["model_inference"] == checks["store_connectivity"] == "pass"
    assert load_served(served_dir, MODEL).version == 1

    db = Database(tracked_settings.store_path)
    rollback = ChangeService(db).get(change_id="CHG-000004")
    assert (rollback.template_id, rollback.state, rollback.requester) == ("model-rollback", "closed", "alice")
    trail = AuditLog(db)
    events = [e.event for e in trail.entries()]
    assert [e.actor for e in events if e.action == "model.rolled_back"] == ["alice", "alice"]
    recovery = [e for e in events if e.action == "recovery.rollback"]
    assert [(e.subject_id, e.details["from"], e.details["to"]) for e in recovery] == [
        (MODEL, 2, 1),
        (MODEL, 3, 1),
    ]
    assert recovery[0].reason == "bad night" and recovery[0].after == {"healthy": True}
    assert trail.verify().ok


def test_model_rollback_without_a_previous_champion_exits_2_with_one_line(
    tracked_settings: Settings, trained_classifier, tmp_path: Path
) -> None:
    from triage.modeling.tracking import ModelTracker

    home = tracked_settings.home
    _register(tracked_settings, trained_classifier.estimator, trained_classifier.eval_frame, "only one")
    err = one_line_error(run(home, "rollback", "model", MODEL, key=None))
    assert f"{MODEL} v1 has no previous champion to roll back to" in err
    assert ModelTracker.from_settings(tracked_settings).load(MODEL).version == 1
    assert "unknown model 'no-such-model'" in one_line_error(
        run(home, "rollback", "model", "no-such-model", key=None)
    )
    err = one_line_error(run(home, "rollback", "model", MODEL, "--role", "approver", key=None))
    assert "act as admin or engineer (--role)" in err
    err = one_line_error(run(home, "rollback", "model", MODEL, "--check", "thorough", key=None))
    assert "--check is immediate, comprehensive or extended" in err

    fresh = Settings(home=tmp_path / "fresh")
    assert "no model registry yet" in one_line_error(run(fresh.home, "rollback", "model", MODEL, key=None))
    assert not (fresh.models_dir / "mlflow.db").exists() and not fresh.store_path.exists()

"""`triage models ...` against a real MLflow store: list, promote (refused / allowed), rollback, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from triage.audit.log import AuditLog
from triage.changes.service import ChangeService
from triage.cli import main
from triage.modeling.classification import ErrorClassifierConfig
from triage.modeling.tracking import ModelTracker, load_served
from triage.settings import Settings
from triage.storage.database import Database

NAME = "error-classifier"


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def register(tracker: ModelTracker, estimator, eval_frame, reason: str) -> int:
    return tracker.log_trained(
        NAME, estimator=estimator, params={}, metrics={}, eval_frame=eval_frame, data_fingerprint="f",
        feature_view="labelled_examples/v1", drain3_config_hash="h", primary_metric="macro_f1", actor="test",
        reason=reason,
    ).version  # fmt: skip


@pytest.fixture(scope="module")
def weak_classifier(labelled_examples):
    """A poor model: trained on two categories only."""
    few = labelled_examples[labelled_examples["category"].isin(["AUTHENTICATION", "UNKNOWN"])].head(60)
    config = ErrorClassifierConfig(n_estimators=10, cv=2, max_features=200)
    return config.estimator().fit(few, few[["category", "severity"]])


def test_promote_rollback_and_refusal_from_the_cli(capsys, tracked_settings: Settings, trained_classifier,
                                                   weak_classifier) -> None:  # fmt: skip
    home = tracked_settings.home
    tracker = ModelTracker.from_settings(tracked_settings)
    held = trained_classifier.eval_frame
    register(tracker, weak_classifier, held, "first")
    register(tracker, trained_classifier.estimator, held, "better")

    code, out, _ = cli(capsys, home, "models", "list", "--json")
    listed = json.loads(out)["models"]
    assert code == 0 and listed[0]["name"] == NAME and listed[0]["aliases"] == {"champion": 1, "challenger": 2}
    assert [v["version"] for v in listed[0]["versions"]] == [2, 1]

    # an approver may approve changes but not carry them out: refused before any change is raised
    code, _, err = cli(capsys, home, "models", "promote", NAME, "--as", "dana", "--role", "approver")
    assert code == 2 and "act as admin or engineer (--role)" in err

    code, out, err = cli(capsys, home, "models", "promote", NAME, "--actor", "dana", "--reason", "beats v1", "--json")
    assert code == 0, err
    move = json.loads(out)
    assert (move["from_version"], move["to_version"], move["actor"]) == (1, 2, "dana")
    assert move["metrics"]["challenger_macro_f1"] > move["metrics"]["champion_macro_f1"]
    assert move["change_id"] == "CHG-000001" and move["evaluation_passed"] is True

    code, out, _ = cli(capsys, home, "models", "rollback", NAME, "--reason", "regression")
    assert code == 0 and "champion v2 -> v1 (rollback under change CHG-000002)" in out

    register(tracker, weak_classifier, held, "worse")  # v3, challenger; champion is v1 (the same weak model)
    code, _, err = cli(capsys, home, "models", "promote", NAME)
    assert code == 2 and "promotion refused" in err and "ties champion v1" in err and err.count("\n") == 1

    code, out, _ = cli(capsys, home, "models", "history", NAME, "--json")
    actions = [m["action"] for m in json.loads(out)["moves"]]
    assert actions == ["register", "register", "promote", "rollback", "register", "promotion_refused"]
    code, out, _ = cli(capsys, home, "models", "history", NAME)  # the text says under which change, too
    assert code == 0 and "by dana under CHG-000001: beats v1" in out and "under CHG-000002" in out

    audited = [e.event for e in AuditLog(Database(tracked_settings.store_path)).entries()]
    models = [e for e in audited if e.subject_kind == "model"]
    assert [e.action for e in models] == ["model.promoted", "model.rolled_back", "model.promotion_refused"]
    assert models[0].actor == "dana" and models[0].reason == "beats v1" and models[0].after == {"champion": 2}
    assert models[0].details["change_id"] == "CHG-000001" and models[1].details["change_id"] == "CHG-000002"


def test_each_promotion_and_rollback_is_a_standard_change_with_its_trail(capsys, tracked_settings: Settings,
                                                                       trained_classifier, weak_classifier) -> None:  # fmt: skip
    home = tracked_settings.home
    tracker = ModelTracker.from_settings(tracked_settings)
    register(tracker, weak_classifier, trained_classifier.eval_frame, "first")
    register(tracker, trained_classifier.estimator, trained_classifier.eval_frame, "better")
    assert cli(capsys, home, "models", "promote", NAME, "--as", "alice", "--role", "engineer")[0] == 0
    assert cli(capsys, home, "models", "rollback", NAME, "--as", "alice", "--role", "admin", "-m", "bad night")[0] == 0

    changes = ChangeService(Database(tracked_settings.store_path))
    promotion, rollback = changes.get(change_id="CHG-000001"), changes.get(change_id="CHG-000002")
    assert (promotion.type, promotion.template_id, promotion.subject) == ("standard", "model-promotion", f"model:{NAME}@2")
    assert (rollback.type, rollback.template_id, rollback.subject) == ("standard", "model-rollback", f"model:{NAME}@1")
    for change in (promotion, rollback):
        assert change.state == "closed" and change.close_code == "successful" and change.validation_passed is True
        assert change.requester == "alice" and change.risk is not None and change.risk.score <= 3

    trail = [e.event for e in AuditLog(Database(tracked_settings.store_path)).entries()]
    steps = [(e.action, e.details.get("transition")) for e in trail if e.subject_id == "CHG-000001" or
             (e.subject_kind == "model" and e.details.get("change_id") == "CHG-000001")]  # fmt: skip
    assert steps == [("change.created", None), ("change.assessed", None), ("change.transitioned", "new->scheduled"),
                     ("change.transitioned", "scheduled->implement"), ("model.promoted", None),
                     ("change.transitioned", "implement->review"), ("change.validated", None),
                     ("change.transitioned", "review->closed")]  # fmt: skip
    rolled = [e for e in trail if e.action == "model.rolled_back"]
    assert rolled[0].actor == "alice" and rolled[0].reason == "bad night"
    assert load_served(tracked_settings.models_dir / "served", NAME).version == 1


def test_a_normal_change_leaves_the_champion_until_it_is_approved(capsys, tracked_settings: Settings,
                                                                  trained_classifier, weak_classifier) -> None:  # fmt: skip
    home = tracked_settings.home
    tracker = ModelTracker.from_settings(tracked_settings)
    register(tracker, trained_classifier.estimator, trained_classifier.eval_frame, "good")
    register(tracker, weak_classifier, trained_classifier.eval_frame, "worse, but wanted")  # v2 fails the gate

    code, out, err = cli(capsys, home, "models", "promote", NAME, "--as", "alice", "--request-approval",
                         "-m", "the old one mislabels new categories", "--json")  # fmt: skip
    assert code == 0, err
    pending = json.loads(out)
    assert (pending["action"], pending["change_id"], pending["evaluation_passed"]) == (
        "promotion_pending", "CHG-000001", False)
    changes = ChangeService(Database(tracked_settings.store_path))
    change = changes.get(change_id="CHG-000001")
    assert (change.type, change.state) == ("normal", "authorize")
    assert tracker.load(NAME).version == 1 and load_served(tracked_settings.models_dir / "served", NAME).version == 1
    code, out, _ = cli(capsys, home, "models", "pending", NAME)
    assert code == 0 and out.startswith("CHG-000001  promotion_pending")

    code, _, err = cli(capsys, home, "models", "promote", NAME, "--change", "CHG-000001", "--as", "bob")
    assert code == 2 and "still needs approval by: technical_lead" in err
    code, _, err = cli(capsys, home, "change", "approve", "CHG-000001", "--as", "alice", "--role", "approver")
    assert code == 2 and "may not approve" in err  # the requester never approves their own change
    assert cli(capsys, home, "change", "approve", "CHG-000001", "--as", "carol", "--role", "approver")[0] == 0
    assert tracker.load(NAME).version == 1  # approved is not yet carried out

    code, out, err = cli(capsys, home, "models", "promote", NAME, "--change", "CHG-000001", "--as", "bob")
    assert code == 0, err
    assert "champion v1 -> v2 (promote under change CHG-000001)" in out
    assert tracker.load(NAME).version == 2 and load_served(tracked_settings.models_dir / "served", NAME).version == 2
    change = changes.get(change_id="CHG-000001")
    assert change.state == "closed" and change.close_code == "successful"
    code, _, err = cli(capsys, home, "models", "promote", NAME, "--change", "CHG-000001", "--as", "bob")
    assert code == 2 and "CHG-000001 was already carried out" in err
    trail = [e.event.action for e in AuditLog(Database(tracked_settings.store_path)).entries()
             if e.event.subject_kind == "model"]  # fmt: skip
    assert trail == ["model.promotion_requested", "model.promoted"]


def test_bad_input_exits_2_with_one_line(capsys, tracked_settings: Settings, trained_classifier) -> None:
    home = tracked_settings.home
    code, _, err = cli(capsys, home, "models", "promote", "no-such-model")
    assert code == 2 and "unknown model 'no-such-model'" in err
    code, _, err = cli(capsys, home, "models", "rollback", "no-such-model")
    assert code == 2 and "no registered model named 'no-such-model'" in err

    tracker = ModelTracker.from_settings(tracked_settings)
    register(tracker, trained_classifier.estimator, trained_classifier.eval_frame, "v1")
    register(tracker, trained_classifier.estimator, trained_classifier.eval_frame, "v2")
    artefact = Path(tracker.client.get_model_version_download_uri(NAME, "2").removeprefix("file://")) / "model.pkl"
    artefact.write_bytes(b"\x80\x04corrupt")
    proc = subprocess.run([sys.executable, "-m", "triage.cli", "--home", str(home), "models", "promote", NAME],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 2
    assert "checksum mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0

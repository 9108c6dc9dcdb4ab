"""`triage models ...` against a real MLflow store: list, promote (refused / allowed), rollback, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from triage.cli import main
from triage.modeling.classification import ErrorClassifierConfig
from triage.modeling.tracking import ModelTracker
from triage.settings import Settings

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

    code, out, err = cli(capsys, home, "models", "promote", NAME, "--actor", "dana", "--reason", "beats v1", "--json")
    assert code == 0, err
    move = json.loads(out)
    assert (move["from_version"], move["to_version"], move["actor"]) == (1, 2, "dana")
    assert move["metrics"]["challenger_macro_f1"] > move["metrics"]["champion_macro_f1"]

    code, out, _ = cli(capsys, home, "models", "rollback", NAME, "--reason", "regression")
    assert code == 0 and "champion v2 -> v1 (rollback)" in out

    register(tracker, weak_classifier, held, "worse")  # v3, challenger; champion is v1 (the same weak model)
    code, _, err = cli(capsys, home, "models", "promote", NAME)
    assert code == 2 and "promotion refused" in err and "ties champion v1" in err and err.count("\n") == 1

    code, out, _ = cli(capsys, home, "models", "history", NAME, "--json")
    actions = [m["action"] for m in json.loads(out)["moves"]]
    assert actions == ["register", "register", "promote", "rollback", "register", "promotion_refused"]

    from triage.audit.log import AuditLog
    from triage.storage.database import Database

    audited = [e.event for e in AuditLog(Database(tracked_settings.store_path)).entries()]
    assert [e.action for e in audited] == ["model.promoted", "model.rolled_back", "model.promotion_refused"]
    assert audited[0].actor == "dana" and audited[0].reason == "beats v1" and audited[0].after == {"champion": 2}


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

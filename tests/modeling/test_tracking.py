"""The model lifecycle against a real MLflow store (sqlite + local artefacts under tmp_path)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from triage.errors import Conflict, IntegrityError, InvalidInput, NotFound, PermissionDenied
from triage.modeling.tracking import (
    CHALLENGER,
    CHAMPION,
    ModelIntegrityError,
    ModelMove,
    ModelTracker,
    PromotionRefused,
    load_served,
)
from triage.settings import Settings

RNG = np.random.RandomState(0)
X = RNG.randn(200, 4)
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
EVAL = pd.DataFrame(X[150:], columns=list("abcd")).assign(y=Y[150:])


def accuracy(model, frame: pd.DataFrame) -> float:
    return float((model.predict(frame[list("abcd")].to_numpy()) == frame["y"].to_numpy()).mean())


def good() -> LogisticRegression:
    return LogisticRegression().fit(X[:150], Y[:150])


def bad() -> LogisticRegression:
    return LogisticRegression().fit(X[:150, ::-1], Y[:150])  # columns reversed: a poor model


@pytest.fixture
def moves() -> list[ModelMove]:
    return []


@pytest.fixture(scope="module")
def shared_tracker(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> ModelTracker:
    """One store for the module (opening a store costs seconds); each test uses its own model name."""
    settings = Settings(home=tmp_path_factory.mktemp("tracking") / "home")
    settings.models_dir.mkdir(parents=True)
    shutil.copy(mlflow_template, settings.models_dir / "mlflow.db")
    return ModelTracker.from_settings(settings)


@pytest.fixture
def tracker(shared_tracker: ModelTracker, moves: list[ModelMove]) -> ModelTracker:
    shared_tracker.audit, shared_tracker.approver = moves.append, None
    return shared_tracker


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return request.node.name.removeprefix("test_")[:60]


def log(tracker: ModelTracker, model, name: str, reason: str = "test"):
    return tracker.log_trained(
        name, estimator=model, params={"C": model.C, "nested": {"k": 1}}, metrics={"accuracy": accuracy(model, EVAL)},
        eval_frame=EVAL, data_fingerprint="fp123", feature_view="toy_view/v1", drain3_config_hash="d3hash",
        primary_metric="accuracy", actor="alice", reason=reason,
    )  # fmt: skip


def test_a_run_logs_params_metrics_fingerprints_and_the_first_version_is_champion(tracker, moves, name) -> None:
    v1 = log(tracker, good(), name)
    assert v1.version == 1 and v1.aliases == (CHAMPION,)
    run = tracker.client.get_run(v1.run_id)
    assert run.data.params["C"] == "1.0" and run.data.params["nested.k"] == "1"
    assert run.data.params["data_fingerprint"] == "fp123" and run.data.params["drain3_config_hash"] == "d3hash"
    assert run.data.tags["triage.feature_view"] == "toy_view/v1"
    assert run.data.metrics["accuracy"] == pytest.approx(accuracy(good(), EVAL))
    assert [(m.action, m.alias, m.to_version, m.actor) for m in moves] == [("register", CHAMPION, 1, "alice")]
    served = load_served(tracker.served_dir, name)  # exported for the scorer's hot path
    assert served.version == 1 and accuracy(served.estimator, EVAL) == accuracy(good(), EVAL)
    v2 = log(tracker, bad(), name)
    assert v2.aliases == (CHALLENGER,)
    assert load_served(tracker.served_dir, name).version == 1  # a challenger is not served
    assert tracker.eval_frame(name, 2).equals(EVAL)


def test_promotion_is_refused_when_the_challenger_is_worse(tracker, moves, name) -> None:
    log(tracker, good(), name)
    log(tracker, bad(), name)
    with pytest.raises(PromotionRefused, match=r"challenger v2 accuracy=0\.\d+ does not beat champion v1") as err:
        tracker.promote(name, score=accuracy, actor="bob", reason="try it")
    assert isinstance(err.value, Conflict) and "\n" not in str(err.value)
    assert tracker.load(name).version == 1 and tracker.load(name, CHALLENGER).version == 2
    refused = moves[-1]
    assert refused.action == "promotion_refused" and refused.actor == "bob" and refused.reason == "try it"
    assert refused.metrics["champion_accuracy"] > refused.metrics["challenger_accuracy"]
    assert [m.action for m in tracker.moves(name)] == ["register", "register", "promotion_refused"]


def test_promote_a_better_challenger_then_roll_back(tracker, moves, name) -> None:
    log(tracker, bad(), name)
    log(tracker, good(), name)
    move = tracker.promote(name, score=accuracy, actor="bob", reason="better on recent data")
    assert (move.from_version, move.to_version) == (1, 2)
    assert tracker.load(name).version == 2
    listed = {m.name: m for m in tracker.list_models()}
    assert listed[name].aliases == {CHAMPION: 2}  # the challenger alias is gone
    assert load_served(tracker.served_dir, name).version == 2
    back = tracker.rollback(name, actor="carol", reason="alerts went quiet")
    assert (back.from_version, back.to_version) == (2, 1)
    assert tracker.load(name).version == 1 and load_served(tracker.served_dir, name).version == 1
    history = [(m.action, m.from_version, m.to_version, m.actor) for m in tracker.moves(name)]
    assert history[-2:] == [("promote", 1, 2, "bob"), ("rollback", 2, 1, "carol")]
    assert [m.action for m in moves] == ["register", "register", "promote", "rollback"]
    with pytest.raises(Conflict, match="no previous champion"):
        tracker.rollback(name, actor="carol", reason="again")


def test_nothing_to_promote_or_roll_back(tracker, name) -> None:
    log(tracker, good(), name)
    with pytest.raises(Conflict, match="no challenger"):
        tracker.promote(name, score=accuracy, actor="a", reason="r")
    with pytest.raises(Conflict, match="no previous champion"):
        tracker.rollback(name, actor="a", reason="r")
    with pytest.raises(NotFound, match="no registered model named 'nope'"):
        tracker.load("nope")


def test_an_approver_can_refuse_a_move(tracker, name) -> None:
    def deny(move: ModelMove, perform) -> None:
        if move.action == "promote":
            raise PermissionDenied(f"promotion of {move.model} needs an approved change request")
        perform(None)

    tracker.approver = deny
    log(tracker, bad(), name)
    log(tracker, good(), name)
    with pytest.raises(PermissionDenied, match="change request"):
        tracker.promote(name, score=accuracy, actor="a", reason="r")
    assert tracker.load(name).version == 1


def test_an_approver_can_leave_a_move_pending_until_it_is_completed(tracker, moves, name) -> None:
    seen: list[ModelMove] = []

    def gate(move: ModelMove, perform) -> str | None:
        seen.append(move)
        if move.action == "register":
            perform(None)
            return None
        if move.change_id is None:
            return "CHG-000042"  # a request waiting for approval: the alias must not move
        perform(move.change_id)  # completing the approved request
        return move.change_id

    tracker.approver = gate
    log(tracker, good(), name)
    log(tracker, bad(), name)  # v2, worse: the gate refuses it unless approval is requested
    with pytest.raises(PromotionRefused):
        tracker.promote(name, score=accuracy, actor="a", reason="r")
    pending = tracker.promote(name, score=accuracy, actor="a", reason="needed anyway", request_approval=True)
    assert (pending.action, pending.change_id, pending.evaluation_passed) == ("promotion_pending", "CHG-000042", False)
    assert tracker.load(name).version == 1 and [m.change_id for m in tracker.pending(name)] == ["CHG-000042"]
    with pytest.raises(NotFound, match="no move pending under CHG-000007"):
        tracker.complete(name, "CHG-000007", actor="b", reason="x")
    done = tracker.complete(name, "CHG-000042", actor="b", reason="approved")
    assert (done.action, done.to_version, done.change_id, done.actor) == ("promote", 2, "CHG-000042", "b")
    assert tracker.load(name).version == 2 and tracker.pending(name) == []
    assert load_served(tracker.served_dir, name).version == 2
    with pytest.raises(Conflict, match="already carried out"):
        tracker.complete(name, "CHG-000042", actor="b", reason="again")
    assert [m.action for m in moves][-3:] == ["promotion_refused", "promotion_pending", "promote"]
    assert tracker.champion_history(name) == [1, 2]  # the refused and pending moves moved nothing
    tracker.approver = None
    with pytest.raises(InvalidInput, match="needs change control"):
        tracker.promote(name, score=accuracy, actor="a", reason="r", request_approval=True)


def test_a_corrupt_artefact_is_refused(tracker, name) -> None:
    log(tracker, good(), name)
    log(tracker, bad(), name)
    artefact = Path(tracker.client.get_model_version_download_uri(name, "1").removeprefix("file://")) / "model.pkl"
    artefact.write_bytes(artefact.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch") as err:
        tracker.load(name)
    assert isinstance(err.value, IntegrityError)
    served = tracker.served_dir / name / "model.pkl"
    served.write_bytes(b"not a model")
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_served(tracker.served_dir, name)
    with pytest.raises(NotFound):
        load_served(tracker.served_dir, "never-trained")


def test_a_model_loads_by_uri_alone_with_its_preprocessing(tracker, trained_classifier) -> None:
    import mlflow
    import mlflow.sklearn

    tracker.log_trained(
        "error-classifier", estimator=trained_classifier.estimator, params=trained_classifier.params,
        metrics=trained_classifier.metrics, eval_frame=trained_classifier.eval_frame, data_fingerprint="x",
        feature_view=trained_classifier.feature_view, drain3_config_hash="y", primary_metric="macro_f1",
        actor="a", reason="r",
    )  # fmt: skip
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracker.tracking_uri)
    try:
        model = mlflow.sklearn.load_model("models:/error-classifier@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    frame = trained_classifier.eval_frame.head(20)
    assert (model.predict(frame) == trained_classifier.estimator.predict(frame)).all()
    manifest = json.loads((tracker.served_dir / "error-classifier" / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["metrics"]["macro_f1"] == pytest.approx(
        trained_classifier.metrics["macro_f1"])

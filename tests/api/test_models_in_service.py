"""Champions in a running scorer: it serves the registered champion, and a model rollback over the API is a
model-rollback change whose result the scorer follows without a restart (real uvicorn, real MLflow store)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from triage.changes.schemas import ChangeState
from triage.cli.models import change_actor, tracker_for
from triage.modeling.classification import ErrorClassifierConfig
from triage.modeling.registry import model_spec

NAME = "error-classifier"


def _register(tracker, estimator, eval_frame, reason: str) -> int:
    return tracker.log_trained(
        NAME, estimator=estimator, params={}, metrics={}, eval_frame=eval_frame, data_fingerprint="f",
        feature_view="labelled_examples/v1", drain3_config_hash="h", primary_metric="macro_f1", actor="test",
        reason=reason,
    ).version  # fmt: skip


def _served_version(client) -> str | None:
    event = {"service": "auth", "timestamp": datetime.now(UTC).isoformat(), "level": "ERROR",
             "message": "Failed password for invalid user admin from 10.0.0.7 port 22 ssh2"}  # fmt: skip
    answer = client.post("/v1/diagnose", json=event)
    assert answer.status_code == 200, answer.text
    return answer.json()["modelVersions"].get(NAME)


def test_the_scorer_follows_a_model_rollback_done_as_a_change(tracked_settings, trained_classifier,
                                                               labelled_examples, server_factory) -> None:  # fmt: skip
    few = labelled_examples[labelled_examples["category"].isin(["AUTHENTICATION", "UNKNOWN"])].head(60)
    weak = ErrorClassifierConfig(n_estimators=10, cv=2, max_features=200).estimator().fit(few, few[["category", "severity"]])
    tracker = tracker_for(tracked_settings, change_actor("alice", "engineer"))
    assert _register(tracker, weak, trained_classifier.eval_frame, "first") == 1
    assert _register(tracker, trained_classifier.estimator, trained_classifier.eval_frame, "better") == 2
    promoted = tracker.promote(NAME, score=model_spec(NAME).score, actor="alice", reason="beats v1")
    assert (promoted.from_version, promoted.to_version) == (1, 2) and promoted.change_id

    server = server_factory(tracked_settings.home)
    with server.client("service") as svc, server.client("engineer") as eng, server.client("approver") as appr:
        assert _served_version(svc) == "2"
        refused = appr.post("/v1/recovery/rollback/model", json={"model": NAME, "reason": "try"})
        assert refused.status_code == 403 and "may not do" in refused.json()["detail"]  # approvers do not implement
        assert _served_version(svc) == "2"

        rolled = eng.post("/v1/recovery/rollback/model", json={"model": NAME, "reason": "v2 misroutes pages"})
        assert rolled.status_code == 200, rolled.text
        body = rolled.json()
        details = body.get("details", body)
        assert (details["from"], details["to"], details["action"]) == (2, 1, "rollback"), body
        change = eng.get(f"/v1/changes/{details['change']}").json()
        assert change["templateId"] == "model-rollback" and change["state"] == ChangeState.CLOSED
        assert change["subject"] == f"model:{NAME}@1" and change["requester"] == "test-engineer"

        deadline, served = time.monotonic() + 30, "2"
        while served != "1" and time.monotonic() < deadline:  # the scorer polls the served copy every 2 s
            served = _served_version(svc)
            time.sleep(0.5)
        assert served == "1"
        ready = svc.get("/readyz").json()
        assert f"{NAME} v1" in str(ready)

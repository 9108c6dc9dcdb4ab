"""Glue between training and the registry: fingerprints, the Drain3 config hash, the audit adapter, and
:func:`train_and_register` (build one model, log it, register it, give it an alias).

The lifecycle itself (aliases, promotion, rollback, checksums) is :mod:`triage.modeling.tracking`.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from triage.modeling.specs import ModelSpec, TrainingInputs, held_back_frame

if TYPE_CHECKING:
    from triage.modeling.tracking import AuditSink, ModelMove, ModelTracker, ModelVersionInfo
    from triage.settings import Settings

#: Audit action names for model moves (``model.promoted`` / ``model.rolled_back`` match triage.audit).
AUDIT_ACTIONS = {
    "register": "model.registered",
    "promote": "model.promoted",
    "rollback": "model.rolled_back",
    "promotion_refused": "model.promotion_refused",
    "promotion_pending": "model.promotion_requested",
    "rollback_pending": "model.rollback_requested",
}


def default_actor() -> str:
    """The OS user running the command (who a move is recorded as, unless ``--actor`` says otherwise)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def data_fingerprint(*frames: pd.DataFrame | None) -> str:
    """sha256 over the content of the frames (column names and values, order-sensitive), 16 hex digits."""
    digest = hashlib.sha256()
    for frame in frames:
        if frame is None:
            digest.update(b"<none>")
            continue
        digest.update(json.dumps([str(c) for c in frame.columns]).encode())
        if len(frame):
            plain = frame.map(lambda v: v if isinstance(v, (str, int, float, bool)) or v is None else str(v))
            digest.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def drain3_config_hash(settings: Settings) -> str:
    """sha256 (16 hex digits) of the template parser's configuration and extra rules file, if any."""
    from triage.parsing.parser import ParserConfig

    config = ParserConfig.from_settings(settings)
    digest = hashlib.sha256(config.model_dump_json().encode())
    if config.rules_path is not None and Path(config.rules_path).is_file():
        digest.update(Path(config.rules_path).read_bytes())
    return digest.hexdigest()[:16]


def audit_sink(settings: Settings) -> AuditSink:
    """An :data:`AuditSink` that appends every model move to the audit trail in the store."""
    from triage.audit.log import AuditLog
    from triage.audit.schemas import AuditEvent
    from triage.storage.database import Database

    log = AuditLog(Database(settings.store_path))

    def record(move: ModelMove) -> None:
        log.ensure_schema()
        log.append(AuditEvent(
            actor=move.actor, action=AUDIT_ACTIONS.get(move.action, f"model.{move.action}"),
            subject_kind="model", subject_id=move.model, at=move.at,
            before={move.alias: move.from_version}, after={move.alias: move.to_version},
            reason=move.reason or None, details={"metrics": move.metrics, "action": move.action,
                                                 "change_id": move.change_id,
                                                 "evaluation_passed": move.evaluation_passed},
        ))  # fmt: skip

    return record


@dataclass(frozen=True)
class RegisteredRun:
    """One model trained and registered by :func:`train_and_register`."""

    name: str
    version: ModelVersionInfo
    metrics: dict[str, float]
    seconds: float


def train_and_register(
    spec: ModelSpec,
    inputs: TrainingInputs,
    tracker: ModelTracker,
    *,
    settings: Settings,
    actor: str,
    reason: str,
    extra_params: Mapping[str, Any] | None = None,
) -> RegisteredRun:
    """Build ``spec`` on ``inputs``, log it with its fingerprint and hashes, register it (champion if the
    model has none yet, else challenger)."""
    import time

    started = time.perf_counter()
    trained = spec.build(inputs)
    seconds = time.perf_counter() - started
    metrics = {**trained.metrics, "train_seconds": seconds}
    fingerprint = data_fingerprint(inputs.events[[c for c in ("source_id", "line_no", "template_id", "content")
                                                  if c in inputs.events.columns]],
                                   *inputs.label_tables.values(), inputs.feedback)  # fmt: skip
    info = tracker.log_trained(
        spec.name, estimator=trained.estimator, params={**trained.params, **(extra_params or {})},
        metrics=metrics, eval_frame=held_back_frame(trained), data_fingerprint=fingerprint,
        feature_view=trained.feature_view, drain3_config_hash=drain3_config_hash(settings),
        primary_metric=spec.primary_metric, greater_is_better=spec.greater_is_better, actor=actor, reason=reason,
    )  # fmt: skip
    return RegisteredRun(spec.name, info, metrics, seconds)

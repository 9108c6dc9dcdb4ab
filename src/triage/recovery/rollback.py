"""Rollback at each level, each followed by health verification and an audit record.

* **config** — interim state (miner state, rules) and ``<home>/config`` back to a snapshot.
* **store** — the DuckDB store back to a moment: the newest snapshot taken no later than ``--to``, brought
  forward by replaying the journal up to it (point-in-time recovery).
* **system** — store, models and config together from one snapshot; the snapshot's code state is compared
  with the running one and the difference reported (code is redeployed, not copied).
* **model** — the registry alias moved back to an earlier version, through a callable from the modeling
  layer (recovery does not import MLflow).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triage.recovery import journal as jr
from triage.recovery.capture import code_state
from triage.recovery.errors import RestoreRefused
from triage.recovery.executor import (
    RestoreHooks,
    RestoreReport,
    latest_with,
    open_repository,
    read_record,
    restore_snapshot,
)
from triage.recovery.health import (
    CheckLevel,
    HealthProbes,
    HealthReport,
    HealthThresholds,
    local_probes,
    verify_health,
)
from triage.recovery.manifest import Component, SnapshotManifest
from triage.recovery.records import ROLLBACK, AuditSink, RecoveryRecord, no_audit
from triage.recovery.repository import SnapshotRepository
from triage.settings import Settings


@dataclass(frozen=True, slots=True)
class RollbackResult:
    level: str
    snapshot_id: str | None
    restore: RestoreReport | None
    health: HealthReport
    details: dict[str, Any]

    @property
    def healthy(self) -> bool:
        return self.health.healthy

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "snapshot": self.snapshot_id,
            "restore": self.restore.as_dict() if self.restore else None,
            "healthy": self.healthy,
            "health": self.health.as_dict(),
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    probes: HealthProbes | None = None  # default: local_probes(store, models)
    level: CheckLevel = CheckLevel.COMPREHENSIVE
    thresholds: HealthThresholds | None = None


def _verify(settings: Settings, verification: Verification) -> HealthReport:
    probes = verification.probes or local_probes(settings.store_path, settings.models_dir)
    return verify_health(probes, verification.level, verification.thresholds)


def _pick(
    repo: SnapshotRepository, component: Component, snapshot_id: str | None, at_or_before: datetime | None
) -> SnapshotManifest:
    if snapshot_id is not None:
        manifest = repo.load_manifest(snapshot_id)
        if component not in manifest.components:
            raise RestoreRefused(f"snapshot {snapshot_id} does not hold the {component.value}")
        return manifest
    chosen = latest_with(repo.manifests(), component, at_or_before=at_or_before)
    if chosen is None:
        when = f" taken at or before {at_or_before.isoformat()}" if at_or_before else ""
        raise RestoreRefused(f"no snapshot of the {component.value}{when}")
    return chosen


def _finish(
    level: str, settings: Settings, manifest: SnapshotManifest | None, report: RestoreReport | None,
    verification: Verification, audit: AuditSink, actor: str, reason: str | None, details: dict[str, Any],
) -> RollbackResult:  # fmt: skip
    health = _verify(settings, verification)
    result = RollbackResult(level, manifest.id if manifest else None, report, health, details)
    audit(RecoveryRecord(ROLLBACK, level, manifest.id if manifest else details.get("subject", level), actor, reason,
                         after={"healthy": health.healthy}, details=result.as_dict()))  # fmt: skip
    return result


def rollback_config(
    settings: Settings,
    *,
    snapshot_id: str | None = None,
    actor: str = "triage",
    reason: str | None = None,
    audit: AuditSink = no_audit,
    verification: Verification = Verification(),
    repo: SnapshotRepository | None = None,
) -> RollbackResult:
    repo = repo or open_repository(settings, create=False)
    manifest = _pick(repo, Component.CONFIG, snapshot_id, None)
    report = restore_snapshot(
        settings, manifest.id, components=[Component.CONFIG], repo=repo, actor=actor, reason=reason
    )
    differences = _settings_differences(repo, manifest, settings)
    return _finish("config", settings, manifest, report, verification, audit, actor, reason,
                   {"settings_differences": differences})  # fmt: skip


def rollback_store(
    settings: Settings,
    *,
    to: datetime | None = None,
    snapshot_id: str | None = None,
    apply: jr.ApplyFn = jr.apply_rows,
    keep_kinds: frozenset[str] = frozenset(),
    actor: str = "triage",
    reason: str | None = None,
    audit: AuditSink = no_audit,
    verification: Verification = Verification(),
    repo: SnapshotRepository | None = None,
    hooks: RestoreHooks | None = None,
) -> RollbackResult:
    """The store as it was at ``to`` (snapshot + journal), or exactly as in a snapshot when ``to`` is None."""
    repo = repo or open_repository(settings, create=False)
    until = jr.as_utc(to) if to is not None else None
    manifest = _pick(repo, Component.STORE, snapshot_id, until)
    if until is not None and manifest.created_at > until:
        raise RestoreRefused(f"snapshot {manifest.id} was taken after {until.isoformat()}")
    report = restore_snapshot(
        settings, manifest.id, components=[Component.STORE], until=until, apply=apply,
        keep_kinds=keep_kinds, repo=repo, actor=actor, reason=reason, hooks=hooks,
    )  # fmt: skip
    return _finish("store", settings, manifest, report, verification, audit, actor, reason,
                   {"to": until.isoformat() if until else None})  # fmt: skip


def rollback_system(
    settings: Settings,
    *,
    snapshot_id: str | None = None,
    apply: jr.ApplyFn = jr.apply_rows,
    keep_kinds: frozenset[str] = frozenset(),
    actor: str = "triage",
    reason: str | None = None,
    audit: AuditSink = no_audit,
    verification: Verification = Verification(),
    repo: SnapshotRepository | None = None,
) -> RollbackResult:
    """Store, models and config from one full snapshot (the newest full one by default)."""
    repo = repo or open_repository(settings, create=False)
    if snapshot_id is None:
        full = [m for m in repo.manifests() if m.kind == "full"]
        if not full:
            raise RestoreRefused("no full snapshot to restore the system from (`triage snapshot create`)")
        manifest = max(full, key=lambda m: m.created_at)
    else:
        manifest = repo.load_manifest(snapshot_id)
    restorable = [
        c for c in (Component.STORE, Component.MODELS, Component.CONFIG) if c in manifest.components
    ]
    if not restorable:
        raise RestoreRefused(f"snapshot {manifest.id} holds nothing restorable")
    report = restore_snapshot(
        settings, manifest.id, components=restorable, apply=apply, keep_kinds=keep_kinds, repo=repo,
        actor=actor, reason=reason,
    )  # fmt: skip
    code = _code_differences(repo, manifest) if Component.CODE in manifest.components else {}
    return _finish("system", settings, manifest, report, verification, audit, actor, reason, {"code": code})


def rollback_model(
    move_alias: Callable[[str, str, str | None], dict[str, Any]],
    model_name: str,
    *,
    alias: str = "champion",
    to_version: str | None = None,
    settings: Settings,
    actor: str = "triage",
    reason: str | None = None,
    audit: AuditSink = no_audit,
    verification: Verification = Verification(),
) -> RollbackResult:
    """Move ``alias`` of ``model_name`` back (to ``to_version`` or the one before) via the modeling layer.

    ``move_alias(model_name, alias, to_version)`` does the move and returns ``{"from": v_old, "to": v_new}``.
    """
    moved = move_alias(model_name, alias, to_version)
    return _finish("model", settings, None, None, verification, audit, actor, reason,
                   {"subject": model_name, "alias": alias, **moved})  # fmt: skip


def _settings_differences(
    repo: SnapshotRepository, manifest: SnapshotManifest, settings: Settings
) -> dict[str, Any]:
    """Settings come from the environment, so a rollback can only report how they differ from the snapshot's."""
    from triage.recovery.capture import settings_record

    if manifest.file("settings/settings.json") is None:
        return {}
    then = json.loads(read_record(repo, manifest, "settings/settings.json"))
    now, _ = settings_record(settings)
    return {
        k: {"snapshot": then.get(k), "now": now.get(k)}
        for k in sorted(set(then) | set(now))
        if then.get(k) != now.get(k)
    }


def _code_differences(repo: SnapshotRepository, manifest: SnapshotManifest) -> dict[str, Any]:
    then_git = json.loads(read_record(repo, manifest, "code/git.json"))
    then_packages = json.loads(read_record(repo, manifest, "code/packages.json"))
    now_git, now_packages = code_state()
    changed = {
        name: {"snapshot": then_packages.get(name), "now": now_packages.get(name)}
        for name in sorted(set(then_packages) | set(now_packages))
        if then_packages.get(name) != now_packages.get(name)
    }
    return {
        "commit": {"snapshot": then_git.get("commit"), "now": now_git.get("commit")},
        "packages_changed": changed,
        "redeploy": bool(changed) or then_git.get("commit") != now_git.get("commit"),
    }

"""Recovery over HTTP, for engineer, approver and admin keys: snapshots (list, create, verify, restore),
rollback at each level (model, config, store, system) followed by health verification, and the
restoration orchestrator's plan for an incident (dry run, execute).

Everything that changes state is recorded in the audit trail. A restore of the store while the API
serves requests loses nothing it accepted: the swap waits for the store's exclusive lock (the API's
writer opens the store per batch, so it simply waits), and afterwards the API re-applies its journal
entries the restored file lacks. The rollback decision matrix holds for plans: CRITICAL and HIGH run by
themselves; a MEDIUM or LOW plan stops at its first acting stage until an approver executes it with
``approve: true``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from triage.access.keys import Permission, role_allows
from triage.api.operations import actor_of
from triage.api.restoration import (
    KEEP_KINDS,
    audit_sink,
    for_api,
    move_champion_back,
    plan_dict,
    store_apply,
)
from triage.api.security import ChangeApprover, RecoveryReader, RecoveryWriter
from triage.api.wire import OptionalMoment, WireModel, camel_keys

router = APIRouter(prefix="/v1/recovery", tags=["recovery"])

SnapshotId = Annotated[
    str, Path(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{6}$", description="e.g. 20260527T061500Z-3f2a9c")
]
Component = Annotated[str, Field(pattern="^(store|models|config|code)$")]
Reason = Annotated[str | None, Field(max_length=4000)]
CheckLevelName = Annotated[str, Field(pattern="^(immediate|comprehensive|extended)$")]


class SnapshotCreate(WireModel):
    components: list[Component] = Field(
        default_factory=list, max_length=4, description="Default: all (full)."
    )
    reason: Annotated[str, Field(max_length=4000)] = "taken over the API"


class Restore(WireModel):
    components: list[Component] = Field(
        default_factory=list, max_length=4, description="Default: all it holds."
    )
    to: OptionalMoment = Field(
        default=None, description="Bring the store forward to this moment by the journal."
    )
    dry_run: bool = False
    reason: Reason = None


class ModelRollback(WireModel):
    model: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Reason = None
    check: CheckLevelName = "comprehensive"


class LevelRollback(WireModel):
    snapshot: Annotated[str | None, Field(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")] = None
    reason: Reason = None
    check: CheckLevelName = "comprehensive"


class StoreRollback(LevelRollback):
    to: OptionalMoment = Field(
        default=None, description="The moment; the newest snapshot before it + journal."
    )


class Approve(WireModel):
    stages: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=list, max_length=100, description="Default: every stage that waits for approval."
    )
    comment: Reason = None


class Execute(WireModel):
    approve: bool = Field(default=False, description="Approve the stages that wait (approver or admin keys).")
    start_stage: int = Field(default=1, ge=1, le=100, description="Resume a plan at the stage that waited.")


def _out(report: dict[str, Any]) -> dict[str, Any]:
    """camelCase keys at the top (and of a nested restore report); nested data keys stay as recorded."""
    body = camel_keys(report)
    if isinstance(body.get("restore"), dict):
        body["restore"] = camel_keys(body["restore"])
    return body


def _ctx(request: Request):
    return request.app.state.runtime, request.app.state.operations


def _after_restore(request: Request) -> None:
    from triage.api.restoration import after_store_replaced

    after_store_replaced(*_ctx(request))


def _verification(request: Request, level: str):
    from triage.api.restoration import runtime_probes
    from triage.recovery.health import CheckLevel
    from triage.recovery.rollback import Verification

    runtime, ops = _ctx(request)
    return Verification(probes=runtime_probes(runtime, ops.settings), level=CheckLevel(level))


# -- snapshots ---------------------------------------------------------------------------------------------
@router.get("/snapshots", summary="Snapshots, oldest first")
async def list_snapshots(request: Request, key: RecoveryReader) -> list[dict[str, Any]]:
    from triage.recovery.executor import open_repository

    _, ops = _ctx(request)
    if not (ops.settings.snapshots_dir / "repo.json").exists():
        return []
    manifests = await run_in_threadpool(lambda: open_repository(ops.settings, create=False).manifests())
    return [_out(m.summary()) for m in manifests]


@router.post("/snapshots", status_code=201, summary="Take a snapshot (all components by default)")
async def create_snapshot(request: Request, body: SnapshotCreate, key: RecoveryWriter) -> dict[str, Any]:
    from triage.recovery.executor import create_snapshot as take

    runtime, ops = _ctx(request)

    def run() -> dict[str, Any]:
        runtime.writer.drain(10.0)  # what was accepted so far is in the store the snapshot reads
        return take(ops.settings, components=body.components or None, reason=body.reason, creator=key.name,
                    audit=audit_sink(ops.settings)).as_dict()  # fmt: skip

    return _out(await run_in_threadpool(run))


@router.get("/snapshots/{snapshot_id}", summary="One snapshot's manifest summary")
async def get_snapshot(request: Request, snapshot_id: SnapshotId, key: RecoveryReader) -> dict[str, Any]:
    from triage.recovery.executor import open_repository

    _, ops = _ctx(request)
    manifest = await run_in_threadpool(
        lambda: open_repository(ops.settings, create=False).load_manifest(snapshot_id)
    )
    return {**_out(manifest.summary()), "metadata": manifest.metadata}


@router.get("/snapshots/{snapshot_id}/verify", summary="Re-hash every file; names the first bad one")
async def verify_snapshot(request: Request, snapshot_id: SnapshotId, key: RecoveryReader) -> dict[str, Any]:
    from triage.recovery.executor import open_repository, verify_snapshot

    _, ops = _ctx(request)
    report = await run_in_threadpool(
        lambda: verify_snapshot(open_repository(ops.settings, create=False), snapshot_id)
    )
    return _out(report.as_dict())


@router.post("/snapshots/{snapshot_id}/restore", summary="Restore a snapshot (build beside, verify, swap)")
async def restore(
    request: Request,
    snapshot_id: SnapshotId,
    key: RecoveryWriter,
    body: Annotated[Restore | None, Body()] = None,
) -> dict[str, Any]:
    from triage.recovery.capture import layout_of
    from triage.recovery.executor import normalise_components, open_repository, restore_snapshot
    from triage.recovery.planner import plan_restore

    _, ops = _ctx(request)
    body = body or Restore()
    wanted = normalise_components(body.components) if body.components else None

    def run() -> dict[str, Any]:
        repo = open_repository(ops.settings, create=False)
        manifest = repo.load_manifest(snapshot_id)
        plan = plan_restore(manifest, wanted, layout_of(ops.settings), token="plan", until=body.to)
        if body.dry_run:
            return {"dryRun": True, "plan": plan.describe()}
        try:
            report = restore_snapshot(ops.settings, snapshot_id, components=wanted, until=body.to, apply=store_apply(),
                                      keep_kinds=KEEP_KINDS, repo=repo, actor=key.name, reason=body.reason,
                                      audit=audit_sink(ops.settings))  # fmt: skip
        finally:
            _after_restore(request)
        return {"dryRun": False, "plan": plan.describe(), **_out(report.as_dict())}

    return await run_in_threadpool(run)


# -- rollback ----------------------------------------------------------------------------------------------
@router.post(
    "/rollback/model", summary="Move a model's champion back to the previous one, then verify health"
)
async def rollback_model(request: Request, body: ModelRollback, key: RecoveryWriter) -> dict[str, Any]:
    from triage.modeling.registry import model_spec
    from triage.recovery.rollback import rollback_model as roll

    _, ops = _ctx(request)
    reason = body.reason or "rolled back over the API"
    move = move_champion_back(ops.settings, actor=key.name, reason=reason, changes=ops.changes,
                              role=key.role.value)  # a model-rollback change request, carried out at once

    def run():
        model_spec(body.model)  # an unknown name is refused before the registry is opened
        return roll(move, body.model, settings=ops.settings, actor=key.name, reason=reason,
                    audit=audit_sink(ops.settings), verification=_verification(request, body.check))  # fmt: skip

    return _out((await run_in_threadpool(run)).as_dict())


@router.post("/rollback/config", summary="Configuration and parser state back to a snapshot")
async def rollback_config(request: Request, body: LevelRollback, key: RecoveryWriter) -> dict[str, Any]:
    from triage.recovery.rollback import rollback_config as roll

    _, ops = _ctx(request)
    result = await run_in_threadpool(
        lambda: roll(ops.settings, snapshot_id=body.snapshot, actor=key.name, reason=body.reason,
                     audit=audit_sink(ops.settings), verification=_verification(request, body.check))
    )  # fmt: skip
    return _out(result.as_dict())


@router.post("/rollback/store", summary="The store as it was at a moment (snapshot + journal)")
async def rollback_store(request: Request, body: StoreRollback, key: RecoveryWriter) -> dict[str, Any]:
    from triage.errors import InvalidInput
    from triage.recovery.rollback import rollback_store as roll

    _, ops = _ctx(request)
    if body.to is None and body.snapshot is None:
        raise InvalidInput("say where to: 'to' (a moment) and/or 'snapshot'")

    def run():
        try:
            return roll(ops.settings, to=body.to, snapshot_id=body.snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                        actor=key.name, reason=body.reason, audit=audit_sink(ops.settings),
                        verification=_verification(request, body.check))  # fmt: skip
        finally:
            _after_restore(request)

    return _out((await run_in_threadpool(run)).as_dict())


@router.post("/rollback/system", summary="Store, models and config from one full snapshot")
async def rollback_system(request: Request, body: LevelRollback, key: RecoveryWriter) -> dict[str, Any]:
    from triage.recovery.rollback import rollback_system as roll

    _, ops = _ctx(request)

    def run():
        try:
            return roll(ops.settings, snapshot_id=body.snapshot, apply=store_apply(), keep_kinds=KEEP_KINDS,
                        actor=key.name, reason=body.reason, audit=audit_sink(ops.settings),
                        verification=_verification(request, body.check))  # fmt: skip
        finally:
            _after_restore(request)

    return _out((await run_in_threadpool(run)).as_dict())


# -- the restoration orchestrator --------------------------------------------------------------------------
@router.get("/plans/{incident_id}", summary="Dry run: the restoration plan for an incident and its input")
async def plan(
    request: Request, incident_id: Annotated[str, Path(max_length=200)], key: RecoveryReader
) -> dict[str, Any]:
    runtime, ops = _ctx(request)
    restoration = for_api(runtime, ops, actor_of(key))

    def run() -> dict[str, Any]:
        runtime.writer.drain(5.0)
        given, planned = restoration.plan(incident_id)
        return {"input": given.as_dict(), "plan": plan_dict(planned)}

    return await run_in_threadpool(run)


@router.post("/plans/{incident_id}/execute", summary="Run the plan until healthy; every step is audited")
async def execute(
    request: Request,
    incident_id: Annotated[str, Path(max_length=200)],
    key: RecoveryWriter,
    body: Annotated[Execute | None, Body()] = None,
) -> dict[str, Any]:
    body = body or Execute()
    if body.approve and not role_allows(key.role, Permission.CHANGES_APPROVE):
        raise HTTPException(403, f"role '{key.role.value}' may not approve recovery stages")
    runtime, ops = _ctx(request)
    restoration = for_api(runtime, ops, actor_of(key))

    def run() -> dict[str, Any]:
        runtime.writer.drain(5.0)
        given, planned = restoration.plan(incident_id)
        outcome = restoration.execute(planned, approve=body.approve, start_stage=body.start_stage)
        return {"input": given.as_dict(), "plan": plan_dict(planned), "outcome": _out(outcome.as_dict())}

    return await run_in_threadpool(run)


@router.post(
    "/plans/{incident_id}/approve", summary="Approve the stages of a MEDIUM/LOW plan (approver, admin)"
)
async def approve(
    request: Request,
    incident_id: Annotated[str, Path(max_length=200)],
    key: ChangeApprover,
    body: Annotated[Approve | None, Body()] = None,
) -> dict[str, Any]:
    body = body or Approve()
    runtime, ops = _ctx(request)
    restoration = for_api(runtime, ops, actor_of(key))

    def run() -> dict[str, Any]:
        runtime.writer.drain(5.0)
        _, planned = restoration.plan(incident_id)
        chosen = restoration.approve(planned, stages=body.stages, comment=body.comment)
        return {"plan": plan_dict(planned), "approvedStages": chosen, "approvedBy": key.name}

    return await run_in_threadpool(run)

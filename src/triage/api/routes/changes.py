"""Change requests over HTTP: create, list, read, and every step of the workflow.

The acting person is the API key: ``Actor(user=key name, role=key role)``. Role checks at the edge come
from the key's permissions (read: analyst and up; write: engineer, approver, admin); approving and
rejecting are then decided by the approval *authorities* of the change configuration, which name roles
and users (by default the on-call engineer is any engineer, the technical lead any approver, the CTO and
the compliance officer admins), so an engineer can give an emergency change its on-call approval but not
a normal change its technical-lead approval. Refusals map to problem bodies: an invalid move, missing
approvals or a schedule clash → 409, self-approval or a missing authority → 403, bad input → 422.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, model_validator

from triage.api.operations import Operations, actor_of
from triage.api.security import ChangeReader, ChangeWriter
from triage.api.wire import Moment, WireModel, wire
from triage.changes import workflow
from triage.changes.catalogue import templates
from triage.changes.emergency import deadline_status
from triage.changes.schemas import (
    Authority,
    ChangeRequest,
    ChangeState,
    ChangeType,
    CloseCode,
    ImpactInput,
    RollbackComplexity,
    ScheduleWindow,
    UserImpact,
)

router = APIRouter(prefix="/v1/changes", tags=["changes"])

ChangeId = Annotated[str, Path(pattern=r"^CHG-\d{6,}$", description="e.g. CHG-000012")]
Text = Annotated[str, Field(max_length=20_000)]
Reason = Annotated[str, Field(min_length=1, max_length=4000)]


class Window(WireModel):
    start: Moment
    end: Moment

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("a schedule window must end after it starts")
        return self

    def domain(self) -> ScheduleWindow:
        return ScheduleWindow(start=self.start, end=self.end)


class Impact(WireModel):
    """What the requester states about the change; the impact analysis scores it."""

    rollback_complexity: RollbackComplexity = RollbackComplexity.SIMPLE
    estimated_downtime_minutes: float = Field(default=0.0, ge=0, le=7 * 24 * 60)
    user_impact: UserImpact = UserImpact.NONE
    phi: bool = False
    data_loss_risk: bool = False
    security_risk: bool = False

    def domain(self) -> ImpactInput:
        return ImpactInput(**self.fields())


class ChangeCreate(WireModel):
    type: ChangeType
    title: Annotated[str, Field(min_length=1, max_length=300)]
    services: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]], Field(min_length=1, max_length=100)
    ]
    description: Text = ""
    justification: Text = ""
    implementation_plan: Text = ""
    rollback_procedure: Text = ""
    validation_plan: Text = ""
    window: Window | None = None
    impact: Impact | None = None
    template_id: Annotated[str | None, Field(max_length=100)] = None
    incident_id: Annotated[str | None, Field(max_length=200)] = None
    subject: Annotated[str | None, Field(max_length=200)] = None


class Assess(WireModel):
    impact: Impact | None = None


class Approve(WireModel):
    authority: Authority | None = Field(
        default=None, description="Default: the first one you hold that is missing."
    )
    comment: Annotated[str | None, Field(max_length=4000)] = None


class WithReason(WireModel):
    reason: Reason


class RollbackBody(WithReason):
    revert: bool = Field(
        default=False,
        description="Also undo the change's effect: move a model's champion back, or restore the models/config "
        "from the snapshot taken before it (the store is never restored as a side effect).",
    )


class Schedule(WireModel):
    start: Moment
    end: Moment
    reason: Annotated[str | None, Field(max_length=4000)] = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        if self.end <= self.start:
            raise ValueError("a schedule window must end after it starts")
        return self


class Implement(WireModel):
    snapshot: list[Annotated[str, Field(pattern="^(store|models|config|code)$")]] = Field(
        default_factory=list, max_length=4, description="Components to snapshot before implementing."
    )


class Review(WireModel):
    validation: bool | None = Field(default=None, description="Did the validation plan pass?")
    notes: Annotated[str | None, Field(max_length=4000)] = None


class Close(WireModel):
    notes: Annotated[str | None, Field(max_length=4000)] = None
    code: CloseCode | None = None


def _ops(request: Request) -> Operations:
    return request.app.state.operations


def present(ops: Operations, cr: ChangeRequest) -> dict[str, Any]:
    """The change with what a reader needs next: deadlines, allowed moves, approvals still missing."""
    config = ops.changes.config
    body = wire(cr)
    body["deadlines"] = wire(deadline_status(cr, config.deadlines, datetime.now(UTC)))
    body["nextStates"] = sorted(str(s) for s in workflow.allowed_moves(cr))
    body["requiredApprovals"] = [str(a) for a in workflow.required_authorities(cr, config)]
    body["missingApprovals"] = [str(a) for a in workflow.missing_authorities(cr, config)]
    return body


async def _run(request: Request, call, **kwargs: Any) -> dict[str, Any]:
    ops = _ops(request)
    cr = await run_in_threadpool(lambda: call(**kwargs))
    return present(ops, cr)


@router.post("", status_code=201, summary="Request a change (standard, normal or emergency)")
async def create(request: Request, body: ChangeCreate, key: ChangeWriter) -> dict[str, Any]:
    actor = actor_of(key)
    fields = body.fields()
    fields["window"] = body.window.domain() if body.window else None
    fields["impact"] = body.impact.domain() if body.impact else None
    return await _run(request, _ops(request).changes.create, requester=actor.user, actor=actor, **fields)


@router.get("", summary="Changes, by id")
async def list_changes(
    request: Request,
    key: ChangeReader,
    state: ChangeState | None = None,
    type: ChangeType | None = None,
    service: Annotated[str | None, Query(max_length=128)] = None,
    incident: Annotated[str | None, Query(max_length=200)] = None,
    open_only: Annotated[
        bool, Query(alias="open", description="only changes not closed, canceled or rejected")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    ops = _ops(request)
    found = await run_in_threadpool(
        lambda: ops.changes.list(state=state, type=type, service=service, incident_id=incident, open_only=open_only,
                                 limit=limit)
    )  # fmt: skip
    return [present(ops, cr) for cr in found]


@router.get("/catalogue", summary="Standard-change templates (pre-approved)")
async def catalogue(request: Request, key: ChangeReader) -> list[dict[str, Any]]:
    return [wire(t) for t in templates(_ops(request).changes.config).values()]


@router.get("/{change_id}", summary="One change: state, risk factors, approvals, deadlines, next moves")
async def get_change(request: Request, change_id: ChangeId, key: ChangeReader) -> dict[str, Any]:
    return await _run(request, _ops(request).changes.get, change_id=change_id)


@router.post("/{change_id}/assess", summary="Impact analysis: risk score 1-10 with its factors")
async def assess(
    request: Request, change_id: ChangeId, key: ChangeWriter, body: Annotated[Assess | None, Body()] = None
) -> dict[str, Any]:
    impact = body.impact.domain() if body and body.impact else None
    return await _run(
        request, _ops(request).changes.assess, change_id=change_id, actor=actor_of(key), impact=impact
    )


@router.post("/{change_id}/submit", summary="Send an assessed normal change to approval")
async def submit(request: Request, change_id: ChangeId, key: ChangeWriter) -> dict[str, Any]:
    return await _run(request, _ops(request).changes.submit, change_id=change_id, actor=actor_of(key))


@router.post("/{change_id}/approve", summary="Approve as one authority (never your own change)")
async def approve(
    request: Request, change_id: ChangeId, key: ChangeWriter, body: Annotated[Approve | None, Body()] = None
) -> dict[str, Any]:
    body = body or Approve()
    return await _run(request, _ops(request).changes.approve, change_id=change_id, actor=actor_of(key),
                      authority=body.authority, comment=body.comment)  # fmt: skip


@router.post("/{change_id}/reject", summary="Reject a change waiting for approval")
async def reject(
    request: Request, change_id: ChangeId, body: WithReason, key: ChangeWriter
) -> dict[str, Any]:
    return await _run(request, _ops(request).changes.reject, change_id=change_id, actor=actor_of(key),
                      reason=body.reason)  # fmt: skip


@router.post("/{change_id}/schedule", summary="Set or move the window (refused on a clash or a blackout)")
async def schedule(
    request: Request, change_id: ChangeId, body: Schedule, key: ChangeWriter
) -> dict[str, Any]:
    window = ScheduleWindow(start=body.start, end=body.end)
    return await _run(request, _ops(request).changes.schedule, change_id=change_id, actor=actor_of(key),
                      window=window, reason=body.reason)  # fmt: skip


@router.post("/{change_id}/implement", summary="Start implementation (optionally after a snapshot)")
async def implement(
    request: Request, change_id: ChangeId, key: ChangeWriter, body: Annotated[Implement | None, Body()] = None
) -> dict[str, Any]:
    ops = _ops(request)
    components = body.snapshot if body else []
    snapshot = None
    if components:
        from triage.api.restoration import audit_sink
        from triage.recovery.executor import create_snapshot

        def snapshot(cr: ChangeRequest) -> str:
            result = create_snapshot(ops.settings, components=components, reason=f"before change {cr.id}",
                                     creator=key.name, audit=audit_sink(ops.settings))  # fmt: skip
            return result.manifest.id

    service = ops.change_service(snapshot=snapshot)
    return await _run(request, service.implement, change_id=change_id, actor=actor_of(key))


@router.post("/{change_id}/review", summary="Implementation done, and/or the validation result")
async def review(
    request: Request, change_id: ChangeId, key: ChangeWriter, body: Annotated[Review | None, Body()] = None
) -> dict[str, Any]:
    body = body or Review()
    return await _run(request, _ops(request).changes.review, change_id=change_id, actor=actor_of(key),
                      validation=body.validation, notes=body.notes)  # fmt: skip


@router.post(
    "/{change_id}/close", summary="Close a reviewed change (an emergency needs its post-incident review)"
)
async def close(
    request: Request, change_id: ChangeId, key: ChangeWriter, body: Annotated[Close | None, Body()] = None
) -> dict[str, Any]:
    body = body or Close()
    return await _run(request, _ops(request).changes.close, change_id=change_id, actor=actor_of(key),
                      notes=body.notes, code=body.code)  # fmt: skip


@router.post("/{change_id}/cancel", summary="Cancel a change that has not been implemented")
async def cancel(
    request: Request, change_id: ChangeId, body: WithReason, key: ChangeWriter
) -> dict[str, Any]:
    return await _run(request, _ops(request).changes.cancel, change_id=change_id, actor=actor_of(key),
                      reason=body.reason)  # fmt: skip


@router.post("/{change_id}/rollback", summary="Roll an implemented change back and record why")
async def rollback(
    request: Request, change_id: ChangeId, body: RollbackBody, key: ChangeWriter
) -> dict[str, Any]:
    ops = _ops(request)
    revert = None
    if body.revert:
        from triage.api.restoration import for_api

        revert = for_api(request.app.state.runtime, ops, actor_of(key)).revert
    service = ops.change_service(revert=revert)
    return await _run(request, service.rollback, change_id=change_id, actor=actor_of(key), reason=body.reason)

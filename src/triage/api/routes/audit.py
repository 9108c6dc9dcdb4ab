"""The audit trail over HTTP, for auditors (analyst, approver and admin keys): entries with filters, the
chain head, verification naming the first bad entry, and exports in CSV or JSON."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from triage.api.security import AuditReader
from triage.api.wire import OptionalMoment, camel_keys
from triage.audit.log import AuditLog
from triage.audit.schemas import ChainHead

router = APIRouter(prefix="/v1/audit", tags=["audit"])

Name = Annotated[str | None, Query(min_length=1, max_length=200)]
Action = Annotated[
    str | None, Query(min_length=1, max_length=100, description="exact, or a prefix ending in *")
]


def _log(request: Request) -> AuditLog:
    return request.app.state.operations.audit


def _filters(subject_kind, subject_id, action, actor, since, until) -> dict[str, Any]:
    return {"subject_kind": subject_kind, "subject_id": subject_id, "action": action, "actor": actor,
            "since": since, "until": until}  # fmt: skip


@router.get("", summary="Audit entries in chain order, filtered")
async def entries(
    request: Request,
    key: AuditReader,
    subject_kind: Annotated[str | None, Query(alias="subjectKind", min_length=1, max_length=50)] = None,
    subject_id: Annotated[str | None, Query(alias="subjectId", min_length=1, max_length=200)] = None,
    action: Action = None,
    actor: Name = None,
    since: OptionalMoment = None,
    until: OptionalMoment = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    log = _log(request)
    found = await run_in_threadpool(
        log.entries, **_filters(subject_kind, subject_id, action, actor, since, until), limit=limit
    )
    return {"entries": [camel_keys(e.flat()) for e in found], "count": len(found)}


@router.get("/head", summary="The chain head (SEQ:HASH): keep it outside triage as an anchor")
async def head(request: Request, key: AuditReader) -> dict[str, Any]:
    found = await run_in_threadpool(_log(request).head)
    return {"seq": found.seq, "hash": found.hash, "anchor": str(found)} if found else {"seq": 0, "hash": None}


@router.get(
    "/verify", summary="Verify the hash chain; names the first entry edited, deleted, inserted or moved"
)
async def verify(
    request: Request,
    key: AuditReader,
    anchor: Annotated[list[str] | None, Query(max_length=100, description="SEQ:HASH taken earlier")] = None,
) -> dict[str, Any]:
    anchors = [ChainHead.parse(a) for a in anchor or ()]
    report = await run_in_threadpool(lambda: _log(request).verify(anchors=anchors))
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head": str(report.head) if report.head else None,
        "firstBadSeq": report.first_bad_seq,
        "problem": report.problem,
        "summary": report.summary(),
    }


@router.get(
    "/export",
    summary="Export entries with their hashes (CSV or JSON) for auditors",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export(
    request: Request,
    key: AuditReader,
    format: Annotated[Literal["csv", "json"], Query()] = "json",
    subject_kind: Annotated[str | None, Query(alias="subjectKind", min_length=1, max_length=50)] = None,
    subject_id: Annotated[str | None, Query(alias="subjectId", min_length=1, max_length=200)] = None,
    action: Action = None,
    actor: Name = None,
    since: OptionalMoment = None,
    until: OptionalMoment = None,
) -> Response:
    out = io.StringIO()
    filters = _filters(subject_kind, subject_id, action, actor, since, until)
    await run_in_threadpool(lambda: _log(request).export(out, fmt=format, **filters))
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(out.getvalue(), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="audit.{format}"'})  # fmt: skip

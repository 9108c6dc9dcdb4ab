"""The wiring recovery needs from the layers above it, shared by the API and the CLI (``triage snapshot``,
``triage rollback``, ``triage recover``): this is the one copy of :func:`store_apply`, :func:`audit_sink` and
``KEEP_KINDS`` (they need both recovery and audit, sibling layers that may not import each other, and the
API may not import the CLI, so they live here, where both callers can import them).

Recovery (a foundation layer) plans and executes; what it cannot know is injected here: where its audit
records go, how journal entries are re-applied to the store, how triage's health is probed, how a change
is reverted, and what the orchestrator's input is for a stored incident (its latest diagnosis, the changes
applied shortly before it, and the last full snapshot taken before it).

Honest limits, stated where they matter: a known or suggested *fix* (restart a service, fail over a
database) is carried out by people, so the fix stage reports that and the tree moves on; health
verification measures triage itself (API readiness, store, model store), not the services it watches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from triage.errors import InvalidInput, TriageError
from triage.recovery.records import KEEP_KINDS, ROLLBACK, AuditSink, RecoveryRecord

if TYPE_CHECKING:
    from triage.alerting.service import AlertService
    from triage.api.operations import Operations
    from triage.api.runtime import Runtime
    from triage.changes.schemas import Actor, ChangeRequest
    from triage.changes.service import ChangeService
    from triage.incidents.store import IncidentStore
    from triage.recovery.health import CheckLevel, HealthProbes, HealthReport
    from triage.recovery.journal import ApplyFn, JournalEntry
    from triage.recovery.orchestrator import RecoveryOutcome, RecoveryPlan
    from triage.settings import Settings
    from triage.storage.database import Session

#: How far before an incident a change counts as "recent" for progressive rollback.
RECENT_CHANGES = timedelta(hours=24)
#: How long a recorded approval of recovery stages stays valid.
APPROVAL_VALID = timedelta(hours=4)
APPROVED = "recovery.approved"
_APPLIED = ("implement", "review", "closed")


class ManualFix(TriageError):
    """A fix that triage cannot carry out itself (it restarts nothing, fails nothing over)."""


# -- audit and journal --------------------------------------------------------------------------------------
def _apply_audit(session: Session, entries: Sequence[JournalEntry]) -> None:
    from triage.audit.log import MIGRATIONS, append_events
    from triage.audit.schemas import AuditEvent

    if not session.table_exists("audit_head"):
        for migration in MIGRATIONS:  # CREATE … IF NOT EXISTS: safe inside the replay's transaction
            for statement in migration.sql.split(";"):
                lines = [line for line in statement.strip().splitlines() if not line.strip().startswith("--")]
                if lines:
                    session.execute(statement)
    append_events(session, [AuditEvent.model_validate(e.payload) for e in entries])


def store_apply() -> ApplyFn:
    """Re-apply journal entries in order: ``rows`` to their table, ``audit`` to the audit trail."""
    from triage.recovery.journal import apply_rows

    appliers = {"rows": apply_rows, "audit": _apply_audit}

    def apply(session: Session, entries: Sequence[JournalEntry]) -> None:
        run: list[JournalEntry] = []
        for entry in [*entries, None]:
            if run and (entry is None or entry.kind != run[0].kind):
                fn = appliers.get(run[0].kind)
                if fn is None:
                    raise InvalidInput(
                        f"journal entry {run[0].seq} has kind {run[0].kind!r}, which nothing applies"
                    )
                fn(session, run)
                run = []
            if entry is not None:
                run.append(entry)

    return apply


def audit_sink(settings: Settings) -> AuditSink:
    """Recovery records → the hash-chained audit trail, written through the journal so that a later store
    rollback keeps them (:data:`KEEP_KINDS`)."""

    def sink(record: RecoveryRecord) -> None:
        from triage.audit.log import MIGRATIONS
        from triage.audit.schemas import AuditEvent
        from triage.recovery.journal import Journal, JournaledStore
        from triage.storage.database import Database

        event = AuditEvent(
            actor=record.actor, action=record.action, subject_kind=record.subject_kind,
            subject_id=record.subject_id, at=record.at, before=record.before, after=record.after,
            reason=record.reason, details=record.details,
        )  # fmt: skip
        db = Database(settings.store_path)
        db.migrate(MIGRATIONS)
        JournaledStore(db, Journal(settings.journal_dir), store_apply()).submit(
            [("audit", event.model_dump(mode="json"))]
        )

    return sink


def catch_up(runtime: Runtime) -> int:
    """Re-apply what the API accepted (its journal) that the store lacks, e.g. after a store restore.

    Accepted events are never lost: a restore rewinds ingested and derived state, the API's accepted
    diagnoses come back from its journal (the writer fills such gaps too, see ``Runtime._persist``)."""
    from triage.api.runtime import JOURNAL_STREAM
    from triage.incidents.store import apply_diagnosis_entries
    from triage.recovery.journal import replay_into, store_position

    if runtime.journal is None or runtime.writer is None:
        return 0
    runtime.writer.drain(10.0)  # what is queued goes in first (the writer refills a gap itself)
    with runtime.db.read() as session:
        position = store_position(session, JOURNAL_STREAM)
    report = replay_into(runtime.db, runtime.journal.read(after_seq=position),
                         lambda session, entries: apply_diagnosis_entries(runtime.incidents, session, entries),
                         stream=JOURNAL_STREAM)  # fmt: skip
    return report.applied


# -- health ------------------------------------------------------------------------------------------------
def runtime_probes(runtime: Runtime, settings: Settings) -> HealthProbes:
    """Inside the API: its readiness checks (store, writer, operations, …) as the critical endpoint,
    plus the store and MLflow's SQLite store."""
    from triage.recovery.health import HealthProbes, ProbeResult, sqlite_probe, store_probe

    def ready() -> ProbeResult:
        failing = [f"{r.name}: {r.detail}" for r in runtime.readiness() if not r.ok]
        return ProbeResult(not failing, detail="; ".join(failing))

    return HealthProbes(api=(ready,), store=store_probe(settings.store_path),
                        integrity=(sqlite_probe(settings.models_dir / "mlflow.db"),))  # fmt: skip


def http_probes(base_url: str, settings: Settings) -> HealthProbes:
    """From outside (the CLI): a running API's ``/readyz``, plus the local store and model store."""
    from triage.recovery.health import HealthProbes, ProbeResult, sqlite_probe, store_probe

    def ready() -> ProbeResult:
        import httpx

        try:
            response = httpx.get(base_url.rstrip("/") + "/readyz", timeout=5)
        except httpx.HTTPError as exc:
            return ProbeResult(False, detail=f"{base_url}: {type(exc).__name__}")
        return ProbeResult(response.status_code == 200, detail=f"/readyz answered {response.status_code}")

    return HealthProbes(api=(ready,), store=store_probe(settings.store_path),
                        integrity=(sqlite_probe(settings.models_dir / "mlflow.db"),))  # fmt: skip


# -- the orchestrator's input ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanInput:
    """What the orchestrator is told about an incident, and where each part came from."""

    incident_id: str
    diagnosis: Any  # triage.recovery.orchestrator.DiagnosisSummary
    changes: tuple[Any, ...]  # RecentChange, newest last
    last_good: Any | None  # LastGoodSnapshot
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = self.diagnosis
        return {
            "incidentId": self.incident_id,
            "diagnosis": {"severity": d.severity.value, "category": d.category, "knownIssue": d.known_issue,
                          "targetedFix": d.targeted_fix, "confidence": d.confidence, "suggestedFix": d.suggested_fix},
            "recentChanges": [{"changeId": c.change_id, "kind": c.kind, "appliedAt": c.applied_at.isoformat(),
                               "description": c.description} for c in self.changes],
            "lastGoodSnapshot": None if self.last_good is None else {
                "id": self.last_good.snapshot_id, "createdAt": self.last_good.created_at.isoformat()},
            "notes": list(self.notes),
        }  # fmt: skip


def plan_dict(plan: RecoveryPlan) -> dict[str, Any]:
    return {
        "incidentId": plan.incident_id,
        "branch": plan.branch,
        "automatic": plan.automatic,
        "validationLevel": plan.validation_level.value,
        "monitorLevel": plan.monitor_level.value,
        "stages": [
            {
                "stage": i,
                "kind": s.kind,
                "target": s.target,
                "description": s.description,
                "needsApproval": s.needs_approval,
            }
            for i, s in enumerate(plan.stages, 1)
        ],
        "describe": plan.describe(),
    }


def applied_at(change: ChangeRequest) -> datetime | None:
    """When a change took effect: its implementation milestone, or its last update while implementing."""
    from triage.changes.schemas import ChangeState, Milestone

    met = change.milestones.get(Milestone.IMPLEMENTATION)
    if met is not None:
        return met
    return change.updated_at if change.state is ChangeState.IMPLEMENT else None


@dataclass
class Restoration:
    """The orchestrator for one home: builds its input from the store and carries its stages out."""

    settings: Settings
    incidents: IncidentStore
    changes: ChangeService
    alerts: AlertService
    actor: Actor
    probes: HealthProbes
    #: Called after anything replaced the store (the API re-applies its journal and rebuilds services).
    after_restore: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- input
    def plan_input(self, incident_id: str, *, lookback: timedelta = RECENT_CHANGES) -> PlanInput:
        from triage.recovery.orchestrator import DiagnosisSummary, LastGoodSnapshot, RecentChange, Severity

        detail = self.incidents.get(incident_id)
        if not detail.diagnoses:
            raise InvalidInput(f"incident {incident_id} has no diagnosis to plan from")
        latest = detail.diagnoses[-1]
        fixes = latest.get("suggestedFixes") or []
        first_fix = (fixes[0].get("fixId") or fixes[0].get("action")) if fixes else None
        known = (latest.get("evidence") or {}).get("knownPattern")
        diagnosis = DiagnosisSummary(
            incident_id=incident_id,
            severity=Severity(detail.severity.value.lower()),
            category=detail.category,
            known_issue=known,
            targeted_fix=first_fix if known else None,
            confidence=float((latest.get("rootCause") or {}).get("confidence") or 0.0),
            suggested_fix=first_fix,
        )
        since = detail.first_seen - lookback
        graph = self.changes.config.graph()
        recent = []
        for change in self.changes.list(limit=5000):
            when = applied_at(change)
            if (str(change.state) in _APPLIED and change.rollback_reason is None and when is not None
                    and when >= since and graph.related(change.services, detail.services)):  # fmt: skip
                kind = change.subject.split(":", 1)[0] if change.subject else str(change.type)
                recent.append(RecentChange(change.id, kind, when, change.title))
        notes = []
        last_good = None
        own = set(self.settings.restore_services) & set(detail.services)
        try:
            manifests = self._repository().manifests() if own else []
        except TriageError as exc:  # no key, no repository: plan without the last resort, say why
            manifests = []
            notes.append(f"no full restore stage: {exc}")
        if not own:
            notes.append(
                f"no full restore stage: triage's snapshots hold {', '.join(self.settings.restore_services)}, "
                f"not {', '.join(detail.services)} (TRIAGE_RESTORE_SERVICES)"
            )
        full = [m for m in manifests if m.kind == "full" and m.created_at <= detail.first_seen]
        if full:
            best = max(full, key=lambda m: m.created_at)
            last_good = LastGoodSnapshot(best.id, best.created_at)
        elif manifests:
            notes.append(
                f"no full snapshot taken before the incident began ({detail.first_seen.isoformat()})"
            )
        return PlanInput(incident_id, diagnosis, tuple(sorted(recent, key=lambda c: c.applied_at)), last_good,
                         tuple(notes))  # fmt: skip

    def plan(self, incident_id: str) -> tuple[PlanInput, RecoveryPlan]:
        from triage.recovery.orchestrator import plan_recovery

        given = self.plan_input(incident_id)
        return given, plan_recovery(given.diagnosis, given.changes, given.last_good)

    # ---------------------------------------------------------------- execution
    def approve(
        self, plan: RecoveryPlan, *, stages: Sequence[int] = (), comment: str | None = None
    ) -> list[int]:
        """Record an approval of acting stages (all that need one by default) in the audit trail; a later
        ``execute`` by anyone runs them. The caller checked that the actor may approve."""
        waiting = [i for i, s in enumerate(plan.stages, 1) if s.needs_approval]
        chosen = list(stages) or waiting
        wrong = [i for i in chosen if i not in waiting]
        if wrong:
            raise InvalidInput(
                f"stage(s) {', '.join(map(str, wrong))} need no approval; waiting: {waiting or 'none'}"
            )
        audit_sink(self.settings)(RecoveryRecord(
            APPROVED, "incident", plan.incident_id, self.actor.user, comment,
            details={"stages": [{"stage": i, "kind": plan.stages[i - 1].kind, "target": plan.stages[i - 1].target}
                                for i in chosen], "role": str(self.actor.role)},
        ))  # fmt: skip
        return chosen

    def approvals(self, incident_id: str, *, within: timedelta = APPROVAL_VALID) -> set[tuple[str, str]]:
        """The (kind, target) of stages approved for this incident recently (from the audit trail)."""
        from triage.audit.log import AuditLog

        since = datetime.now(UTC) - within
        found = AuditLog(self.changes.db).entries(subject_kind="incident", subject_id=incident_id, action=APPROVED,
                                                  since=since)  # fmt: skip
        return {(s["kind"], s["target"]) for e in found for s in e.event.details.get("stages", ())}

    def execute(self, plan: RecoveryPlan, *, approve: bool = False, start_stage: int = 1) -> RecoveryOutcome:
        """Run the plan. A stage that needs approval runs when it was approved (:meth:`approve`) or when
        ``approve`` is given (by an actor the caller checked may approve)."""
        from triage.recovery.orchestrator import StepRunners, execute_recovery

        if not 1 <= start_stage <= len(plan.stages):
            raise InvalidInput(f"start stage must be 1..{len(plan.stages)}")
        approved = self.approvals(plan.incident_id) if not plan.automatic else set()
        runners = StepRunners(
            apply_fix=self._apply_fix,
            rollback_change=lambda change: self.rollback_change(change.change_id, reason=f"progressive rollback for {plan.incident_id}"),
            full_restore=self.full_restore,
            health=self.health,
            escalate=self.escalate,
            approve=lambda stage: approve or (stage.kind, stage.target) in approved,
        )  # fmt: skip
        return execute_recovery(plan, runners, actor=self.actor.user, audit=audit_sink(self.settings),
                                start_stage=start_stage)  # fmt: skip

    def _apply_fix(self, fix: str) -> None:
        raise ManualFix(f"fix {fix!r} is carried out by people (see its runbook); triage cannot apply it")

    def health(self, level: CheckLevel) -> HealthReport:
        from triage.recovery.health import verify_health

        return verify_health(self.probes, level)

    def escalate(self, incident_id: str, why: str) -> None:
        from triage.alerting.schemas import AlertSignal, AlertType, Severity

        self.alerts.raise_signal(signal=AlertSignal(
            type=AlertType.SYSTEM_OUTAGE, severity=Severity.CRITICAL,
            title=f"Recovery of {incident_id} needs people: no automatic remedy worked"[:300],
            summary=why[:4000], incident_id=incident_id, source=f"recovery:{incident_id}",
            dedup_key=f"{incident_id}:recovery-escalation", occurred_at=datetime.now(UTC),
        ))  # fmt: skip

    def full_restore(self, snapshot_id: str) -> None:
        from triage.recovery.executor import restore_snapshot
        from triage.recovery.manifest import Component

        repo = self._repository()
        manifest = repo.load_manifest(snapshot_id)
        components = [
            c for c in (Component.STORE, Component.MODELS, Component.CONFIG) if c in manifest.components
        ]
        try:
            restore_snapshot(self.settings, snapshot_id, components=components, apply=store_apply(),
                             keep_kinds=KEEP_KINDS, repo=repo, actor=self.actor.user,
                             reason="full restore (recovery plan)", audit=audit_sink(self.settings))  # fmt: skip
        finally:
            self.after_restore()

    def rollback_change(self, change_id: str, *, reason: str) -> str:
        """Undo a change. An open one goes through its workflow (→ rolled_back); a closed one cannot move
        again, so its effect is reverted and the rollback recorded in the audit trail against it."""
        from triage.changes.schemas import ChangeState

        change = self.changes.get(change_id=change_id)
        if change.state is ChangeState.CLOSED:
            outcome = self.revert(change)
            audit_sink(self.settings)(RecoveryRecord(
                ROLLBACK, "change", change.id, self.actor.user, reason, before={"state": "closed"},
                after={"reverted": outcome}, details={"note": "closed change reverted outside its workflow"},
            ))  # fmt: skip
            return outcome
        service = self._with_revert()
        service.rollback(change_id=change_id, actor=self.actor, reason=reason)
        return "rolled back"

    def _with_revert(self) -> ChangeService:
        from triage.changes.service import ChangeService

        base = self.changes
        return ChangeService(base.db, config=base.config, clock=base.clock, snapshot=base.snapshot,
                             revert=self.revert, on_breach=base.on_breach)  # fmt: skip

    def revert(self, change: ChangeRequest) -> str:
        """Undo a change's effect: move a model's champion back, or restore the models/config from the
        snapshot taken before it. Never the store: that rewinds every ingested event since (the governance
        records are carried forward, the data is not); that is a deliberate `rollback store`, not a side effect."""
        from triage.recovery.errors import RestoreRefused
        from triage.recovery.executor import restore_snapshot
        from triage.recovery.manifest import Component

        if change.subject and change.subject.startswith("model:"):
            name = change.subject.removeprefix("model:").split("@", 1)[0]
            move = model_tracker(self.settings).rollback(
                name, actor=self.actor.user, reason=f"revert {change.id}"
            )
            return f"model {name} champion v{move.from_version} -> v{move.to_version}"
        if change.snapshot_id:
            repo = self._repository()
            manifest = repo.load_manifest(change.snapshot_id)
            parts = [c for c in (Component.MODELS, Component.CONFIG) if c in manifest.components]
            if parts:
                restore_snapshot(self.settings, manifest.id, components=parts, repo=repo, actor=self.actor.user,
                                 reason=f"revert {change.id}", audit=audit_sink(self.settings))  # fmt: skip
                return f"restored {', '.join(c.value for c in parts)} from snapshot {manifest.id}"
        raise RestoreRefused(
            f"{change.id} has no model move or models/config snapshot to revert automatically"
        )

    def _repository(self):
        from triage.recovery.executor import open_repository

        return open_repository(self.settings, create=False)


def after_store_replaced(runtime: Runtime, ops: Operations) -> None:
    """The store file was swapped (a restore by this API or by another process): rebuild the services
    against the new file, re-apply the API's journal entries it lacks, reload the keys."""
    ops.after_store_restore()
    catch_up(runtime)
    runtime.reload_keys()
    runtime.note_store_file()


def for_api(runtime: Runtime, ops: Operations, actor: Actor) -> Restoration:
    """The orchestrator inside the API: runtime probes; after a restore, :func:`after_store_replaced`."""
    return Restoration(settings=ops.settings, incidents=runtime.incidents, changes=ops.changes, alerts=ops.alerts,
                       actor=actor, probes=runtime_probes(runtime, ops.settings),
                       after_restore=lambda: after_store_replaced(runtime, ops))  # fmt: skip


def model_tracker(settings: Settings, approver: Any = None):
    """The model registry of a home, recording every move in the audit trail; ``approver`` is the change
    gate (none when the move is itself the revert of a change)."""
    from triage.modeling.lifecycle import audit_sink as model_audit
    from triage.modeling.tracking import ModelTracker

    return ModelTracker.from_settings(settings, audit=model_audit(settings), approver=approver)


def move_champion_back(settings: Settings, *, actor: str, reason: str, changes: Any = None, role: str = "engineer"):
    """The ``move_alias`` that ``triage.recovery.rollback.rollback_model`` takes: champion → previous, as a
    ``model-rollback`` change in ``changes`` (a ``ChangeService``) when given."""

    def move(name: str, alias: str, to_version: str | None) -> dict[str, Any]:
        if alias != "champion" or to_version is not None:
            raise InvalidInput("only the champion moves back, to the previous champion")
        gate = None
        if changes is not None:
            from triage.changes.model_gate import ChangeGate
            from triage.changes.schemas import Actor, Role
            from triage.modeling.tracking import SERVED_DIR_NAME

            gate = ChangeGate(changes, Actor(user=actor, role=Role(role)), settings.models_dir / SERVED_DIR_NAME)
        done = model_tracker(settings, gate).rollback(name, actor=actor, reason=reason)
        return {"from": done.from_version, "to": done.to_version, "change": done.change_id, "action": done.action}

    return move

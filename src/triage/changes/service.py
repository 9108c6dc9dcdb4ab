"""Change management service: persists changes and their audit entries in one transaction.

Each operation opens one ``Database.write()`` session, loads the change, applies the pure workflow
functions, saves the result and appends the audit events they returned, so the state and its trail commit
together. Hooks are injected, never imported: ``snapshot`` runs before implementation (the recovery
domain's snapshot), ``revert`` runs on rollback, ``on_breach`` receives emergency deadline breaches (the
CLI/API wire it to alerting). Hooks run outside the store's lock, since they may need the store themselves.

Signatures are keyword-only with typed inputs and outputs, so an API route can call them directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from triage.audit.log import MIGRATIONS as AUDIT_MIGRATIONS
from triage.audit.log import append_events
from triage.audit.schemas import Actions, AuditEvent, utc
from triage.changes import workflow
from triage.changes.catalogue import find_template
from triage.changes.config import ChangeConfig
from triage.changes.conflicts import ACTIVE_STATES, ScheduleClash, find_conflicts
from triage.changes.emergency import (
    DeadlineBreach,
    DeadlineStatus,
    EmergencyTrigger,
    deadline_status,
    new_breaches,
)
from triage.changes.risk import PastChange, assess_risk
from triage.changes.schemas import (
    TERMINAL_STATES,
    Actor,
    Authority,
    ChangeRequest,
    ChangeState,
    ChangeType,
    CloseCode,
    ImpactInput,
    InvalidTransition,
    Milestone,
    RiskAssessment,
    Role,
    RollbackComplexity,
    ScheduleConflict,
    ScheduleWindow,
    UserImpact,
)
from triage.errors import InvalidInput, NotFound
from triage.storage.database import Database, Session, load_migrations

MIGRATIONS = load_migrations("changes", Path(__file__).parent / "sql")
ID_PATTERN = re.compile(r"^CHG-\d{6,}$")
#: The identity triage itself acts under when it opens changes from diagnoses.
SYSTEM_ACTOR = Actor(user="triage", role=Role.SERVICE)
MODEL_SERVICE = "triage-scorer"

Clock = Callable[[], datetime]
SnapshotHook = Callable[[ChangeRequest], str | None]
RevertHook = Callable[[ChangeRequest], str | None]
BreachHook = Callable[[DeadlineBreach], None]
Step = tuple[ChangeRequest, AuditEvent]


def system_clock() -> datetime:
    return datetime.now(UTC)


class ChangeService:
    def __init__(
        self,
        db: Database,
        *,
        config: ChangeConfig | None = None,
        clock: Clock = system_clock,
        snapshot: SnapshotHook | None = None,
        revert: RevertHook | None = None,
        on_breach: BreachHook | None = None,
    ) -> None:
        self.db = db
        self.config = config or ChangeConfig()
        self.clock = clock
        self.snapshot = snapshot
        self.revert = revert
        self.on_breach = on_breach
        self._migrated = False

    # ---------------------------------------------------------------- storage
    def ensure_schema(self) -> None:
        if not self._migrated:
            self.db.migrate([*AUDIT_MIGRATIONS, *MIGRATIONS])
            self._migrated = True

    def _now(self) -> datetime:
        return utc(self.clock())

    @staticmethod
    def _load(session: Session, change_id: str) -> ChangeRequest:
        doc = session.scalar(
            "SELECT doc FROM changes WHERE id = ? ORDER BY version DESC LIMIT 1", [change_id]
        )
        if doc is None:
            raise NotFound(f"no change {change_id}")
        return ChangeRequest.model_validate_json(doc)

    @staticmethod
    def _save(session: Session, cr: ChangeRequest, *, new: bool = False) -> None:
        ws = None if cr.window is None else cr.window.start.replace(tzinfo=None)
        we = None if cr.window is None else cr.window.end.replace(tzinfo=None)
        values = [
            str(cr.type),
            str(cr.state),
            cr.title,
            cr.requester,
            list(cr.services),
            cr.incident_id,
            ws,
            we,
            cr.created_at.replace(tzinfo=None),
            cr.updated_at.replace(tzinfo=None),
            cr.version,
            cr.model_dump_json(),
        ]
        if new:
            session.execute(
                "INSERT INTO changes (type, state, title, requester, services, incident_id, window_start,"
                " window_end, created_at, updated_at, version, doc, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [*values, cr.id],
            )
        else:
            session.execute(
                "UPDATE changes SET type=?, state=?, title=?, requester=?, services=?, incident_id=?,"
                " window_start=?, window_end=?, created_at=?, updated_at=?, version=?, doc=? WHERE id=?",
                [*values, cr.id],
            )

    @staticmethod
    def _next_id(session: Session) -> str:
        last = session.scalar("SELECT max(CAST(substr(id, 5) AS BIGINT)) FROM changes")
        return f"CHG-{(last or 0) + 1:06d}"

    def _history(self, session: Session, services: Sequence[str], exclude: str | None) -> list[PastChange]:
        rows = session.execute(
            "SELECT doc FROM changes WHERE state IN ('closed', 'rolled_back') AND list_has_any(services, ?)"
            " AND id <> ?",
            [list(services), exclude or ""],
        )
        out = []
        for (doc,) in rows:
            past = ChangeRequest.model_validate_json(doc)
            outcome = past.close_code or CloseCode.ROLLED_BACK
            out.append(PastChange(change_id=past.id, services=past.services, outcome=outcome))
        return out

    def _overlapping(self, session: Session, window: ScheduleWindow) -> list[ChangeRequest]:
        states = [str(s) for s in ACTIVE_STATES]
        rows = session.execute(
            "SELECT doc FROM changes WHERE window_start < ? AND window_end > ? AND list_contains(?, state)",
            [window.end.replace(tzinfo=None), window.start.replace(tzinfo=None), states],
        )
        return [ChangeRequest.model_validate_json(doc) for (doc,) in rows]

    def _mutate(
        self, change_id: str, apply: Callable[[Session, ChangeRequest, datetime], list[Step]]
    ) -> ChangeRequest:
        self.ensure_schema()
        with self.db.write() as session:
            cr = self._load(session, change_id)
            steps = apply(session, cr, self._now())
            if not steps:
                return cr
            final = steps[-1][0]
            self._save(session, final)
            append_events(session, [event for _, event in steps])
            return final

    # ---------------------------------------------------------------- reads
    def get(self, *, change_id: str) -> ChangeRequest:
        if not ID_PATTERN.match(change_id):
            raise InvalidInput(f"not a change id: {change_id!r} (expected CHG-000123)")
        self.ensure_schema()
        with self.db.read() as session:
            return self._load(session, change_id)

    def list(
        self,
        *,
        state: ChangeState | None = None,
        type: ChangeType | None = None,
        service: str | None = None,
        incident_id: str | None = None,
        open_only: bool = False,
        limit: int = 500,
    ) -> list[ChangeRequest]:
        self.ensure_schema()
        clauses, params = [], []
        if state is not None:
            clauses.append("state = ?")
            params.append(str(state))
        if type is not None:
            clauses.append("type = ?")
            params.append(str(type))
        if service is not None:
            clauses.append("list_contains(services, ?)")
            params.append(service)
        if incident_id is not None:
            clauses.append("incident_id = ?")
            params.append(incident_id)
        if open_only:
            clauses.append("NOT list_contains(?, state)")
            params.append([str(s) for s in TERMINAL_STATES])
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.db.read() as session:
            rows = session.execute(f"SELECT doc FROM changes{where} ORDER BY id LIMIT {int(limit)}", params)
        return [ChangeRequest.model_validate_json(doc) for (doc,) in rows]

    def deadlines(self, *, change_id: str) -> list[DeadlineStatus]:
        return deadline_status(self.get(change_id=change_id), self.config.deadlines, self._now())

    def conflicts(self, *, change_id: str, window: ScheduleWindow | None = None) -> list[ScheduleClash]:
        cr = self.get(change_id=change_id)
        window = window or cr.window
        if window is None:
            return []
        with self.db.read() as session:
            others = self._overlapping(session, window)
        return self._clashes(cr.id, cr.services, window, others)

    def _clashes(
        self, change_id: str, services: Sequence[str], window: ScheduleWindow, others: Iterable[ChangeRequest]
    ) -> list[ScheduleClash]:
        return find_conflicts(
            change_id=change_id,
            services=services,
            window=window,
            others=others,
            graph=self.config.graph(),
            blackouts=self.config.blackouts,
        )

    def preview_risk(
        self, *, services: Sequence[str], impact: ImpactInput, exclude: str | None = None
    ) -> RiskAssessment:
        self.ensure_schema()
        with self.db.read() as session:
            history = self._history(session, services, exclude)
        return assess_risk(
            services=services,
            impact=impact,
            graph=self.config.graph(),
            history=history,
            now=self._now(),
            assessed_by="preview",
        )

    # ---------------------------------------------------------------- writes
    def create(
        self,
        *,
        type: ChangeType,
        title: str,
        services: Sequence[str],
        requester: str,
        actor: Actor,
        description: str = "",
        justification: str = "",
        implementation_plan: str = "",
        rollback_procedure: str = "",
        validation_plan: str = "",
        window: ScheduleWindow | None = None,
        impact: ImpactInput | None = None,
        template_id: str | None = None,
        incident_id: str | None = None,
        subject: str | None = None,
        detected_at: datetime | None = None,
    ) -> ChangeRequest:
        """Raise a change request. A standard change comes from a catalogue template and is assessed at
        once (and scheduled when a window is given); an emergency change goes straight to authorize."""
        type = ChangeType(type)
        fields: dict[str, Any] = {}
        if type is ChangeType.STANDARD:
            if not template_id:
                raise InvalidInput("a standard change needs a catalogue template (--template ID)")
            template = find_template(self.config, template_id)
            implementation_plan = implementation_plan or template.implementation_plan
            rollback_procedure = rollback_procedure or template.rollback_procedure
            validation_plan = validation_plan or template.validation_plan
            description = description or template.description
            impact = impact or ImpactInput(
                rollback_complexity=template.rollback_complexity,
                estimated_downtime_minutes=template.estimated_downtime_minutes,
            )
        elif template_id:
            find_template(self.config, template_id)
        self.ensure_schema()
        with self.db.write() as session:
            now = self._now()
            if type is ChangeType.EMERGENCY:
                fields["detected_at"] = utc(detected_at) if detected_at else now
                fields["milestones"] = {Milestone.DECLARED: now, Milestone.REQUESTED: now}
            try:
                cr = ChangeRequest(
                    id=self._next_id(session),
                    type=type,
                    title=title,
                    description=description,
                    requester=requester,
                    justification=justification,
                    services=tuple(services),
                    implementation_plan=implementation_plan,
                    rollback_procedure=rollback_procedure,
                    validation_plan=validation_plan,
                    window=window,
                    impact=impact or ImpactInput(),
                    template_id=template_id,
                    incident_id=incident_id,
                    subject=subject,
                    created_at=now,
                    updated_at=now,
                    **fields,
                )
            except ValueError as exc:  # pydantic ValidationError is a ValueError
                raise InvalidInput(_first_error(exc)) from None
            steps: list[Step] = [(cr, workflow.created_event(cr, actor, now))]
            if window is not None:
                cr = self._check_window(session, cr, window)
                steps[0] = (cr, steps[0][1])
            if type is ChangeType.EMERGENCY:
                steps.append(
                    workflow.transition(
                        cr,
                        ChangeState.AUTHORIZE,
                        actor,
                        now,
                        config=self.config,
                        reason="emergency fast track",
                    )
                )
                steps.append(self._assess_step(session, steps[-1][0], actor, now))
            elif type is ChangeType.STANDARD:
                steps.append(self._assess_step(session, cr, actor, now))
                if window is not None:
                    steps.append(
                        workflow.transition(
                            steps[-1][0], ChangeState.SCHEDULED, actor, now, config=self.config
                        )
                    )
            final = steps[-1][0]
            self._save(session, final, new=True)
            append_events(session, [event for _, event in steps])
        return final

    def _assess_step(self, session: Session, cr: ChangeRequest, actor: Actor, now: datetime) -> Step:
        history = self._history(session, cr.services, cr.id)
        risk = assess_risk(
            services=cr.services,
            impact=cr.impact,
            graph=self.config.graph(),
            history=history,
            now=now,
            assessed_by=actor.user,
        )
        return workflow.record_assessment(cr, risk, actor, now)

    def _check_window(self, session: Session, cr: ChangeRequest, window: ScheduleWindow) -> ChangeRequest:
        clashes = self._clashes(cr.id, cr.services, window, self._overlapping(session, window))
        if not clashes:
            return cr
        if cr.type is ChangeType.EMERGENCY:  # an outage does not wait: note it, do not refuse
            return cr.model_copy(update={"warnings": (*cr.warnings, *(str(c) for c in clashes))})
        raise ScheduleConflict(f"{cr.id} window clashes with " + "; ".join(str(c) for c in clashes))

    def assess(self, *, change_id: str, actor: Actor, impact: ImpactInput | None = None) -> ChangeRequest:
        """Impact analysis: score the change; a normal change moves new → assess → authorize."""

        def apply(session: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            steps: list[Step] = []
            if cr.type is ChangeType.NORMAL and cr.state is ChangeState.NEW:
                steps.append(workflow.transition(cr, ChangeState.ASSESS, actor, now, config=self.config))
                cr = steps[-1][0]
            if impact is not None:
                cr = cr.model_copy(update={"impact": impact})
            steps.append(self._assess_step(session, cr, actor, now))
            cr = steps[-1][0]
            if (
                cr.type is ChangeType.NORMAL
                and cr.state is ChangeState.ASSESS
                and cr.rollback_procedure.strip()
            ):
                steps.append(workflow.transition(cr, ChangeState.AUTHORIZE, actor, now, config=self.config))
            return steps

        return self._mutate(change_id, apply)

    def submit(self, *, change_id: str, actor: Actor) -> ChangeRequest:
        """Send an assessed normal change to approval (assess → authorize)."""
        return self._mutate(
            change_id,
            lambda _s, cr, now: [
                workflow.transition(cr, ChangeState.AUTHORIZE, actor, now, config=self.config)
            ],
        )

    def approve(
        self, *, change_id: str, actor: Actor, authority: Authority | None = None, comment: str | None = None
    ) -> ChangeRequest:
        """Record one approval; with the last one a change that has a window moves to scheduled."""

        def apply(session: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            steps = [
                workflow.approve(cr, actor, now, authority=authority, comment=comment, config=self.config)
            ]
            cr = steps[-1][0]
            if not workflow.missing_authorities(cr, self.config) and cr.window is not None:
                steps.append(
                    workflow.transition(
                        cr,
                        ChangeState.SCHEDULED,
                        actor,
                        now,
                        config=self.config,
                        reason="all approvals given",
                    )
                )
            return steps

        return self._mutate(change_id, apply)

    def reject(self, *, change_id: str, actor: Actor, reason: str) -> ChangeRequest:
        return self._mutate(
            change_id,
            lambda _s, cr, now: [
                workflow.transition(cr, ChangeState.REJECTED, actor, now, reason=reason, config=self.config)
            ],
        )

    def schedule(
        self, *, change_id: str, actor: Actor, window: ScheduleWindow, reason: str | None = None
    ) -> ChangeRequest:
        """Set or move the window (refused on a clash, except for emergencies, where it is noted)."""

        def apply(session: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            cr = self._check_window(session, cr, window)
            steps = [workflow.reschedule(cr, window, actor, now, reason=reason)]
            cr = steps[-1][0]
            ready = (cr.type is ChangeType.STANDARD and cr.state is ChangeState.NEW) or (
                cr.state is ChangeState.AUTHORIZE and not workflow.missing_authorities(cr, self.config)
            )
            if ready:
                steps.append(workflow.transition(cr, ChangeState.SCHEDULED, actor, now, config=self.config))
            return steps

        return self._mutate(change_id, apply)

    def implement(self, *, change_id: str, actor: Actor) -> ChangeRequest:
        """Start implementation. The snapshot hook runs first (outside the lock); the move is re-checked
        after it, so a change that moved meanwhile is refused."""
        current = self.get(change_id=change_id)
        workflow.transition(current, ChangeState.IMPLEMENT, actor, self._now(), config=self.config)
        snapshot_id = self.snapshot(current) if self.snapshot is not None else None

        def apply(_s: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            new, event = workflow.transition(cr, ChangeState.IMPLEMENT, actor, now, config=self.config)
            new = new.model_copy(update={"snapshot_id": snapshot_id})
            event = event.model_copy(update={"details": {**event.details, "snapshot_id": snapshot_id}})
            return [(new, event)]

        return self._mutate(change_id, apply)

    def review(
        self, *, change_id: str, actor: Actor, validation: bool | None = None, notes: str | None = None
    ) -> ChangeRequest:
        """Implementation done (implement → review), and/or the validation result recorded."""

        def apply(_s: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            steps: list[Step] = []
            if cr.state in (ChangeState.IMPLEMENT, ChangeState.ROLLED_BACK):
                steps.append(
                    workflow.transition(cr, ChangeState.REVIEW, actor, now, reason=notes, config=self.config)
                )
                cr = steps[-1][0]
            elif validation is None:
                raise InvalidTransition(f"{cr.id} is {cr.state}; review follows implementation")
            if validation is not None:
                steps.append(workflow.record_validation(cr, validation, actor, now, notes=notes))
            return steps

        return self._mutate(change_id, apply)

    def close(
        self, *, change_id: str, actor: Actor, notes: str | None = None, code: CloseCode | None = None
    ) -> ChangeRequest:
        return self._mutate(
            change_id,
            lambda _s, cr, now: [
                workflow.transition(
                    cr, ChangeState.CLOSED, actor, now, reason=notes, close_code=code, config=self.config
                )
            ],
        )

    def cancel(self, *, change_id: str, actor: Actor, reason: str) -> ChangeRequest:
        return self._mutate(
            change_id,
            lambda _s, cr, now: [
                workflow.transition(cr, ChangeState.CANCELED, actor, now, reason=reason, config=self.config)
            ],
        )

    def rollback(self, *, change_id: str, actor: Actor, reason: str) -> ChangeRequest:
        """Revert an implemented change (the revert hook runs first, outside the lock) and record why."""
        current = self.get(change_id=change_id)
        workflow.transition(
            current, ChangeState.ROLLED_BACK, actor, self._now(), reason=reason, config=self.config
        )
        outcome = self.revert(current) if self.revert is not None else None

        def apply(_s: Session, cr: ChangeRequest, now: datetime) -> list[Step]:
            new, event = workflow.transition(
                cr, ChangeState.ROLLED_BACK, actor, now, reason=reason, config=self.config
            )
            details = {**event.details, "reverted": outcome, "snapshot_id": cr.snapshot_id}
            return [(new, event.model_copy(update={"details": details}))]

        return self._mutate(change_id, apply)

    def carry_out(
        self,
        *,
        change_id: str,
        actor: Actor,
        apply: Callable[[ChangeRequest], Mapping[str, Any] | None],
        validate: Callable[[ChangeRequest], bool] | None = None,
        notes: str | None = None,
    ) -> ChangeRequest:
        """Implement → apply → review with validation → close (or roll back when it fails).

        For scheduled standard changes such as a model promotion; ``apply`` does the work."""
        cr = self.implement(change_id=change_id, actor=actor)
        try:
            result = apply(cr)
        except Exception as exc:  # record the failure in the trail, then let the caller see it
            self.rollback(change_id=change_id, actor=actor, reason=f"implementation failed: {exc}")
            raise
        passed = validate(cr) if validate is not None else True
        text = notes or ("applied: " + ", ".join(f"{k}={v}" for k, v in (result or {}).items())).strip()
        self.review(change_id=change_id, actor=actor, validation=passed, notes=text or None)
        if passed:
            return self.close(change_id=change_id, actor=actor, notes=text or None, code=CloseCode.SUCCESSFUL)
        self.rollback(change_id=change_id, actor=actor, reason="validation failed")
        self.review(change_id=change_id, actor=actor, notes="rolled back after failed validation")
        return self.close(change_id=change_id, actor=actor, notes="rolled back after failed validation")

    # ---------------------------------------------------------------- emergency fast track
    def open_emergency_change(
        self, *, trigger: EmergencyTrigger, actor: Actor = SYSTEM_ACTOR
    ) -> ChangeRequest:
        """Open (once per incident) an emergency change from a CRITICAL diagnosis; it is declared,
        requested and assessed at once and waits in authorize for the on-call engineer and technical lead."""
        if trigger.severity != "CRITICAL":
            raise InvalidInput(
                f"only a CRITICAL diagnosis opens an emergency change (got {trigger.severity})"
            )
        existing = [
            c
            for c in self.list(incident_id=trigger.incident_id, type=ChangeType.EMERGENCY)
            if c.state not in TERMINAL_STATES
        ]
        if existing:
            return existing[0]
        cr = self.create(
            type=ChangeType.EMERGENCY,
            title=f"Emergency: {trigger.summary}"[:300],
            services=trigger.services,
            requester=actor.user,
            actor=actor,
            description=f"Opened from a CRITICAL diagnosis ({trigger.category or 'uncategorised'}) "
            f"of incident {trigger.incident_id}.",
            justification=f"CRITICAL incident {trigger.incident_id}: {trigger.summary}",
            implementation_plan="Apply the diagnosis' top suggested fix (see the incident).",
            rollback_procedure="Restore the snapshot taken before implementation.",
            validation_plan="Error rate and health checks of the affected services back to baseline.",
            impact=ImpactInput(
                phi=trigger.phi, user_impact=UserImpact.PARTIAL, rollback_complexity=RollbackComplexity.SIMPLE
            ),
            incident_id=trigger.incident_id,
            detected_at=trigger.detected_at,
        )
        self.check_deadlines()
        return self.get(change_id=cr.id)

    def check_deadlines(self) -> list[DeadlineBreach]:
        """Record every newly breached emergency deadline (once each) and hand it to ``on_breach``."""
        self.ensure_schema()
        breaches: list[DeadlineBreach] = []
        with self.db.write() as session:
            now = self._now()
            rows = session.execute(
                "SELECT doc FROM changes WHERE type = 'emergency' AND NOT list_contains(?, state)",
                [[str(s) for s in TERMINAL_STATES]],
            )
            events = []
            for (doc,) in rows:
                cr = ChangeRequest.model_validate_json(doc)
                found = new_breaches(cr, self.config.deadlines, now)
                if not found:
                    continue
                updated = cr.model_copy(
                    update={
                        "breaches_escalated": (*cr.breaches_escalated, *(b.milestone for b in found)),
                        "updated_at": now,
                        "version": cr.version + 1,
                    }
                )
                self._save(session, updated)
                for breach in found:
                    events.append(
                        AuditEvent(
                            actor=SYSTEM_ACTOR.user,
                            actor_role=str(SYSTEM_ACTOR.role),
                            action=Actions.CHANGE_DEADLINE_BREACHED,
                            subject_kind="change",
                            subject_id=cr.id,
                            at=now,
                            reason=breach.message(),
                            details={
                                "milestone": str(breach.milestone),
                                "due_at": breach.due_at.isoformat(),
                                "incident_id": cr.incident_id,
                            },
                        )
                    )
                breaches.extend(found)
            append_events(session, events)
        if self.on_breach is not None:
            for breach in breaches:
                self.on_breach(breach)
        return breaches

    # ---------------------------------------------------------------- model promotion
    def request_model_promotion(
        self,
        *,
        model: str,
        challenger_version: str,
        evaluation_passed: bool,
        requester: str,
        actor: Actor | None = None,
        champion_version: str | None = None,
        metrics: Mapping[str, float] | None = None,
        reason: str | None = None,
        window_minutes: int = 60,
    ) -> ChangeRequest:
        """Promoting a challenger is a change: a scheduled standard change when the evaluation gate
        passed and the risk is low; otherwise a normal change waiting for approval."""
        actor = actor or Actor(user=requester, role=Role.ENGINEER)
        impact = ImpactInput(rollback_complexity=RollbackComplexity.AUTOMATED, user_impact=UserImpact.NONE)
        services = (MODEL_SERVICE,)
        shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted((metrics or {}).items()))
        common: dict[str, Any] = {
            "title": f"Promote {model} v{challenger_version} to champion",
            "services": services,
            "requester": requester,
            "actor": actor,
            "subject": f"model:{model}@{challenger_version}",
            "impact": impact,
            "description": f"champion {champion_version or 'none'} → challenger {challenger_version}"
            + (f"; metrics: {shown}" if shown else ""),
        }
        risk = self.preview_risk(services=services, impact=impact)
        if evaluation_passed and risk.score <= self.config.policy.standard_max_score:
            now = self._now()
            window = ScheduleWindow(start=now, end=now + timedelta(minutes=window_minutes))
            return self.create(
                type=ChangeType.STANDARD,
                template_id="model-promotion",
                window=window,
                justification=reason or "challenger passed the evaluation gate",
                **common,
            )
        template = find_template(self.config, "model-promotion")
        cr = self.create(
            type=ChangeType.NORMAL,
            justification=reason or "challenger did not pass the evaluation gate; needs approval",
            implementation_plan=template.implementation_plan,
            rollback_procedure=template.rollback_procedure,
            validation_plan=template.validation_plan,
            **common,
        )
        return self.assess(change_id=cr.id, actor=actor)


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc).splitlines()[0]

"""What the command center and the incident page show, assembled from the runtime's domains.

This is the one place that reads incidents, changes, alerting and recovery together, so it lives in the
API layer (the only layer above all of them). Each domain is read through its own service; the store is
opened a handful of times per summary, and the summary is cached for a second so many open dashboards
cost the same as one.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from triage.alerting.config import load_alerting_config
from triage.alerting.schemas import Alert
from triage.alerting.service import AlertService
from triage.changes.config import load_change_config
from triage.changes.schemas import TERMINAL_STATES, ChangeRequest
from triage.changes.service import ChangeService
from triage.history.queries import IncidentHistory
from triage.history.review import DashboardConfig, load_dashboard_config, post_incident_review, rto_status
from triage.incidents.schemas import Incident
from triage.recovery.orchestrator import DiagnosisSummary, RecentChange, RecoveryPlan, Severity, plan_recovery

SUMMARY_CACHE_SECONDS = 1.0
ACTION_KINDS = ("status", "rca", "alert", "change", "approval", "recovery", "resolution", "feedback", "note")


class CommandCenter:
    def __init__(self, runtime, operations=None) -> None:
        """``operations`` is the app's change/alerting wiring when it runs (its services are reused)."""
        self.runtime = runtime
        self.operations = operations
        settings = runtime.settings
        self.config: DashboardConfig = load_dashboard_config(settings.config_dir / "dashboard.yaml")
        self.history = IncidentHistory(runtime.db)
        self._changes: ChangeService | None = None
        self._alerts: AlertService | None = None
        self._cache: dict[tuple, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # --- the domains' services (those of the app's operations when it has them) ------------------------
    @property
    def changes(self) -> ChangeService:
        own = getattr(self.operations, "changes", None)
        if isinstance(own, ChangeService):
            return own
        if self._changes is None:
            cfg = load_change_config(self.runtime.settings.config_dir / "changes.yaml")
            self._changes = ChangeService(self.runtime.db, config=cfg)
        return self._changes

    @property
    def alerts(self) -> AlertService:
        own = getattr(self.operations, "alerts", None)
        if isinstance(own, AlertService):
            return own
        if self._alerts is None:
            cfg = load_alerting_config(self.runtime.settings.config_dir / "alerting.yaml")
            self._alerts = AlertService(self.runtime.db, config=cfg, notifiers={})  # reads only: never sends
        return self._alerts

    def _drain(self) -> None:
        writer = getattr(self.runtime, "writer", None)
        if writer is not None:
            writer.drain(5.0)

    # --- the command center -------------------------------------------------------------------------------
    def summary(self, *, hours: int = 1) -> dict[str, Any]:
        key = ("summary", hours)
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < SUMMARY_CACHE_SECONDS:
                return hit[1]
            body = self._summary(hours)
            self._cache[key] = (time.monotonic(), body)
            return body

    def _summary(self, hours: int) -> dict[str, Any]:
        self._drain()
        now = datetime.now(UTC)
        active = self.runtime.incidents.list(status="open", limit=50)
        ids = [i.incident_id for i in active]
        latest, actions = self._latest_diagnoses(ids), self._actions(ids)
        changes = self.changes.list(limit=1000)
        alerts = self.alerts.list(open_only=True, limit=1000)
        alerts_by_incident: dict[str, list[Alert]] = {}
        for a in alerts:
            alerts_by_incident.setdefault(a.incident_id or "", []).append(a)
        incidents = [
            self._incident_card(i, latest.get(i.incident_id, {}), actions.get(i.incident_id, []), changes,
                                alerts_by_incident.get(i.incident_id, []), now)
            for i in active
        ]
        severities = {s: sum(1 for i in active if i.severity.value == s) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")}
        recent = sorted(changes, key=lambda c: c.updated_at, reverse=True)[:12]
        return {
            "generatedAt": now.isoformat(),
            "counts": {"open": len(active), **severities,
                       "rtoBreached": sum(1 for c in incidents if c["rto"]["breached"]),
                       "openChanges": sum(1 for c in changes if c.state not in TERMINAL_STATES),
                       "openAlerts": len(alerts)},
            "incidents": incidents,
            "changes": [_change_card(c) for c in recent],
            "trends": self._trends(now, hours),
            "models": self._models(),
            "onCall": self._on_call(),
            "escalations": [_alert_card(a) for a in sorted(alerts, key=lambda a: a.first_seen, reverse=True)
                            if a.escalation_level > 0][:20],
        }

    def _latest_diagnoses(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        with self.runtime.db.read() as s:
            rows = s.execute(
                "SELECT incident_id, body FROM diagnoses WHERE list_contains(?, incident_id)"
                " QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY detected_at DESC) = 1",
                [ids],
            )
        return {r[0]: json.loads(r[1]) for r in rows}

    def _actions(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The non-diagnosis timeline of each incident (status, alerts, changes, recovery steps), newest first."""
        if not ids:
            return {}
        with self.runtime.db.read() as s:
            rows = s.execute(
                "SELECT incident_id, occurred_at, kind, actor, summary FROM incident_timeline"
                " WHERE list_contains(?, incident_id) AND list_contains(?, kind)"
                " QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY occurred_at DESC) <= 8",
                [ids, list(ACTION_KINDS)],
            )
        out: dict[str, list[dict[str, Any]]] = {}
        for incident_id, at, kind, actor, summary in sorted(rows, key=lambda r: r[1], reverse=True):
            out.setdefault(incident_id, []).append({"at": at.isoformat(), "kind": kind, "actor": actor,
                                                    "summary": summary})
        return out

    def _incident_card(self, incident: Incident, diagnosis: dict[str, Any], actions: list[dict[str, Any]],
                       changes: list[ChangeRequest], alerts: list[Alert], now: datetime) -> dict[str, Any]:
        plan = self._plan(incident, diagnosis, changes)
        linked = [c for c in changes if c.incident_id == incident.incident_id]
        return {
            **incident.model_dump(mode="json", by_alias=True, exclude={"resolution", "resolved_by", "resolved_at"}),
            "rto": rto_status(incident.first_seen, incident.severity.value, now=now, resolved_at=None,
                              config=self.config),
            "suggestedFixes": diagnosis.get("suggestedFixes", [])[:3],
            "knownPattern": (diagnosis.get("evidence") or {}).get("knownPattern"),
            "template": (diagnosis.get("evidence") or {}).get("template"),
            "recoveryPlan": _plan_json(plan),
            "actions": actions,
            "changes": [_change_card(c) for c in linked],
            "alerts": [_alert_card(a) for a in alerts],
        }

    def _plan(self, incident: Incident, diagnosis: dict[str, Any], changes: list[ChangeRequest]) -> RecoveryPlan:
        """The restoration orchestrator's plan for this incident, from its latest diagnosis."""
        fixes = diagnosis.get("suggestedFixes") or []
        top = fixes[0].get("fixId") or fixes[0].get("action") if fixes else None
        known = (diagnosis.get("evidence") or {}).get("knownPattern")
        summary = DiagnosisSummary(
            incident_id=incident.incident_id, severity=Severity(incident.severity.value.lower()),
            category=incident.category, known_issue=known, targeted_fix=top if known else None,
            confidence=incident.root_cause.confidence if incident.root_cause else 0.0, suggested_fix=top,
        )
        since = incident.first_seen - timedelta(hours=24)
        recent = [
            RecentChange(c.id, c.type.value, c.milestones.get("implementation") or c.updated_at, c.title)
            for c in changes
            if set(c.services) & set(incident.services) and c.state.value in {"implement", "review", "closed"}
            and (c.milestones.get("implementation") or c.updated_at) >= since and c.incident_id != incident.incident_id
        ]
        return plan_recovery(summary, recent, None)

    def _trends(self, now: datetime, hours: int) -> dict[str, Any]:
        """Errors per service and per template in fixed buckets over the last ``hours`` (diagnosed errors)."""
        bucket_minutes = max(1, hours * 60 // 36)
        start = now - timedelta(hours=hours)
        with self.runtime.db.read() as s:
            rows = s.execute(
                "SELECT service, coalesce(template_id, '?') AS template_id,"
                " any_value(json_extract_string(body, '$.evidence.template')) AS template,"
                " CAST(floor(date_diff('second', ?::TIMESTAMPTZ, detected_at) / ?) AS BIGINT) AS bucket, count(*)"
                " FROM diagnoses WHERE detected_at >= ? GROUP BY service, template_id, bucket",
                [start, bucket_minutes * 60, start],
            )
        n = -(-hours * 60 // bucket_minutes)
        buckets = [(start + timedelta(minutes=bucket_minutes * i)).isoformat() for i in range(n)]
        per_service: dict[str, list[int]] = {}
        per_template: dict[str, list[int]] = {}
        texts: dict[str, str] = {}
        for service, template_id, template, bucket, count in rows:
            b = min(max(int(bucket), 0), n - 1)
            per_service.setdefault(service, [0] * n)[b] += count
            per_template.setdefault(template_id, [0] * n)[b] += count
            texts.setdefault(template_id, template or template_id)
        top_services = sorted(per_service, key=lambda k: -sum(per_service[k]))[:8]
        top_templates = sorted(per_template, key=lambda k: -sum(per_template[k]))[:6]
        return {
            "hours": hours, "bucketMinutes": bucket_minutes, "buckets": buckets,
            "services": [{"name": k, "counts": per_service[k], "total": sum(per_service[k])} for k in top_services],
            "templates": [{"templateId": k, "template": texts[k], "counts": per_template[k],
                           "total": sum(per_template[k])} for k in top_templates],
        }

    def _models(self) -> list[dict[str, str]]:
        versions = dict(getattr(self.runtime.engine.state, "model_versions", {}) or {})
        return [{"name": k, "version": str(v)} for k, v in sorted(versions.items())]

    def _on_call(self) -> dict[str, Any]:
        cfg = self.alerts.config
        teams = sorted({*cfg.routes.values(), *(s.team for s in cfg.escalation.chain)})
        return {
            "primary": [r.name for r in cfg.team("on_call_engineer")],
            "routes": [{"type": t.value, "team": team} for t, team in cfg.routes.items()],
            "teams": [{"team": t, "members": [r.name for r in cfg.team(t)]} for t in teams],
            "escalateAfterMinutes": cfg.escalation.after.total_seconds() / 60,
            "chain": [s.team for s in cfg.escalation.chain],
        }

    # --- the incident page --------------------------------------------------------------------------------
    def incident(self, incident_id: str) -> dict[str, Any]:
        self._drain()
        now = datetime.now(UTC)
        detail = self.runtime.incidents.get(incident_id)
        changes_all = self.changes.list(limit=1000)
        changes = [c for c in changes_all if c.incident_id == incident_id]
        alerts = self.alerts.list(incident_id=incident_id)
        feedback = self.history.feedback(incident_id)
        latest = detail.diagnoses[-1] if detail.diagnoses else {}
        related: dict[str, dict[str, Any]] = {}
        for d in detail.diagnoses:
            for r in d.get("relatedIncidents") or []:
                if r.get("incidentId") != incident_id:
                    best = related.get(r["incidentId"])
                    if best is None or r.get("similarity", 0) > best.get("similarity", 0):
                        related[r["incidentId"]] = {**r, "why": "similar text"}
        similar = self.history.similar(incident_id=incident_id,
                                       root_service=detail.root_cause.service if detail.root_cause else None,
                                       category=detail.category)
        for row in similar.to_dict("records"):
            related.setdefault(row["incident_id"], {
                "incidentId": row["incident_id"], "title": row["title"], "status": row["status"],
                "resolution": row["fix"], "similarity": None,
                "why": "same root-cause service" if detail.root_cause and row["root_service"] == detail.root_cause.service
                else "same category",
            })
        plan = None if detail.resolved_at else self._plan(detail, latest, changes_all)
        return {
            "incident": detail.model_dump(mode="json", by_alias=True, exclude={"diagnoses"}),
            "diagnoses": len(detail.diagnoses),
            "evidence": {
                "rootCause": latest.get("rootCause"),
                "category": latest.get("category"),
                "evidence": latest.get("evidence") or {},
                "suggestedFixes": latest.get("suggestedFixes") or [],
                "articles": latest.get("knowledgeBaseArticles") or [],
                "modelVersions": latest.get("modelVersions") or {},
                "templates": self.history.templates(incident_id),
            },
            "related": sorted(related.values(), key=lambda r: -(r.get("similarity") or 0))[:10],
            "alerts": [_alert_card(a) for a in alerts],
            "changes": [_change_card(c) for c in changes],
            "recoveryPlan": _plan_json(plan) if plan else None,
            "rto": rto_status(detail.first_seen, detail.severity.value, now=now, resolved_at=detail.resolved_at,
                              config=self.config),
            "review": post_incident_review(detail, changes=changes, alerts=alerts, feedback=feedback, now=now,
                                           config=self.config),
            "feedback": [{**f, "at": f["at"].isoformat()} for f in feedback],
        }


def _plan_json(plan: RecoveryPlan) -> dict[str, Any]:
    return {
        "branch": plan.branch, "automatic": plan.automatic,
        "stages": [{"kind": s.kind, "target": s.target, "description": s.description,
                    "needsApproval": s.needs_approval} for s in plan.stages],
        "validation": plan.validation_level.value, "monitor": plan.monitor_level.value,
    }


def _change_card(c: ChangeRequest) -> dict[str, Any]:
    return {"id": c.id, "type": c.type.value, "state": c.state.value, "title": c.title, "services": list(c.services),
            "requester": c.requester, "incidentId": c.incident_id, "risk": c.risk.score if c.risk else None,
            "riskLevel": c.risk.level.value if c.risk else None, "updatedAt": c.updated_at.isoformat(),
            "approvals": [f"{a.authority}:{a.user}" for a in c.approvals]}


def _alert_card(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "title": a.title, "severity": a.severity.value, "type": a.type.value, "state": a.state.value,
            "team": a.team, "escalationLevel": a.escalation_level, "escalatedTo": list(a.escalated_to),
            "incidentId": a.incident_id, "firstSeen": a.first_seen.isoformat(),
            "acknowledgedBy": a.acknowledged_by}

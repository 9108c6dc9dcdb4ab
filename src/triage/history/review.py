"""Recovery time objectives and the post-incident review of one incident, built from what the store holds.

The review follows the usual blameless shape: summary, impact, timeline, root cause and evidence,
resolution, how the response went against its targets (RTO, the emergency deadlines), and action items
that the data itself suggests. It is a draft for people to finish, generated so nobody starts from blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.alerting.schemas import Alert
from triage.changes.schemas import ChangeRequest
from triage.errors import InvalidInput
from triage.incidents.schemas import IncidentDetail

#: Recovery time objective per severity, in minutes. CRITICAL follows the emergency fast track's
#: validation deadline (45 min from detection); the others are working defaults a deployment overrides.
DEFAULT_RTO_MINUTES: dict[str, int] = {"CRITICAL": 45, "HIGH": 240, "MEDIUM": 1440, "LOW": 4320}
#: The seed: a post-incident review within 24 hours of resolution.
REVIEW_DUE = timedelta(hours=24)


class DashboardConfig(BaseModel):
    """``<home>/config/dashboard.yaml``: ``rto_minutes: {CRITICAL: 30, HIGH: 120}`` (others keep defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rto_minutes: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_RTO_MINUTES))

    @field_validator("rto_minutes")
    @classmethod
    def _merge(cls, value: dict[str, int]) -> dict[str, int]:
        merged = {**DEFAULT_RTO_MINUTES, **{k.upper(): v for k, v in value.items()}}
        if any(v <= 0 for v in merged.values()):
            raise ValueError("RTO minutes must be positive")
        return merged

    def rto(self, severity: str) -> timedelta:
        return timedelta(minutes=self.rto_minutes.get(severity.upper(), DEFAULT_RTO_MINUTES["LOW"]))


def load_dashboard_config(path: Path | None) -> DashboardConfig:
    if path is None or not path.exists():
        return DashboardConfig()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return DashboardConfig.model_validate(raw)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def rto_status(first_seen: datetime, severity: str, *, now: datetime, resolved_at: datetime | None,
               config: DashboardConfig) -> dict[str, Any]:
    """Elapsed time against the RTO: seconds elapsed, the RTO, the share used, and whether it is breached."""
    end = resolved_at or now
    elapsed = max(0.0, (end - first_seen).total_seconds())
    rto = config.rto(severity).total_seconds()
    return {"elapsedSeconds": round(elapsed), "rtoSeconds": round(rto), "used": round(elapsed / rto, 3),
            "breached": elapsed > rto}


def post_incident_review(
    incident: IncidentDetail,
    *,
    changes: Sequence[ChangeRequest] = (),
    alerts: Sequence[Alert] = (),
    feedback: Sequence[Mapping[str, Any]] = (),
    now: datetime,
    config: DashboardConfig | None = None,
) -> dict[str, Any]:
    config = config or DashboardConfig()
    sev = incident.severity.value
    diagnoses = incident.diagnoses
    first_detected = min((_ts(d.get("detectedAt")) for d in diagnoses if d.get("detectedAt")), default=None)
    latest = diagnoses[-1] if diagnoses else {}
    rto = rto_status(incident.first_seen, sev, now=now, resolved_at=incident.resolved_at, config=config)
    acked = sorted(a.acknowledged_at for a in alerts if a.acknowledged_at)
    escalated = [a for a in alerts if a.escalation_level > 0]
    emergency = [c for c in changes if c.type.value == "emergency"]
    breaches = sorted({str(m) for c in emergency for m in c.breaches_escalated})
    resolution = incident.resolution

    actions: list[str] = []
    if rto["breached"]:
        over = (rto["elapsedSeconds"] - rto["rtoSeconds"]) / 60
        actions.append(f"Recovery took {over:.0f} min longer than the {sev} RTO: find what slowed it.")
    if resolution is not None and not resolution.suggested_fix_worked:
        actions.append("The suggested fix did not work: review the knowledge-base entry for this pattern.")
    wrong = [f for f in feedback if f.get("categoryCorrect") is False or f.get("rootCauseCorrect") is False]
    if wrong:
        actions.append(f"{len(wrong)} diagnosis verdict(s) marked wrong: include them in the next retraining.")
    if escalated:
        actions.append(f"{len(escalated)} alert(s) escalated before acknowledgement: check the on-call rota.")
    if breaches:
        actions.append(f"Emergency deadlines missed ({', '.join(breaches)}): review the fast track.")
    rolled_back = [c.id for c in changes if c.rollback_reason]
    if rolled_back:
        actions.append(f"Change(s) rolled back ({', '.join(rolled_back)}): add a pre-deployment check.")
    if not actions and resolution is not None:
        actions.append("No follow-up suggested by the data; record what went well.")

    return {
        "state": "draft" if resolution is None else "ready for review",
        "dueBy": (incident.resolved_at + REVIEW_DUE).isoformat() if incident.resolved_at else None,
        "summary": (f"{sev} {incident.category.replace('_', ' ').lower()} incident on "
                    f"{', '.join(incident.services)}: {incident.error_count} error(s)."),
        "impact": {
            "services": incident.services,
            "errors": incident.error_count,
            "startedAt": incident.first_seen.isoformat(),
            "detectedAt": first_detected.isoformat() if first_detected else None,
            "resolvedAt": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "durationMinutes": round(rto["elapsedSeconds"] / 60, 1),
        },
        "rootCause": {
            "service": incident.root_cause.service if incident.root_cause else None,
            "issue": incident.root_cause.issue if incident.root_cause else None,
            "confidence": incident.root_cause.confidence if incident.root_cause else None,
            "template": (latest.get("evidence") or {}).get("template"),
        },
        "resolution": None if resolution is None else {
            "fix": resolution.fix_id or resolution.action, "suggestedFixWorked": resolution.suggested_fix_worked,
            "notes": resolution.notes, "by": incident.resolved_by,
        },
        "response": {
            "rto": rto,
            "minutesToAcknowledge": round((acked[0] - incident.first_seen).total_seconds() / 60, 1) if acked else None,
            "alerts": len(alerts),
            "escalatedAlerts": len(escalated),
            "changes": [{"id": c.id, "type": c.type.value, "state": c.state.value, "title": c.title} for c in changes],
            "deadlinesMissed": breaches,
        },
        "actionItems": actions,
    }


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))

"""Impact analysis and the 1–10 risk score. Pure.

The score is 1 plus the points of each factor, capped at 10, then raised to the floor the seed's matrix
demands for what the change could do:

| level    | score | the matrix says                             | floor applied when                              |
|----------|-------|---------------------------------------------|-------------------------------------------------|
| CRITICAL | 9–10  | system-wide outage or data-loss risk        | data-loss risk or irreversible rollback; or the |
|          |       |                                             | change reaches ≥ half the known services and    |
|          |       |                                             | takes them down for a while                     |
| HIGH     | 7–8   | major disruption or security risk           | PHI/HIPAA controls, security; or every user     |
|          |       |                                             | loses service for a while                       |
| MEDIUM   | 4–6   | limited impact with a workaround            | (points only)                                   |
| LOW      | 1–3   | one service                                 | (points only)                                   |

Factors and their points (each is returned with its contribution, so the number can be argued with):
dependency reach (0–3 for dependents reached transitively, +0–2 for extra directly changed services),
rollback complexity (0–3), estimated downtime (0–3), user impact (0–2), PHI (+2), security (+1) and the
history of similar changes (−1 for ≥ 3 clean runs, +1 when any failed, +2 when half or more failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from triage.changes.config import DependencyGraph
from triage.changes.schemas import (
    CloseCode,
    ImpactInput,
    RiskAssessment,
    RiskFactor,
    RiskLevel,
    RollbackComplexity,
    UserImpact,
)

SYSTEM_WIDE_SHARE = 0.5
SYSTEM_WIDE_MIN_SERVICES = 4


@dataclass(frozen=True, slots=True)
class PastChange:
    """A finished change on some of the same services, for the history factor."""

    change_id: str
    services: tuple[str, ...]
    outcome: CloseCode


def level_of(score: int) -> RiskLevel:
    if score >= 9:
        return RiskLevel.CRITICAL
    if score >= 7:
        return RiskLevel.HIGH
    if score >= 4:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def _reach_points(dependents: int) -> int:
    if dependents == 0:
        return 0
    if dependents <= 2:
        return 1
    if dependents <= 5:
        return 2
    return 3


def _downtime_points(minutes: float) -> int:
    if minutes <= 0:
        return 0
    if minutes <= 5:
        return 1
    if minutes <= 30:
        return 2
    return 3


_ROLLBACK_POINTS = {
    RollbackComplexity.AUTOMATED: 0,
    RollbackComplexity.SIMPLE: 1,
    RollbackComplexity.COMPLEX: 2,
    RollbackComplexity.IRREVERSIBLE: 3,
}
_USER_POINTS = {UserImpact.NONE: 0, UserImpact.INTERNAL: 0, UserImpact.PARTIAL: 1, UserImpact.ALL: 2}


def assess_risk(
    *,
    services: Sequence[str],
    impact: ImpactInput,
    graph: DependencyGraph,
    history: Iterable[PastChange] = (),
    now: datetime,
    assessed_by: str,
) -> RiskAssessment:
    impacted = graph.impacted_by(services)
    direct = len(dict.fromkeys(services))
    dependents = len(impacted) - direct
    known = graph.services | set(services)
    share = len(impacted) / len(known) if known else 1.0
    system_wide = len(known) >= SYSTEM_WIDE_MIN_SERVICES and share >= SYSTEM_WIDE_SHARE

    factors: list[RiskFactor] = []
    reach = _reach_points(dependents) + min(direct - 1, 2)
    factors.append(
        RiskFactor(
            name="dependency_reach",
            value=f"{direct} changed, {dependents} dependent",
            points=reach,
            note=(
                f"reaches {len(impacted)} of {len(known)} known services ({share:.0%})"
                + ("; system-wide" if system_wide else "")
            ),
        )
    )
    factors.append(
        RiskFactor(
            name="rollback_complexity",
            value=str(impact.rollback_complexity),
            points=_ROLLBACK_POINTS[impact.rollback_complexity],
            note="how hard it is to undo",
        )
    )
    factors.append(
        RiskFactor(
            name="estimated_downtime",
            value=f"{impact.estimated_downtime_minutes:g} min",
            points=_downtime_points(impact.estimated_downtime_minutes),
            note="0 / ≤5 / ≤30 / >30 minutes",
        )
    )
    factors.append(
        RiskFactor(
            name="user_impact",
            value=str(impact.user_impact),
            points=_USER_POINTS[impact.user_impact],
            note="who notices while it runs",
        )
    )
    factors.append(
        RiskFactor(
            name="phi",
            value=str(impact.phi).lower(),
            points=2 if impact.phi else 0,
            note="touches PHI or HIPAA controls" if impact.phi else "no PHI involved",
        )
    )
    if impact.security_risk:
        factors.append(
            RiskFactor(name="security", value="true", points=1, note="changes authentication or exposure")
        )
    factors.append(_history_factor(services, history))

    raw = max(1, min(10, 1 + sum(f.points for f in factors)))
    downtime = impact.estimated_downtime_minutes > 0
    # Floors for disruption (how big it is) and for security (what it touches), kept apart so the approval
    # policy can tell a major system change from a small one that touches PHI.
    disruption, why = raw, None
    if impact.data_loss_risk or impact.rollback_complexity is RollbackComplexity.IRREVERSIBLE:
        floor, reason = 9, "data-loss risk (CRITICAL)"
    elif system_wide and downtime:
        floor, reason = 9, "system-wide outage risk (CRITICAL)"
    elif impact.user_impact is UserImpact.ALL and downtime:
        floor, reason = 7, "major disruption: every user loses service (HIGH)"
    else:
        floor, reason = 1, None
    if floor > disruption:
        disruption, why = floor, reason
    score = disruption
    if (impact.phi or impact.security_risk) and score < 7:
        score, why = 7, "security / PHI risk (HIGH)"
    return RiskAssessment(
        score=score,
        level=level_of(score),
        factors=tuple(factors),
        impacted_services=tuple(impacted),
        floor_reason=why,
        disruption_score=disruption,
        assessed_at=now,
        assessed_by=assessed_by,
    )


def _history_factor(services: Sequence[str], history: Iterable[PastChange]) -> RiskFactor:
    wanted = set(services)
    similar = [p for p in history if wanted & set(p.services)]
    if not similar:
        return RiskFactor(name="history", value="none", points=0, note="no finished change on these services")
    failed = sum(p.outcome is not CloseCode.SUCCESSFUL for p in similar)
    rate = failed / len(similar)
    if rate >= 0.5:
        points = 2
    elif failed:
        points = 1
    elif len(similar) >= 3:
        points = -1
    else:
        points = 0
    return RiskFactor(
        name="history",
        value=f"{failed}/{len(similar)} failed",
        points=points,
        note="similar changes = finished changes sharing a service",
    )

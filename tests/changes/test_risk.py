from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triage.changes.config import DependencyGraph
from triage.changes.risk import PastChange, assess_risk, level_of
from triage.changes.schemas import CloseCode, ImpactInput, RiskLevel, RollbackComplexity, UserImpact

NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)

#: service -> what it depends on. 8 services; postgres sits under everything but the two front ends' peers.
GRAPH = DependencyGraph({
    "web": ["api"],
    "mobile": ["api"],
    "api": ["auth", "records"],
    "records": ["postgres"],
    "auth": ["postgres"],
    "reports": ["postgres"],
    "billing": ["records"],
})


def score(services, history=(), **impact):
    return assess_risk(services=services, impact=ImpactInput(**impact), graph=GRAPH, history=history, now=NOW,
                       assessed_by="t")


def points(assessment) -> dict[str, int]:
    return {f.name: f.points for f in assessment.factors}


def test_reach_is_transitive_through_dependents() -> None:
    assert GRAPH.impacted_by(["postgres"]) == ["postgres", "auth", "records", "reports", "api", "billing",
                                              "mobile", "web"]
    assert GRAPH.impacted_by(["auth"]) == ["auth", "api", "mobile", "web"]
    assert GRAPH.impacted_by(["web"]) == ["web"]
    assert GRAPH.related(["web"], ["postgres"]) and GRAPH.related(["postgres"], ["web"])
    assert not GRAPH.related(["web"], ["reports"])


def test_one_leaf_service_with_an_automated_rollback_is_low() -> None:
    a = score(["web"], rollback_complexity=RollbackComplexity.AUTOMATED)
    assert (a.score, a.level, a.impacted_services) == (1, RiskLevel.LOW, ("web",))
    assert sum(points(a).values()) == 0 and a.floor_reason is None


def test_limited_reach_without_downtime_is_medium() -> None:
    a = score(["auth"], rollback_complexity=RollbackComplexity.SIMPLE, user_impact=UserImpact.PARTIAL)
    assert points(a) == {"dependency_reach": 2, "rollback_complexity": 1, "estimated_downtime": 0,
                         "user_impact": 1, "phi": 0, "history": 0}
    assert (a.score, a.level) == (5, RiskLevel.MEDIUM)
    assert set(a.impacted_services) == {"auth", "api", "web", "mobile"}


def test_the_shared_database_with_downtime_is_critical() -> None:
    a = score(["postgres"], rollback_complexity=RollbackComplexity.COMPLEX, estimated_downtime_minutes=20,
              user_impact=UserImpact.ALL)
    assert points(a)["dependency_reach"] == 3 and points(a)["estimated_downtime"] == 2
    assert (a.score, a.level) == (10, RiskLevel.CRITICAL)
    assert len(a.impacted_services) == 8


def test_system_wide_reach_with_downtime_is_floored_at_critical() -> None:
    a = score(["auth"], estimated_downtime_minutes=3)  # 4 of 8 services for 3 minutes: 1+2+1+1 = 5
    assert a.score == 9 and a.level is RiskLevel.CRITICAL and "system-wide" in a.floor_reason


def test_phi_is_a_security_risk_floored_at_high() -> None:
    a = score(["reports"], rollback_complexity=RollbackComplexity.AUTOMATED, phi=True)
    assert points(a)["phi"] == 2
    assert (a.score, a.level) == (7, RiskLevel.HIGH) and "PHI" in a.floor_reason


def test_irreversible_change_is_a_data_loss_risk() -> None:
    a = score(["web"], rollback_complexity=RollbackComplexity.IRREVERSIBLE)
    assert (a.score, a.level) == (9, RiskLevel.CRITICAL) and "data-loss" in a.floor_reason
    assert score(["web"], data_loss_risk=True).level is RiskLevel.CRITICAL


def test_every_user_down_is_major_disruption() -> None:
    a = score(["web"], estimated_downtime_minutes=2, user_impact=UserImpact.ALL)
    assert a.score == 7 and a.level is RiskLevel.HIGH


def test_history_of_similar_changes_moves_the_score() -> None:
    base = dict(rollback_complexity=RollbackComplexity.SIMPLE, user_impact=UserImpact.PARTIAL)
    clean = [PastChange(f"CHG-{i}", ("auth",), CloseCode.SUCCESSFUL) for i in range(3)]
    bad = [PastChange("CHG-1", ("auth", "api"), CloseCode.ROLLED_BACK),
           PastChange("CHG-2", ("auth",), CloseCode.UNSUCCESSFUL),
           PastChange("CHG-3", ("auth",), CloseCode.SUCCESSFUL)]
    unrelated = [PastChange("CHG-9", ("billing",), CloseCode.ROLLED_BACK)]
    assert score(["auth"], history=clean, **base).score == 4
    assert score(["auth"], history=bad, **base).score == 7
    assert score(["auth"], history=bad[2:] + bad[:1], **base).score == 7  # 1 of 2 failed: +2
    assert score(["auth"], history=clean + bad[:1], **base).score == 6  # 1 of 4 failed: +1
    assert score(["auth"], history=unrelated, **base).score == 5
    factor = next(f for f in score(["auth"], history=bad, **base).factors if f.name == "history")
    assert factor.value == "2/3 failed"


def test_several_changed_services_and_unknown_services() -> None:
    assert score(["web", "mobile"], rollback_complexity=RollbackComplexity.AUTOMATED).score == 2
    assert score(["brand-new"], rollback_complexity=RollbackComplexity.AUTOMATED).score == 1


@pytest.mark.parametrize(("s", "level"), [(1, "LOW"), (3, "LOW"), (4, "MEDIUM"), (6, "MEDIUM"), (7, "HIGH"),
                                          (8, "HIGH"), (9, "CRITICAL"), (10, "CRITICAL")])
def test_matrix_levels(s: int, level: str) -> None:
    assert level_of(s) == level


def test_explain_lists_the_factors() -> None:
    text = score(["postgres"], estimated_downtime_minutes=40).explain()
    assert "dependency_reach" in text and "estimated_downtime = 40 min" in text and "floor" in text

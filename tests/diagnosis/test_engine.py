from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.diagnosis.engine import Classification, DiagnosisEngine, EngineState, IncidentIndex, RankedCause
from triage.diagnosis.schemas import ErrorEvent, Severity
from triage.incidents.grouping import IncidentGrouper
from triage.knowledge.base import KnowledgeBase
from triage.knowledge.pack import load_pack
from triage.parsing import TemplateParser

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase(load_pack())


def _event(service: str, message: str, minutes: float = 0, **kw) -> ErrorEvent:
    return ErrorEvent(service=service, timestamp=T0 + timedelta(minutes=minutes), message=message, **kw)


def test_known_error_without_a_model_gets_pattern_category_fixes_and_runbook(knowledge: KnowledgeBase) -> None:
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper())
    out = engine.diagnose(_event("orders", "HikariPool-1 - Connection is not available, request timed out after 30000ms"
                                 " (connection pool exhausted)"))
    d = out.diagnosis
    assert d.category == "DATABASE_CONNECTION" and d.severity is Severity.HIGH
    assert d.root_cause.service == "orders" and "pool" in d.root_cause.issue
    assert [f.priority for f in d.suggested_fixes] == list(range(1, len(d.suggested_fixes) + 1))
    assert d.knowledge_base_articles[0].article_id == "rb-database-connection"
    assert d.evidence.known_pattern == "db-pool-exhausted" and d.evidence.template_id.startswith("T")
    assert d.incident_id is not None and d.affected_services == ["orders"]
    wire = d.model_dump(mode="json")
    for key in ("errorId", "detectedAt", "severity", "category", "affectedServices", "rootCause", "suggestedFixes",
                "relatedIncidents", "knowledgeBaseArticles", "evidence", "modelVersions"):
        assert key in wire
    assert set(wire["suggestedFixes"][0]) >= {"action", "priority", "estimatedTime", "risk"}


def test_phi_is_redacted_before_it_reaches_the_diagnosis(knowledge: KnowledgeBase) -> None:
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper())
    out = engine.diagnose(_event("records", "access denied for patient john.doe@example.com ssn 123-45-6789",
                                 stack_trace="at Records.read(ssn=123-45-6789)"))
    text = out.diagnosis.model_dump_json() + out.parsed.content
    assert "123-45-6789" not in text and "john.doe@example.com" not in text


def test_model_decides_when_present_and_unknown_falls_back_to_the_pack(knowledge: KnowledgeBase) -> None:
    class Fixed:
        name, version = "errors", "7"

        def __init__(self, category: str) -> None:
            self.category = category

        def classify(self, *, content, template, level, service) -> Classification:
            return Classification(self.category, 0.9, Severity.MEDIUM, 0.8, "model:errors@7")

    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper(),
                             state=EngineState(classifier=Fixed("NETWORK"), model_versions={"errors": "7"}))
    d = engine.diagnose(_event("a", "weird failure in widget 42")).diagnosis
    assert d.category == "NETWORK" and d.model_versions == {"errors": "7"}
    engine.set_state(EngineState(classifier=Fixed("UNKNOWN")))
    d = engine.diagnose(_event("a", "java.lang.OutOfMemoryError: Java heap space")).diagnosis
    assert d.category == "RESOURCE_EXHAUSTION" and d.evidence.model_scores["decidedBy"] == "pattern:oom"


def test_cross_service_incident_uses_the_latest_ranking(knowledge: KnowledgeBase) -> None:
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper())
    first = engine.diagnose(_event("frontend", "Read timed out calling cart")).diagnosis
    engine.state.causes[first.incident_id] = RankedCause("cart", "CPU contention on cart", 0.83, ("frontend",),
                                                         (("cart", 0.9), ("frontend", 0.2)))
    second = engine.diagnose(_event("cart", "Read timed out talking to redis", minutes=1)).diagnosis
    assert second.incident_id == first.incident_id
    assert second.root_cause.service == "cart" and second.root_cause.confidence == pytest.approx(0.83)
    assert second.affected_services[0] == "cart" and "frontend" in second.affected_services


def test_related_incidents_come_from_the_index(knowledge: KnowledgeBase) -> None:
    index = IncidentIndex([{"incident_id": "INC-OLD", "title": "Database connection pool exhausted on orders",
                            "text": "fixed by restarting the leaking service", "status": "resolved"}])
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper(), state=EngineState(incident_index=index))
    d = engine.diagnose(_event("orders", "connection pool exhausted")).diagnosis
    assert [r.incident_id for r in d.related_incidents] == ["INC-OLD"]


def test_recent_pattern_findings_reach_the_evidence(knowledge: KnowledgeBase) -> None:
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=knowledge, grouper=IncidentGrouper())
    first = engine.diagnose(_event("ledger", "shard 7 refused write")).diagnosis
    assert "recentPattern" not in first.evidence.model_scores
    engine.state.patterns = {("ledger", first.evidence.template_id): ("new,burst", 6.25)}
    second = engine.diagnose(_event("ledger", "shard 9 refused write", minutes=1)).diagnosis
    assert second.evidence.template_id == first.evidence.template_id
    assert second.evidence.model_scores["recentPattern"] == {"kinds": ["new", "burst"], "score": 6.25}
    assert any("new, burst in ledger's recent errors" in n for n in second.evidence.notes)
    other = engine.diagnose(_event("billing", "shard 9 refused write", minutes=1)).diagnosis
    assert "recentPattern" not in other.evidence.model_scores  # flagged for ledger, not billing

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime

from triage.diagnosis.engine import DiagnosisEngine
from triage.diagnosis.schemas import DiagnosisNotice, ErrorEvent
from triage.incidents.grouping import IncidentGrouper
from triage.knowledge.base import KnowledgeBase
from triage.knowledge.pack import load_pack
from triage.parsing import TemplateParser


def _diagnosis():
    engine = DiagnosisEngine(parser=TemplateParser(), knowledge=KnowledgeBase(load_pack()), grouper=IncidentGrouper())
    event = ErrorEvent(service="orders", timestamp=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
                       message="HikariPool-1 - Connection is not available, request timed out after 30000ms")
    return engine.diagnose(event).diagnosis


def test_a_notice_carries_what_reactions_read_and_the_body_as_answered() -> None:
    d = _diagnosis()
    body = d.model_dump_json()
    notice = DiagnosisNotice.of(d, body)
    assert (notice.error_id, notice.incident_id, notice.detected_at) == (d.error_id, d.incident_id, d.detected_at)
    assert (notice.severity, notice.category) == (d.severity.value, d.category)
    assert notice.affected_services == tuple(d.affected_services) == ("orders",)
    assert (notice.root_service, notice.root_issue, notice.root_confidence) == (
        d.root_cause.service, d.root_cause.issue, d.root_cause.confidence)
    assert json.loads(notice.body) == d.model_dump(mode="json")  # what an emergency change is opened from


def test_a_waiting_notice_is_far_fewer_objects_for_the_cyclic_gc_than_the_model() -> None:
    d = _diagnosis()
    notice = DiagnosisNotice.of(d, d.model_dump_json())

    def tracked(root: object) -> int:
        seen, todo = set(), [root]
        while todo:
            obj = todo.pop()
            if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, type):  # the data, not its classes
                continue
            seen.add(id(obj))
            todo.extend(gc.get_referents(obj))
        return len(seen)

    gc.collect()  # tuples of plain values are untracked by a collection, as under load
    assert tracked(notice) <= 2 < 10 <= tracked(d)

"""diagnose(event) -> Diagnosis. Pure: the parser, models, knowledge base and incident grouper are held in
memory and passed in; persisting what happened is the caller's job (see ``DiagnosisOutcome``).

Flow for one error: redact + template (parser) → classify category and severity (champion model, else
the known-pattern pack, else the log level) → match known patterns and rank fixes (knowledge base) →
group into an incident → root cause (the incident's latest cross-service ranking when it spans services,
else the erroring service itself) → related incidents and articles.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from triage.diagnosis.schemas import (
    ArticleRef,
    Diagnosis,
    ErrorEvent,
    Evidence,
    RelatedIncident,
    RootCause,
    Severity,
    SuggestedFix,
)
from triage.ingest.schemas import LogRecord
from triage.knowledge.base import KnowledgeBase
from triage.knowledge.schemas import KnownPattern
from triage.knowledge.search import TextIndex
from triage.modeling.taxonomy import UNKNOWN
from triage.parsing.schemas import ParsedEvent

_LEVEL_ALIASES = {
    "FATAL": "FATAL", "CRITICAL": "FATAL", "CRIT": "FATAL", "EMERG": "FATAL", "ALERT": "FATAL", "PANIC": "FATAL",
    "SEVERE": "ERROR", "ERROR": "ERROR", "ERR": "ERROR",
    "WARN": "WARN", "WARNING": "WARN",
    "INFO": "INFO", "NOTICE": "INFO", "DEBUG": "DEBUG", "TRACE": "DEBUG",
}
_LEVEL_SEVERITY = {"FATAL": Severity.HIGH, "ERROR": Severity.MEDIUM, "WARN": Severity.LOW, "INFO": Severity.LOW,
                   "DEBUG": Severity.LOW}
_PHI_PLACEHOLDER = re.compile(r"<(SSN|MRN|EMAIL|PHONE|DOB|PATIENT|NAME|ADDRESS)>")


def normalise_level(level: str | None) -> str:
    return _LEVEL_ALIASES.get((level or "ERROR").strip().upper(), "ERROR")


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    category_confidence: float
    severity: Severity
    severity_confidence: float
    source: str  # which model or rule decided: "model:<name>@<version>", "pattern:<id>", "level"


class OpenIncidentView(Protocol):
    incident_id: str
    services: set[str]
    severity: Severity


class AssignmentView(Protocol):
    incident_id: str | None
    opened: bool
    incident: OpenIncidentView | None


class Grouper(Protocol):
    """Assigns an error to an incident (``triage.incidents.grouping.IncidentGrouper``, injected: incidents
    sit above diagnosis, so the engine knows them only by this shape)."""

    def assign(
        self, *, service: str, at: datetime, severity: Severity, category: str, trace_id: str | None = None
    ) -> AssignmentView: ...


class ErrorClassifier(Protocol):
    """What the engine needs from a trained classifier (adapters wrap the registered champion)."""

    name: str
    version: str

    def classify(self, *, content: str, template: str, level: str, service: str) -> Classification: ...


@dataclass(frozen=True, slots=True)
class RankedCause:
    """The latest cross-service root-cause ranking of one incident (computed off the request path)."""

    service: str
    issue: str
    confidence: float
    affected: tuple[str, ...]
    ranking: tuple[tuple[str, float], ...] = ()
    computed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DiagnosisOutcome:
    """Everything one diagnosis changed, for the caller to persist."""

    diagnosis: Diagnosis
    event: ErrorEvent
    parsed: ParsedEvent
    level: str
    assignment: AssignmentView


class IncidentIndex:
    """Past incidents searchable by text (title, root cause, resolution). Rebuilt periodically."""

    def __init__(self, incidents: Sequence[Mapping[str, str]] = ()) -> None:
        self.items = list(incidents)
        self._index = TextIndex([f"{i.get('title', '')}\n{i.get('text', '')}" for i in self.items])

    def search(self, text: str, k: int, exclude: str | None) -> list[RelatedIncident]:
        found = []
        for hit in self._index.search(text, k=k + 1):
            item = self.items[hit.index]
            if item.get("incident_id") == exclude:
                continue
            found.append(
                RelatedIncident(
                    incident_id=item["incident_id"], title=item.get("title", ""), similarity=round(hit.score, 3),
                    status=item.get("status"), resolution=item.get("resolution"),
                )
            )
        return found[:k]


@dataclass
class EngineState:
    """Mutable, in-memory context the engine reads: swapped wholesale by the runtime when it changes."""

    classifier: ErrorClassifier | None = None
    model_versions: dict[str, str] = field(default_factory=dict)
    incident_index: IncidentIndex = field(default_factory=IncidentIndex)
    causes: dict[str, RankedCause] = field(default_factory=dict)  # incident id -> latest ranking
    #: (service, template id) -> (kinds, score) from the pattern models over recent errors, e.g.
    #: ("burst,recurring", 7.2); replaced wholesale by the runtime every few seconds.
    patterns: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)


class DiagnosisEngine:
    """Holds the parser, knowledge base and grouper; ``diagnose`` is safe to call from one thread at a time
    per engine (the runtime serialises calls with a lock; the work is a few hundred microseconds)."""

    def __init__(
        self,
        *,
        parser,  # triage.parsing.TemplateParser
        knowledge: KnowledgeBase,
        grouper: Grouper,
        state: EngineState | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 20_000,
    ) -> None:
        self.parser = parser
        self.knowledge = knowledge
        self.grouper = grouper
        self.state = state or EngineState()
        self.clock = clock
        self.lock = threading.Lock()
        self._classified: OrderedDict[tuple, Classification] = OrderedDict()
        self._lookups: OrderedDict[tuple, object] = OrderedDict()  # template-keyed pattern and search results
        self._cache_size = cache_size
        self._recent: dict[str, deque[dict]] = {}  # template id -> recent occurrences (evidence)

    def set_state(self, state: EngineState) -> None:
        """Swap models/indices; drops cached classifications made by the previous models."""
        with self.lock:
            self.state = state
            self._classified.clear()
            self._lookups.clear()

    def diagnose(self, event: ErrorEvent, *, error_id: str | None = None, source: str = "api") -> DiagnosisOutcome:
        with self.lock:
            return self._diagnose(event, error_id or new_error_id(), source)

    def _diagnose(self, event: ErrorEvent, error_id: str, source: str) -> DiagnosisOutcome:
        now = self.clock()
        level = normalise_level(event.level)
        record = LogRecord(
            source=source, line_no=0, content=event.message, timestamp=event.timestamp, level=level,
            host=event.host, service=event.service,
        )
        parsed = self.parser.parse_batch([record])[0]
        trace = self.parser.redact(event.stack_trace) if event.stack_trace else ""
        template = self.parser.template_text(parsed.template_id)
        signal_text = f"{parsed.content}\n{trace}" if trace else parsed.content
        pattern = self._match(parsed.template_id, template, signal_text, bool(trace))
        classification = self._classify(parsed, template, level, event.service, pattern, trace)
        severity = self._severity(classification, level, parsed.content, pattern)
        category = classification.category

        assignment = self.grouper.assign(
            service=event.service, at=event.timestamp, severity=severity, category=category, trace_id=event.trace_id
        )
        incident = assignment.incident
        if incident is not None and len(incident.services) >= 3 and severity.rank < Severity.HIGH.rank:
            severity = Severity.HIGH  # an error spreading across several services is at least HIGH
        if incident is not None and severity.rank > incident.severity.rank:
            incident.severity = severity  # the incident is as severe as its worst diagnosis

        cause = self.state.causes.get(assignment.incident_id or "")
        if cause is not None and incident is not None and len(incident.services) > 1:
            root = RootCause(service=cause.service, issue=cause.issue, confidence=round(cause.confidence, 3))
            affected = [cause.service, *[s for s in cause.affected if s != cause.service]]
            affected += sorted(s for s in incident.services if s not in affected)
        else:
            issue = pattern.probable_cause if pattern else _issue_from_template(category, template)
            root = RootCause(service=event.service, issue=issue,
                             confidence=round(classification.category_confidence, 3))
            affected = [event.service, *sorted(s for s in (incident.services if incident else ()) if s != event.service)]

        fixes = self.knowledge.rank_fixes(category, self.knowledge.candidate_fixes(category, pattern))
        suggested = [
            SuggestedFix(
                action=f.fix.action, priority=f.priority, estimated_time=_minutes(f.estimated_minutes),
                risk=f.fix.risk.value, fix_id=f.fix.fix_id, success_rate=round(f.stats.success_rate, 3),
            )
            for f in fixes
        ]
        # Search by template, not raw text: the same message shape finds the same articles, so it caches.
        lookup_key = (parsed.template_id, template, category, event.service, pattern.pattern_id if pattern else None)
        found = self._lookups.get(lookup_key)
        if found is None:
            query = f"{template}\n{trace[:500]}" if trace else template
            found = (
                self._articles(category, query),
                self.state.incident_index.search(f"{category} {event.service} {query}", k=4, exclude=None),
            )
            self._remember_lookup(lookup_key, found)
        articles = found[0]
        related = [r for r in found[1] if r.incident_id != assignment.incident_id][:3]
        notes = [] if parsed.template_id in self._recent else ["new template: first time this message shape is seen"]
        recent_pattern = self.state.patterns.get((event.service, parsed.template_id))
        if recent_pattern is not None:
            notes.append(f"pattern models: {recent_pattern[0].replace(',', ', ')} in {event.service}'s recent errors")
        if _PHI_PLACEHOLDER.search(parsed.content):
            notes.append("the message contained PHI, redacted before storage")
        evidence = Evidence(
            template_id=parsed.template_id,
            template=template,
            known_pattern=pattern.pattern_id if pattern else None,
            similar_events=list(self._remember(parsed, event, error_id)),
            model_scores={
                "category": category,
                "categoryConfidence": round(classification.category_confidence, 3),
                "severity": classification.severity.value,
                "severityConfidence": round(classification.severity_confidence, 3),
                "decidedBy": classification.source,
                **({"recentPattern": {"kinds": recent_pattern[0].split(","), "score": round(recent_pattern[1], 2)}}
                   if recent_pattern is not None else {}),
                **({"rootCauseRanking": [{"service": s, "score": round(v, 3)} for s, v in cause.ranking[:5]]}
                   if cause is not None and incident is not None and len(incident.services) > 1 else {}),
            },
            notes=notes,
        )
        diagnosis = Diagnosis(
            error_id=error_id,
            detected_at=now,
            severity=severity,
            category=category,
            affected_services=affected,
            root_cause=root,
            suggested_fixes=suggested,
            related_incidents=related,
            knowledge_base_articles=articles,
            incident_id=assignment.incident_id,
            evidence=evidence,
            model_versions=dict(self.state.model_versions),
        )
        return DiagnosisOutcome(diagnosis, event, parsed, level, assignment)

    # --- pieces ----------------------------------------------------------------------------------
    def _classify(
        self, parsed: ParsedEvent, template: str, level: str, service: str, pattern: KnownPattern | None, trace: str
    ) -> Classification:
        classifier = self.state.classifier
        key = (parsed.template_id, template, level, service, pattern.pattern_id if pattern else None)
        cached = self._classified.get(key)
        if cached is not None:
            self._classified.move_to_end(key)
            return cached
        if classifier is not None:
            text = f"{parsed.content}\n{trace.splitlines()[0]}" if trace else parsed.content
            result = classifier.classify(content=text, template=template, level=level, service=service)
            if result.category == UNKNOWN and pattern is not None:
                result = _from_pattern(pattern, level)  # the reviewed pack knows this one; the model does not
        elif pattern is not None:
            result = _from_pattern(pattern, level)
        else:
            result = Classification(UNKNOWN, 0.3, _LEVEL_SEVERITY.get(level, Severity.MEDIUM), 0.5, "level")
        self._classified[key] = result
        if len(self._classified) > self._cache_size:
            self._classified.popitem(last=False)
        return result

    @staticmethod
    def _severity(classification: Classification, level: str, content: str, pattern: KnownPattern | None) -> Severity:
        severity = classification.severity
        if pattern is not None and pattern.severity and Severity(pattern.severity).rank > severity.rank:
            severity = Severity(pattern.severity)  # a reviewed signature's severity is a floor, never lowered
        if level == "FATAL" and severity.rank < Severity.HIGH.rank:
            severity = Severity.HIGH
        if _PHI_PLACEHOLDER.search(content) and classification.category == "SECURITY":
            severity = Severity.CRITICAL  # possible PHI exposure: HIPAA clock starts at discovery
        return severity

    def _match(self, template_id: str, template: str, text: str, has_trace: bool) -> KnownPattern | None:
        """Known-pattern match, decided once per template (19+ regexes per message would dominate)."""
        if has_trace:  # a stack trace can name the cause (exception class): match the full text
            return self.knowledge.match(text)
        key = ("pattern", template_id, template)
        if key in self._lookups:
            self._lookups.move_to_end(key)
            return self._lookups[key]  # type: ignore[return-value]
        found = self.knowledge.match(text)
        self._remember_lookup(key, found)  # type: ignore[arg-type]
        return found

    def _remember_lookup(self, key: tuple, found: object) -> None:
        self._lookups[key] = found
        if len(self._lookups) > self._cache_size:
            self._lookups.popitem(last=False)

    def _articles(self, category: str, text: str) -> list[ArticleRef]:
        refs: list[ArticleRef] = []
        runbook = self.knowledge.runbook_for(category)
        if runbook is not None:
            refs.append(ArticleRef(article_id=runbook.article_id, title=runbook.title, kind="runbook", score=1.0))
        for hit in self.knowledge.search(text, k=3):
            if all(r.article_id != hit.article.article_id for r in refs):
                refs.append(ArticleRef(article_id=hit.article.article_id, title=hit.article.title,
                                       kind=hit.article.kind, score=round(hit.score, 3), link=hit.article.link))
        return refs[:4]

    def _remember(self, parsed: ParsedEvent, event: ErrorEvent, error_id: str) -> list[dict]:
        recent = self._recent.setdefault(parsed.template_id, deque(maxlen=3))
        similar = [dict(item) for item in recent]
        recent.append({"errorId": error_id, "service": event.service, "timestamp": event.timestamp.isoformat()})
        if len(self._recent) > 50_000:  # bound memory on template churn
            self._recent.pop(next(iter(self._recent)))
        return similar


_ERROR_ID_PREFIX = secrets.token_hex(4)  # random per process, so ids never repeat across restarts
_error_counter = itertools.count(1)


def new_error_id() -> str:
    """Unique, short and cheap: a per-process random prefix and a counter (os.urandom per request is slow
    on some virtual machines)."""
    return f"ERR-{_ERROR_ID_PREFIX}{next(_error_counter):08x}"


def _from_pattern(pattern: KnownPattern, level: str) -> Classification:
    severity = Severity(pattern.severity) if pattern.severity else _LEVEL_SEVERITY.get(level, Severity.MEDIUM)
    return Classification(pattern.category, 0.8, severity, 0.7, f"pattern:{pattern.pattern_id}")


def _issue_from_template(category: str, template: str) -> str:
    words = category.replace("_", " ").lower() if category != UNKNOWN else "error"
    return f"{words}: `{template[:160]}`"


def _minutes(value: int) -> str:
    return f"{value} minute" if value == 1 else f"{value} minutes"

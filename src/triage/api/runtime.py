"""What the running scorer holds in memory, built once in the app's lifespan: API keys, metrics, readiness
checks, the diagnosis engine (parser, models, knowledge base, incident grouper) and the store writer."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from triage.access.keys import ApiKey, KeyStore, KeyVerifier, split_key
from triage.api.committer import GroupCommitter
from triage.api.inbox import LogInbox
from triage.api.metrics import Metrics
from triage.api.worker_process import WorkerProcess
from triage.api.writer import BatchWriter
from triage.diagnosis.cause import rank_incident
from triage.diagnosis.engine import DiagnosisEngine, DiagnosisOutcome, EngineState, IncidentIndex
from triage.diagnosis.models import PATTERNS_NAME, ServedModels
from triage.diagnosis.recent import RecentErrors
from triage.diagnosis.schemas import DiagnosisNotice, ErrorEvent
from triage.errors import NotFound, summarize
from triage.features.store import FeatureStore
from triage.incidents.grouping import IncidentGrouper
from triage.incidents.schemas import FeedbackRequest, Incident, ResolveRequest
from triage.incidents.store import (
    JOURNAL_KIND,
    DiagnosisRow,
    IncidentState,
    IncidentStore,
    TimelineRow,
    apply_diagnosis_entries,
    diagnosis_payload,
)
from triage.knowledge.store import KnowledgeStore
from triage.recovery.journal import MIGRATIONS as JOURNAL_MIGRATIONS
from triage.recovery.journal import Journal, JournalEntry, record_position, replay_into, store_position
from triage.settings import Settings
from triage.storage.database import Database
from triage.threads import start_background

log = logging.getLogger("triage.api")

JOURNAL_STREAM = "api"  # the journal stream of everything the API accepted
UNKNOWN_KEY_TTL = 2.0  # seconds an unknown key id is remembered as unknown (limits the cost of probing)
RECENT_PATTERN_WINDOW = timedelta(minutes=15)  # the errors the pattern models look at, by event time
MAX_PARTIAL_ROUNDS = 5  # rankings in a row that may miss some of an incident's services before one is kept


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyStore
    incidents: IncidentStore
    knowledge: KnowledgeStore
    engine: DiagnosisEngine
    metrics: Metrics = field(default_factory=Metrics)
    writer: BatchWriter | None = None
    #: The store as the writer's thread alone opens it: one DuckDB instance kept, the file attached per flush
    #: (a new instance per flush cost ~35 ms of CPU, part of it holding the GIL the requests need).
    writer_db: Database | None = None
    _rca_store: FeatureStore | None = None  # the live root-cause ranking's (its thread's alone)
    #: Where the live root-cause ranking computes (pandas work that would otherwise hold the GIL for 100+ ms).
    _worker: WorkerProcess = field(default_factory=lambda: WorkerProcess(preload=(rank_incident.__module__,)))
    committer: GroupCommitter | None = None
    journal: Journal | None = None
    #: Called with each batch of stored diagnoses, off the request path (alerts, emergency changes, ...).
    reactions: list[Callable[[Sequence[DiagnosisNotice]], None]] = field(default_factory=list)
    reactor: BatchWriter | None = None
    models: ServedModels | None = None
    #: Log lines posted to /v1/logs, on disk until its background thread has ingested them.
    inbox: LogInbox | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    #: Recent errors, for live root-cause ranking and the pattern scan.
    _recent: RecentErrors = field(default_factory=lambda: RecentErrors(100_000))
    #: incident id -> (last_seen, services it had) when last ranked; an incident is ranked again when it grows.
    _ranked_at: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    #: incident id -> rounds in a row its ranking missed some of its services (their errors still arriving).
    _partial_rounds: dict[str, int] = field(default_factory=dict)
    _last_scanned: int = 0  # how many recent errors there had been at the last pattern scan
    readiness_checks: dict[str, Callable[[], str]] = field(default_factory=dict)
    #: Called (on the background thread) when another process swapped the store file in, e.g. a
    #: ``triage snapshot restore`` while serving: the app re-applies this API's journal (see app.py).
    on_store_replaced: Callable[[], None] | None = None
    _store_inode: int | None = None
    _verifier: KeyVerifier | None = None
    _unknown_keys: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        db = Database(settings.store_path)
        incidents = IncidentStore(db)
        db.migrate(JOURNAL_MIGRATIONS)
        journal = Journal(settings.journal_dir, JOURNAL_STREAM)
        # What was accepted (journaled) but not yet written when the last process died goes in first.
        with db.read() as session:
            position = store_position(session, JOURNAL_STREAM)
        replay_into(db, journal.read(after_seq=position),
                    lambda session, entries: apply_diagnosis_entries(incidents, session, entries),
                    stream=JOURNAL_STREAM)
        knowledge_store = KnowledgeStore(db)
        engine = build_engine(settings)
        runtime = cls(settings=settings, db=db, keys=KeyStore(db), incidents=incidents, knowledge=knowledge_store,
                      engine=engine, journal=journal)
        # Batches, not rows: each flush opens the store and checkpoints it, so flush about once a second.
        runtime.writer_db = Database(settings.store_path, keep_engine=True)
        runtime.writer = BatchWriter(runtime._persist, interval=settings.api_store_flush_seconds,
                                     on_flush=runtime._flushed)
        runtime.models = ServedModels(settings.models_dir / "served")
        runtime.reload_models()
        runtime.note_store_file()
        runtime._watcher = start_background(runtime._background, "triage-models-rca")
        runtime.inbox = LogInbox(settings)
        runtime.inbox.start()
        runtime.readiness_checks["inbox"] = runtime.inbox.check
        runtime.readiness_checks["models"] = runtime._check_models
        runtime.readiness_checks["registry"] = runtime._check_registry
        runtime.reactor = BatchWriter(runtime._react, interval=2.0, name="triage-reactions")
        runtime.committer = GroupCommitter(
            journal, runtime.writer.put_many,
            sync_interval=settings.api_journal_sync_seconds if settings.api_journal_sync == "interval" else None,
        )
        runtime.readiness_checks["journal"] = runtime.committer.check
        runtime.readiness_checks["store"] = runtime._check_store
        runtime.readiness_checks["writer"] = runtime._check_writer
        runtime.reload_keys()
        return runtime

    def stop(self) -> None:
        """Flush what was accepted and release the store."""
        self._stopping.set()
        if self.inbox is not None:
            self.inbox.stop()  # lets a running ingest commit (a kill would be safe too)
        if self.committer is not None:
            self.committer.stop()
        if self.journal is not None:
            self.journal.close()  # the files it keeps open between appends
        if self.writer is not None:
            self.writer.stop()
        if self.writer_db is not None:
            self.writer_db.close()
        if self._rca_store is not None:
            self._rca_store.db.close()
        self._worker.close()
        if self.reactor is not None:
            self.reactor.stop()

    # --- diagnosis --------------------------------------------------------------------------------
    async def diagnose(self, event: ErrorEvent) -> tuple[DiagnosisOutcome, str]:
        """Diagnose, journal durably, then return the outcome and its JSON; the store write happens in the
        background."""
        outcome = self.engine.diagnose(event)
        body = outcome.diagnosis.model_dump_json()
        self._recent.append(event.timestamp, event.service, outcome.level, outcome.parsed.template_id,
                            outcome.diagnosis.evidence.template or "", outcome.parsed.content)
        assert self.committer is not None
        # A notice alone waits for the store writer and reactions (1-3 s, thousands of them under load), not the
        # outcome or even the diagnosis model: every collection of the cyclic GC walks what waits (see the notice).
        d = outcome.diagnosis
        await self.committer.submit(JOURNAL_KIND, _payload(outcome, body), context=DiagnosisNotice.of(d, body))
        self.metrics.count_diagnosis(d.severity.value, d.category)
        return outcome, body

    def _persist(self, batch: list[tuple[JournalEntry, DiagnosisNotice | None]]) -> None:
        entries = [entry for entry, _ in batch]
        if self.journal is not None:
            self.journal.sync()  # the store must never hold an entry the journal could still lose
        with (self.writer_db or self.db).write() as session:
            position = store_position(session, JOURNAL_STREAM)
            todo = entries
            if self.journal is not None and entries[0].seq > position + 1:  # the store was restored meanwhile:
                todo = [*self.journal.read(after_seq=position, upto_seq=entries[0].seq - 1), *entries]  # refill
            apply_diagnosis_entries(self.incidents, session, todo)
            if entries[-1].seq > position:  # never back (a catch-up after a restore may be ahead)
                record_position(session, JOURNAL_STREAM, entries[-1])
        if self.reactions and self.reactor is not None:
            self.reactor.put_many([notice for _, notice in batch if notice is not None])

    def _react(self, notices: list[DiagnosisNotice]) -> None:
        for reaction in self.reactions:
            try:
                reaction(notices)
            except Exception:  # one failing reaction must not stop the others or retry the batch forever
                log.exception("diagnosis reaction failed", extra={"reaction": getattr(reaction, "__name__", "?")})

    # --- analyst actions --------------------------------------------------------------------------
    def resolve_incident(self, incident_id: str, request: ResolveRequest, actor: str) -> Incident:
        """Close the incident, credit or debit the fixes in the knowledge base, refresh related search."""
        assert self.writer is not None
        self.writer.drain(10.0)
        now = utcnow()
        incident = self.incidents.resolve(incident_id, request, actor=actor, now=now)
        minutes = max(1.0, (now - incident.first_seen).total_seconds() / 60)
        suggested = self._top_suggested_fix(incident_id)
        outcomes = []
        if request.fix_id:
            outcomes.append((incident.category, request.fix_id, True, minutes))
        if suggested and suggested != request.fix_id:
            outcomes.append((incident.category, suggested, request.suggested_fix_worked,
                             minutes if request.suggested_fix_worked else None))
        if outcomes:
            self.knowledge.record_outcomes(outcomes)
        self.engine.grouper.close(incident_id)
        self.refresh_knowledge()
        return incident

    def record_feedback(self, error_id: str, request: FeedbackRequest, actor: str) -> str | None:
        assert self.writer is not None
        self.writer.drain(10.0)
        incident_id = self.incidents.add_feedback(error_id, request, actor=actor, now=utcnow())
        if request.fix_id and request.fix_worked is not None:
            category = request.correct_category or self.incidents.diagnosis(error_id).get("category", "UNKNOWN")
            self.knowledge.record_outcomes([(category.upper(), request.fix_id, request.fix_worked, None)])
            self.refresh_knowledge()
        return incident_id

    def refresh_knowledge(self) -> None:
        """Rebuild the knowledge base's statistics and the incident index, then swap them in."""
        knowledge = self.knowledge.knowledge_base(self.engine.knowledge.pack)
        index = _incident_index(self.incidents)
        state = self.engine.state
        self.engine.knowledge = knowledge
        self.engine.set_state(EngineState(classifier=state.classifier, model_versions=state.model_versions,
                                          incident_index=index, causes=state.causes))

    def _top_suggested_fix(self, incident_id: str) -> str | None:
        detail = self.incidents.get(incident_id)
        for body in reversed(detail.diagnoses):
            fixes = body.get("suggestedFixes") or []
            if fixes:
                return fixes[0].get("fixId")
        return None

    def _flushed(self, items: int, seconds: float) -> None:
        self.metrics.store_flush_seconds.observe(seconds)

    def _check_writer(self) -> str:
        assert self.writer is not None
        if self.writer.last_error:
            raise RuntimeError(f"store writes failing: {self.writer.last_error}")
        return f"{self.writer.backlog} waiting, {self.writer.flushed} written"

    # --- keys -------------------------------------------------------------------------------------
    def reload_keys(self) -> None:
        bootstrap = self.settings.api_bootstrap_key
        verifier = self.keys.verifier().with_bootstrap(bootstrap.get_secret_value() if bootstrap else None)
        with self._lock:
            self._verifier = verifier
            self._unknown_keys.clear()

    def known_key(self, secret: str) -> ApiKey | None:
        """The key's record if it is valid and already in memory (the hot path: no I/O)."""
        assert self._verifier is not None
        return self._verifier.verify(secret)

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key's record if ``secret`` is valid. In memory, except the first sight of a new key id."""
        verifier = self._verifier
        assert verifier is not None
        parsed = split_key(secret)
        if parsed is None:
            return None
        if not verifier.knows(parsed[0]):
            now = time.monotonic()
            if now - self._unknown_keys.get(parsed[0], -UNKNOWN_KEY_TTL) < UNKNOWN_KEY_TTL:
                return None
            found = self.keys.lookup(parsed[0])  # a key created after start
            if found is None:
                with self._lock:
                    if len(self._unknown_keys) > 10_000:
                        self._unknown_keys.clear()
                    self._unknown_keys[parsed[0]] = now
                return None
            verifier.add(*found)
        return verifier.verify(secret)

    def forget_key(self, key_id: str) -> None:
        """Drop a revoked key from memory (called by the revoke endpoint)."""
        self.reload_keys()

    # --- models -----------------------------------------------------------------------------------
    def reload_models(self) -> bool:
        """Load champions whose served copy changed and swap them into the engine (no request waits)."""
        assert self.models is not None
        changed = self.models.poll(on_failure=lambda name, _: self.metrics.model_reload_failures.labels(name).inc())
        if changed:
            state = self.engine.state
            versions = self.models.versions()
            self.engine.set_state(EngineState(classifier=self.models.classifier(), model_versions=versions,
                                              incident_index=state.incident_index, causes=state.causes,
                                              patterns=state.patterns))
            self.metrics.set_model_versions(versions)
            log.info("models in service", extra={"models": versions})
        return changed

    def _background(self, interval: float = 2.0, max_share: float = 0.1) -> None:
        """Every ``interval``: notice a store file another process swapped in (one stat). Every few seconds:
        follow champion moves, and rank the services of multi-service incidents.

        A round of the latter is pandas work that holds the GIL, stalling requests: the ranking computes in a
        worker process, and the pause after a round grows with the CPU this thread spent on the rest (the
        store query, building the frames, the pattern scan), so it holds the GIL at most ``max_share`` of the
        time."""
        next_round = 0.0
        while not self._stopping.wait(interval):
            try:
                self.follow_store_file()
            except Exception:
                log.exception("catching up with a replaced store failed")
            if time.monotonic() < next_round:
                continue
            started = time.thread_time()  # this thread's CPU: the ranking itself computes in the worker process
            try:
                self.reload_models()
            except Exception:  # keep watching; the failure shows in /readyz via ServedModels.errors
                log.exception("model reload failed")
            try:
                self.rank_open_incidents()
            except Exception:
                log.exception("live root-cause ranking failed")
            try:
                self.scan_recent_patterns()
            except Exception:
                log.exception("recent pattern scan failed")
            cost = time.thread_time() - started
            next_round = time.monotonic() + cost * (1 - max_share) / max_share - interval

    def note_store_file(self) -> None:
        """Remember which store file this API works on (after start-up, and after a restore it made)."""
        self._store_inode = self.db.inode()

    def follow_store_file(self) -> bool:
        """True (after calling ``on_store_replaced``) when the store file is another one than last noted."""
        inode = self.db.inode()
        if inode is None or inode == self._store_inode:
            return False
        if self._store_inode is None:  # first look
            self._store_inode = inode
            return False
        log.warning("the store file was replaced by another process; re-applying this API's journal")
        self._store_inode = inode
        if self.on_store_replaced is not None:
            self.on_store_replaced()
        return True

    def scan_recent_patterns(self) -> int:
        """Run the served pattern champion over the last RECENT_PATTERN_WINDOW of errors the scorer has
        seen; the engine's next diagnoses of a flagged (service, template) say so. Returns how many are
        flagged (0 without a pattern champion)."""
        if self.models is None or self._recent.appended == self._last_scanned:
            return len(self.engine.state.patterns)  # nothing new since the last scan
        if not self.models.has(PATTERNS_NAME):
            self.engine.state.patterns = {}
            return 0
        self._last_scanned = self._recent.appended
        recent = self._recent.frame()
        recent = recent[recent["ts"] >= recent["ts"].max() - RECENT_PATTERN_WINDOW]
        findings = self.models.scan(recent[["ts", "service", "level", "template_id"]]).findings()
        self.engine.state.patterns = {
            (row.service, row.template_id): (row.kinds, float(row.score)) for row in findings.itertuples()
        }
        return len(self.engine.state.patterns)

    def _template_texts(self, template_ids: Iterable[str]) -> dict[str, str]:
        """Template id -> its text (the id itself when the parser does not know it)."""
        texts = {}
        with self.engine.lock:  # the parser is the engine's: read it between diagnoses
            for template_id in template_ids:
                try:
                    texts[template_id] = self.engine.parser.template_text(template_id)
                except NotFound:
                    texts[template_id] = template_id
        return texts

    def rank_open_incidents(self) -> int:
        """Root-cause ranking for each open incident spanning services that changed since it was last
        ranked; the engine's next diagnoses of it carry the result. Returns how many were ranked."""
        pending = [
            (i.incident_id, set(i.services), i.first_seen, i.last_seen)
            for i in list(self.engine.grouper.open.values())
            if len(i.services) > 1 and self._ranked_at.get(i.incident_id) != (i.last_seen, len(i.services))
        ]
        if not pending:
            return 0
        # The RCA names an issue after its template, so both sources carry template text in template_id.
        recent = self._recent.frame().drop(columns=["template_id"]).rename(columns={"template": "template_id"})
        if self._rca_store is None:  # this thread's own: one DuckDB instance kept, as for the writer
            self._rca_store = FeatureStore(self.settings, keep_engine=True)
        store = self._rca_store
        ranked, timeline = 0, []
        for incident_id, services, first_seen, last_seen in pending:
            since, until = first_seen - timedelta(minutes=32), last_seen + timedelta(minutes=5)
            stored = store.events(service=sorted(services), since=since.replace(tzinfo=None),
                                  until=until.replace(tzinfo=None),
                                  columns=["ts", "service", "level", "template_id", "content"], limit=200_000)
            if not stored.empty:
                stored["ts"] = pd.to_datetime(stored["ts"]).dt.tz_localize(UTC)
                stored["template_id"] = stored["template_id"].map(self._template_texts(stored["template_id"].unique()))
            mine = recent[recent["service"].isin(services)]  # what rank_incident keeps anyway, before the copy
            events = pd.concat([stored, mine], ignore_index=True) if not stored.empty else mine
            cause = self._worker.run(rank_incident, events, services=services, first_seen=first_seen,
                                     computed_at=utcnow())
            covered = {s for s, _ in cause.ranking} if cause is not None else set()
            # A ranking that misses one of the incident's services (its errors still arriving, or not yet in
            # the store's windows) is redone next round, a few times, rather than kept.
            partial = self._partial_rounds.get(incident_id, 0) + 1 if covered < services else 0
            self._partial_rounds[incident_id] = partial
            if partial == 0 or partial >= MAX_PARTIAL_ROUNDS:
                self._ranked_at[incident_id] = (last_seen, len(services))
            if cause is None:
                continue
            previous = self.engine.state.causes.get(incident_id)
            self.engine.state.causes[incident_id] = cause
            ranked += 1
            if previous is None or previous.service != cause.service:
                timeline.append(TimelineRow(
                    incident_id, cause.computed_at, "rca",
                    f"root cause: {cause.service} ({cause.confidence:.0%}): {cause.issue}",
                    details={"ranking": [{"service": s, "score": round(v, 3)} for s, v in cause.ranking[:5]]},
                ))
        if timeline:
            with store.db.write() as session:
                self.incidents.write_batch(timeline=timeline, session=session)
        return ranked

    def _check_models(self) -> str:
        assert self.models is not None
        classifier = self.engine.state.classifier
        if classifier is not None:  # one real inference, as a request would do
            result = classifier.classify(content="Connection refused", template="Connection refused",
                                         level="ERROR", service="readyz")
            return f"{self.models.describe()}; inference ok ({result.category})"
        if self.models.errors:
            raise RuntimeError(self.models.describe())
        return self.models.describe()

    def _check_registry(self) -> str:
        uri = self.settings.tracking_uri
        if not uri.startswith("sqlite:///"):
            return f"not checked ({uri.split(':', 1)[0]} tracking store)"
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            return "no registry yet (nothing trained)"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as con:
            count = con.execute("SELECT count(*) FROM registered_models").fetchone()[0]
        return f"{count} registered model(s)"

    # --- readiness --------------------------------------------------------------------------------
    def _check_store(self) -> str:
        with self.db.read() as session:
            count = session.scalar("SELECT count(*) FROM schema_migrations")
        return f"{count} migrations applied"

    def readiness(self) -> list[CheckResult]:
        results = []
        for name, check in self.readiness_checks.items():
            start = time.perf_counter()
            try:
                detail, ok = check(), True
            except Exception as exc:  # a failing check is reported, not raised
                detail, ok = summarize(exc), False
            results.append(CheckResult(name, ok, detail, time.perf_counter() - start))
        return results


def _payload(outcome: DiagnosisOutcome, body: str) -> dict:
    """The journal payload of one diagnosis (``body`` is its JSON, already made for the response).

    The incident timeline records what changes an incident (opened, a service joined, severity rose),
    not every error: those are in the incident's diagnoses.
    """
    d = outcome.diagnosis
    event = outcome.event
    row = DiagnosisRow(
        error_id=d.error_id, incident_id=d.incident_id, detected_at=d.detected_at, event_ts=event.timestamp,
        service=event.service, level=outcome.level, severity=d.severity.value, category=d.category,
        template_id=outcome.parsed.template_id, content=outcome.parsed.content, body=body,
    )
    assignment = outcome.assignment
    incident = assignment.incident
    if incident is None:
        return diagnosis_payload(row, None, ())
    timeline = []
    what = {"errorId": d.error_id, "template": d.evidence.template}
    if assignment.opened:
        timeline.append(TimelineRow(incident.incident_id, d.detected_at, "opened",
                                    f"{d.severity.value} {d.category} on {event.service}", details=what))
    if assignment.new_service:
        timeline.append(TimelineRow(incident.incident_id, d.detected_at, "diagnosis",
                                    f"{event.service} joined: {d.category} ({d.severity.value})", details=what))
    if assignment.escalated:
        timeline.append(TimelineRow(incident.incident_id, d.detected_at, "escalated",
                                    f"severity rose to {incident.severity.value} ({event.service}: {d.category})",
                                    details=what))
    state = IncidentState(
        incident_id=incident.incident_id,
        title=f"{incident.category.replace('_', ' ').title()} on {d.root_cause.service}",
        severity=incident.severity.value, category=incident.category,
        services=tuple(sorted(incident.services)), root_cause=d.root_cause,
        error_count=incident.error_count, first_seen=incident.first_seen, last_seen=incident.last_seen,
    )
    return diagnosis_payload(row, state, timeline)


def build_engine(settings: Settings) -> DiagnosisEngine:
    """The diagnosis engine over the home's store: parser state, knowledge, open incidents, champions."""
    from triage.features.ingest_job import load_parser
    from triage.features.store import FeatureStore

    store = FeatureStore(settings)
    store.migrate()
    incidents = IncidentStore(store.db)
    grouper = IncidentGrouper()
    for incident in incidents.open_incidents():
        grouper.restore(incident)
    return DiagnosisEngine(
        parser=load_parser(settings, store),
        knowledge=KnowledgeStore(store.db).knowledge_base(),
        grouper=grouper,
        state=EngineState(incident_index=_incident_index(incidents)),
    )


def _incident_index(incidents: IncidentStore) -> IncidentIndex:
    """Past incidents (resolved ones carry what fixed them) for related-incident search."""
    items = []
    for incident in incidents.list(limit=5000):
        resolution = incident.resolution
        fixed = (resolution.fix_id or resolution.action or "") if resolution else ""
        text = " ".join(filter(None, [incident.category, " ".join(incident.services),
                                      incident.root_cause.issue if incident.root_cause else "", fixed,
                                      resolution.notes if resolution and resolution.notes else ""]))
        items.append({"incident_id": incident.incident_id, "title": incident.title, "text": text,
                      "status": incident.status.value, "resolution": fixed or None})
    return IncidentIndex(items)


def utcnow() -> datetime:
    return datetime.now(UTC)

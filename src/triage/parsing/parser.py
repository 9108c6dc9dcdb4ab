"""TemplateParser: LogRecord -> ParsedEvent. Redact, mask, mine, name the template, read its parameters.

The order is fixed and is the only path into the store: PHI/secret redaction first (whole message),
masking second, Drain third. A record's content is cached (in memory only), so a repeated message
skips all three steps. Template ids are stable: ``T`` + the first 12 hex digits of the sha256 of the
template's first text, so the same input mined twice -- or by two processes -- names templates alike.

Enumerated words. Drain turns a word into ``<*>`` as soon as two messages of a cluster differ there.
Where the differing words are a small closed set of plain words (``stored as bytes`` / ``stored as
values``, ``to SUCCEEDED`` / ``to FAILED``) they usually name *different events*, not a variable. So a
slot Drain generalised stays literal -- one template per word -- while it has seen at most
``enum_max_values`` distinct plain words; the first further value (or any number, id, path...) makes it a
variable, and the templates it had split merge back into the oldest of them (the others keep their ids,
take the merged text as a new version and report ``merged_into``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triage.errors import IntegrityError, NotFound
from triage.ingest.schemas import LogRecord
from triage.parsing.masking import MaskedMessage, Masker, mining_text
from triage.parsing.miner import DrainMiner, MinerConfig, compact_json
from triage.parsing.redaction import Redactor
from triage.parsing.rendering import VALUE_WORDS, WILDCARD, render_template
from triage.parsing.rules import RuleSet
from triage.parsing.schemas import ParsedEvent, Template, TemplateVersion
from triage.parsing.state import read_state, write_state
from triage.settings import Settings

STATE_KIND = "template-parser"
STATE_VERSION = 2
#: "No timestamp" in :meth:`TemplateParser.parse_micros` (the smallest int64; no datetime is that early).
NO_TIME = -(2**63)
_EPOCH = datetime(1970, 1, 1)

#: A word that may name an event rather than be a value: letters first, then letters, digits, "_".
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class ParserConfig(BaseModel):
    """Everything that decides how messages become templates. One configuration for every source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    miner: MinerConfig = Field(default_factory=MinerConfig)
    rules_path: Path | None = Field(default=None, description="YAML file of extra redaction/masking rules")
    cache_size: int = Field(default=100_000, ge=0, description="distinct messages remembered (0 = no cache)")
    enum_max_values: int = Field(
        default=2, ge=0, description="plain words a slot may take and still split templates (0 = off)"
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> ParserConfig:
        return cls(rules_path=settings.parsing_rules_path)


@dataclass(slots=True, eq=False)
class _TemplateInfo:
    template_id: str
    serial: int  # creation order: the oldest template survives a merge
    tokens: tuple[str, ...]  # the cluster's tokens with this template's enumerated words filled in
    text: str
    versions: list[TemplateVersion]
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    merged_into: _TemplateInfo | None = None
    # the versions as state items (``to_state``), kept because a version never changes once made and the
    # state is written after every ingest batch; rebuilt when versions were added
    state_versions: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    # this template's item of ``state_json`` and what it was made from (rebuilt when any of that changed)
    state_text: str = ""
    state_key: tuple[Any, ...] | None = None

    def versions_state(self) -> list[dict[str, Any]]:
        known = self.state_versions
        if len(known) != len(self.versions):
            known[:] = [(v.version, v.text, _iso(v.first_seen), _iso(v.observed_at)) for v in self.versions]
        return [
            {"version": version, "text": text, "first_seen": first_seen, "observed_at": observed_at}
            for version, text, first_seen, observed_at in known
        ]


@dataclass(slots=True, eq=False)
class _Cluster:
    tokens: tuple[str, ...]  # Drain's template
    slots: dict[int, set[str] | None] = field(
        default_factory=dict
    )  # generalised position -> words (None: a variable)
    enum: tuple[int, ...] = ()  # positions whose words still split templates
    templates: dict[tuple[str, ...], _TemplateInfo] = field(default_factory=dict)  # by enumerated words


@dataclass(slots=True, eq=False)
class _Cached:
    cluster_id: int
    info: _TemplateInfo
    content: str  # redacted
    masked: MaskedMessage
    tokens: tuple[str, ...]  # template tokens the params below were read against
    params: tuple[str, ...] = ()


class TemplateParser:
    """Turns LogRecords into redacted, templated ParsedEvents; keeps the templates and their history."""

    def __init__(self, config: ParserConfig | None = None, *, rules: RuleSet | None = None) -> None:
        self.config = config or ParserConfig()
        self.rules = rules if rules is not None else RuleSet.load(self.config.rules_path)
        self._redactor = Redactor(self.rules.redaction)
        self._masker = Masker(self.rules.masking)
        self._miner = DrainMiner(self.config.miner)
        self._renders = self.rules.renders()
        self._clusters: dict[int, _Cluster] = {}
        self._by_id: dict[str, _TemplateInfo] = {}
        self._cache: dict[str, _Cached] = {}

    # --- parsing ---
    def parse(self, record: LogRecord) -> ParsedEvent:
        return self.parse_batch((record,))[0]

    def parse_batch(self, records: Iterable[LogRecord]) -> list[ParsedEvent]:
        """Parse records in order. Each event carries its template's text as of that record."""
        records = records if isinstance(records, (list, tuple)) else list(records)
        texts: list[str] = []
        ids, params, contents = self._parse(
            [r.content for r in records], [r.timestamp for r in records], texts
        )
        out = []
        for r, template_id, text, p, content in zip(records, ids, texts, params, contents, strict=True):
            event = _new_event(
                r.source, r.line_no, template_id, text, p, content, r.timestamp, r.level, r.component, r.host,
                r.service, r.n_lines,
            )  # fmt: skip
            out.append(event)
        return out

    def parse_columns(
        self, contents: Sequence[str], timestamps: Sequence[datetime | None]
    ) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
        """``parse_batch`` for bulk callers that hold their records as columns (the ingest job): the
        messages and their timestamps in, ``(template_ids, params, redacted contents)`` out, one per
        message, in order. Same effect on the parser as ``parse_batch`` of the same records."""
        return self._parse(contents, timestamps, None)

    def parse_micros(
        self, contents: Sequence[str], micros: Sequence[int]
    ) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
        """``parse_columns`` for callers that hold timestamps as Arrow does (the ingest job): ``micros`` are
        naive timestamps in microseconds since 1970-01-01 (``NO_TIME`` for none), and first/last seen are
        *not* updated here: the caller reports them per template with :meth:`note_seen` (the min and max
        timestamp of the messages that got each template id). Both together have the same effect on the
        parser as ``parse_columns`` of the same messages: first/last seen are a min and a max over the
        messages of each template, and nothing reads them while a batch is parsed."""
        return self._parse(contents, micros, None, to_datetime=_from_micros)

    def note_seen(self, template_id: str, first: datetime | None, last: datetime | None) -> None:
        """Widen a template's first/last seen to include ``first`` and ``last`` (see :meth:`parse_micros`)."""
        info = self._info(template_id)
        if first is not None:
            _seen(info, first)
        if last is not None:
            _seen(info, last)

    def _parse(
        self,
        contents: Iterable[str],
        timestamps: Iterable[Any],
        texts: list[str] | None,
        *,
        to_datetime: Callable[[Any], datetime | None] | None = None,
    ) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
        """With ``to_datetime`` (timestamps in another form), first/last seen are left to the caller."""
        ids: list[str] = []
        params: list[tuple[str, ...]] = []
        redacted: list[str] = []
        add_id, add_params, add_content = ids.append, params.append, redacted.append
        add_text = texts.append if texts is not None else None
        cache = self._cache
        count = self._miner.count
        # Unbounded Drain never evicts a cluster, so a cached message's cluster is alive and only its size
        # needs counting: done once per cluster at the end (sizes are not used for matching). With
        # max_clusters, each hit is counted as it comes (that also keeps Drain's LRU order).
        deferred: dict[int, int] | None = {} if self.config.miner.max_clusters is None else None
        try:
            seen = to_datetime is None
            for content, ts in zip(contents, timestamps, strict=True):
                cached = cache.get(content)
                if cached is None:
                    cached = self._mine(content, ts if seen else to_datetime(ts))  # type: ignore[misc]
                elif deferred is not None:
                    cluster_id = cached.cluster_id
                    deferred[cluster_id] = deferred.get(cluster_id, 0) + 1
                elif not count(cached.cluster_id):
                    cached = self._mine(content, ts if seen else to_datetime(ts))  # type: ignore[misc]
                info = cached.info
                if info.merged_into is not None:
                    info = cached.info = _survivor(info)
                if cached.tokens is not info.tokens:
                    cached.params = _params(info.tokens, cached.masked)
                    cached.tokens = info.tokens
                info.count += 1
                if seen and ts is not None:
                    _seen(info, ts)
                add_id(info.template_id)
                add_params(cached.params)
                add_content(cached.content)
                if add_text is not None:
                    add_text(info.text)
        finally:
            if deferred:
                for cluster_id, n in deferred.items():
                    count(cluster_id, n)
        return ids, params, redacted

    def redact(self, text: str) -> str:
        """``text`` with every PHI/secret rule applied (what the parser stores instead of it)."""
        return self._redactor.redact(text)

    def _mine(self, content: str, timestamp: datetime | None) -> _Cached:
        redacted = self._redactor.redact(content)
        masked = self._masker.mask(mining_text(redacted))
        words = masked.tokens
        cluster_id, tokens, _created = self._miner.add(words)
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            cluster = self._clusters[cluster_id] = _Cluster(tokens)
        changed = self._observe(cluster, tokens, words)
        if changed:
            self._refresh(cluster, timestamp)
        key = tuple(words[p] for p in cluster.enum)
        info = cluster.templates.get(key)
        if info is None:
            own = list(cluster.tokens)
            for p in cluster.enum:
                own[p] = words[p]
            info = self._new_template(tuple(own), timestamp)
            cluster.templates[key] = info
        cached = _Cached(cluster_id, info, redacted, masked, info.tokens, _params(info.tokens, masked))
        if self.config.cache_size:
            cache = self._cache
            if len(cache) >= self.config.cache_size:
                del cache[next(iter(cache))]
            cache[content] = cached
        return cached

    def _observe(self, cluster: _Cluster, tokens: tuple[str, ...], words: Sequence[str]) -> bool:
        """Record the words of a new message in the cluster's generalised slots; True if templates change."""
        limit = self.config.enum_max_values
        changed = False
        if tokens is not cluster.tokens and tokens != cluster.tokens:
            for p, (before, after) in enumerate(zip(cluster.tokens, tokens, strict=True)):
                if before != after and after == WILDCARD and p not in cluster.slots:
                    values = {before, words[p]}
                    cluster.slots[p] = values if _enumerable(values, limit) else None
            cluster.tokens = tokens
            changed = True
        for p in cluster.enum:
            values = cluster.slots[p]
            if values is not None and words[p] not in values:
                values.add(words[p])
                if not _enumerable(values, limit):
                    cluster.slots[p] = None
                changed = True
        return changed

    def _refresh(self, cluster: _Cluster, timestamp: datetime | None) -> None:
        """Re-derive the cluster's templates after its tokens or enumerated slots changed."""
        cluster.enum = tuple(sorted(p for p, values in cluster.slots.items() if values is not None))
        regrouped: dict[tuple[str, ...], list[_TemplateInfo]] = {}
        for info in cluster.templates.values():
            own = list(cluster.tokens)
            for p in cluster.enum:
                own[p] = info.tokens[p]
            info.tokens = tuple(own)
            regrouped.setdefault(tuple(own[p] for p in cluster.enum), []).append(info)
        cluster.templates = {}
        for key, infos in regrouped.items():
            infos.sort(key=lambda i: i.serial)
            survivor = infos[0]
            cluster.templates[key] = survivor
            self._set_text(survivor, render_template(survivor.tokens, self._renders), timestamp)
            for other in infos[1:]:
                other.merged_into = survivor
                other.tokens = survivor.tokens
                self._set_text(other, survivor.text, timestamp)

    def _set_text(self, info: _TemplateInfo, text: str, timestamp: datetime | None) -> None:
        if text != info.text:
            info.text = text
            info.versions.append(_version(info.template_id, len(info.versions) + 1, text, timestamp))

    def _new_template(self, tokens: tuple[str, ...], timestamp: datetime | None) -> _TemplateInfo:
        text = render_template(tokens, self._renders)
        base = "T" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        template_id, n = base, 1
        while template_id in self._by_id:  # two templates with one first text: number them in order
            n += 1
            template_id = f"{base}-{n}"
        info = _TemplateInfo(
            template_id, len(self._by_id), tokens, text, [_version(template_id, 1, text, timestamp)]
        )
        self._by_id[template_id] = info
        return info

    # --- templates ---
    def templates(self) -> list[Template]:
        """Every template with its current text, version and counts, most frequent first."""
        items = [_public(i) for i in self._by_id.values()]
        items.sort(key=lambda t: (-t.count, t.template_id))
        return items

    def template_text(self, template_id: str) -> str:
        """The current text of a template (a merged template has its survivor's text)."""
        return self._info(template_id).text

    def template_versions(self, template_id: str | None = None) -> list[TemplateVersion]:
        """The history of one template (or of all), oldest version first."""
        if template_id is not None:
            return list(self._info(template_id).versions)
        return [v for info in self._by_id.values() for v in info.versions]

    def _info(self, template_id: str) -> _TemplateInfo:
        info = self._by_id.get(template_id)
        if info is None:
            raise NotFound(f"no template {template_id}")
        return info

    # --- state ---
    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state: config, rules, Drain's tree and clusters, templates and their history."""
        return {
            **self._state_head(),
            "miner": self._miner.export_state(),
            "clusters": self._clusters_state(),
            # creation order (= serial)
            "templates": [_template_state(info) for info in self._by_id.values()],
        }

    def state_json(self) -> str:
        """``json.dumps(self.to_state(), separators=(",", ":"), ensure_ascii=False)``, the same text, made for
        a caller that writes the state again and again (the ingest job, after every batch): each template's
        item is kept from the previous call while nothing in it changed, and only the others are rebuilt."""
        head = compact_json(self._state_head())
        items = []
        for info in self._by_id.values():
            merged = info.merged_into
            key = (info.count, info.first_seen, info.last_seen, merged, merged and merged.template_id,
                   len(info.versions), info.tokens)  # fmt: skip
            if key != info.state_key:
                info.state_text = compact_json(_template_state(info))
                info.state_key = key
            items.append(info.state_text)
        miner, clusters = self._miner.state_json(), compact_json(self._clusters_state())
        return f'{head[:-1]},"miner":{miner},"clusters":{clusters},"templates":[{",".join(items)}]}}'

    def _state_head(self) -> dict[str, Any]:
        return {
            "kind": STATE_KIND,
            "state_version": STATE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "rules": self.rules.model_dump(mode="json"),
            "rules_fingerprint": self.rules.fingerprint(),
        }

    def _clusters_state(self) -> list[dict[str, Any]]:
        return [
            {
                "cluster_id": cluster_id,
                "slots": {str(p): None if v is None else sorted(v) for p, v in cluster.slots.items()},
                "templates": [info.template_id for info in cluster.templates.values()],
            }
            for cluster_id, cluster in self._clusters.items()
        ]

    @classmethod
    def from_state(cls, state: dict[str, Any], *, rules: RuleSet | None = None) -> TemplateParser:
        """Rebuild a parser from ``to_state()``. The state's own rules are used unless ``rules`` is given."""
        if state.get("kind") != STATE_KIND or state.get("state_version") != STATE_VERSION:
            raise IntegrityError("state is not a template-parser state of a version this triage reads")
        try:
            config = ParserConfig.model_validate(state["config"])
            if rules is None:
                rules = RuleSet.model_validate(state["rules"])
            parser = cls(config, rules=rules)
            parser._miner = DrainMiner.import_state(state["miner"])
            merged: dict[str, str] = {}
            for serial, item in enumerate(state["templates"]):
                template_id = str(item["template_id"])
                versions = [
                    TemplateVersion(
                        template_id,
                        int(v["version"]),
                        str(v["text"]),
                        _from_iso(v["first_seen"]),
                        _from_iso(v["observed_at"]) or datetime.now(UTC),
                    )
                    for v in item["versions"]
                ]
                info = _TemplateInfo(
                    template_id,
                    serial,
                    tuple(str(t) for t in item["tokens"]),
                    versions[-1].text,
                    versions,
                    int(item["count"]),
                    _from_iso(item["first_seen"]),
                    _from_iso(item["last_seen"]),
                )
                parser._by_id[template_id] = info
                if item["merged_into"] is not None:
                    merged[template_id] = str(item["merged_into"])
            for template_id, target in merged.items():
                parser._by_id[template_id].merged_into = parser._by_id[target]
            for item in state["clusters"]:
                cluster_id = int(item["cluster_id"])
                tokens = parser._miner.template_of(cluster_id)
                if tokens is None:
                    continue  # evicted from Drain (max_clusters): its templates stay listed
                cluster = _Cluster(tokens)
                cluster.slots = {int(p): None if v is None else set(v) for p, v in item["slots"].items()}
                cluster.enum = tuple(sorted(p for p, v in cluster.slots.items() if v is not None))
                for template_id in item["templates"]:
                    info = parser._by_id[template_id]
                    cluster.templates[tuple(info.tokens[p] for p in cluster.enum)] = info
                parser._clusters[cluster_id] = cluster
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise IntegrityError(f"miner state is incomplete or malformed: {exc!r}") from None
        return parser

    def save_state(self, path: Path) -> str:
        """Write the state to ``path`` (atomic, checksummed JSON); returns its sha256."""
        return write_state(path, self.to_state())

    @classmethod
    def load_state(cls, path: Path, *, rules: RuleSet | None = None) -> TemplateParser:
        """A parser from a file written by ``save_state``; ``IntegrityError`` if it was tampered with."""
        return cls.from_state(read_state(path), rules=rules)


def _event_constructor() -> Any:
    """A constructor for ParsedEvent that is equal in effect to ``ParsedEvent(...)`` but ~2x faster.

    A frozen dataclass's ``__init__`` assigns each field through ``object.__setattr__``; on the parser's
    cached path that dominates the cost per record. This sets the slots through their descriptors instead
    (what ``__init__`` ends up doing), in a function generated once, the way ``dataclasses`` itself does.
    """
    names = [f.name for f in dataclasses.fields(ParsedEvent)]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": ParsedEvent}
    namespace.update({f"set_{n}": ParsedEvent.__dict__[n].__set__ for n in names})
    body = "".join(f"    set_{n}(event, {n})\n" for n in names)
    exec(f"def make({', '.join(names)}):\n    event = new(cls)\n{body}    return event\n", namespace)
    return namespace["make"]


_new_event = _event_constructor()


def _enumerable(values: set[str], limit: int) -> bool:
    return len(values) <= limit and all(_PLAIN_WORD.match(v) and v.lower() not in VALUE_WORDS for v in values)


def _template_state(info: _TemplateInfo) -> dict[str, Any]:
    return {
        "template_id": info.template_id,
        "tokens": list(info.tokens),
        "count": info.count,
        "first_seen": _iso(info.first_seen),
        "last_seen": _iso(info.last_seen),
        "merged_into": None if info.merged_into is None else info.merged_into.template_id,
        "versions": info.versions_state(),
    }


def _survivor(info: _TemplateInfo) -> _TemplateInfo:
    while info.merged_into is not None:
        info = info.merged_into
    return info


def _public(info: _TemplateInfo) -> Template:
    merged = None if info.merged_into is None else _survivor(info).template_id
    return Template(
        info.template_id, info.text, len(info.versions), info.count, info.first_seen, info.last_seen, merged
    )


def _version(template_id: str, version: int, text: str, first_seen: datetime | None) -> TemplateVersion:
    return TemplateVersion(template_id, version, text, first_seen, datetime.now(UTC))


def _params(template: Sequence[str], masked: MaskedMessage) -> tuple[str, ...]:
    """The values of a message's variables: whole words under ``<*>``, masked parts of other words."""
    params: list[str] = []
    for template_token, word, values in zip(template, masked.words, masked.values, strict=False):
        if template_token == WILDCARD:
            params.append(word)
        elif values:
            params.extend(values)
    return tuple(params)


def _seen(info: _TemplateInfo, ts: datetime) -> None:
    try:
        if info.first_seen is None or ts < info.first_seen:
            info.first_seen = ts
        if info.last_seen is None or ts > info.last_seen:
            info.last_seen = ts
    except TypeError:  # naive vs aware timestamps from different sources: keep what we have
        pass


def _from_micros(value: int) -> datetime | None:
    return None if value == NO_TIME else _EPOCH + timedelta(microseconds=value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))

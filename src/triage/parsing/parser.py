"""TemplateParser: LogRecord -> ParsedEvent. Redact, mask, mine, name the template, read its parameters.

The order is fixed and is the only path into the store: PHI/secret redaction first (whole message),
masking second, Drain third. A record's content is cached (in memory only), so a repeated message
skips all three steps. Template ids are stable: ``T`` + the first 12 hex digits of the sha256 of the
template's first text, so the same input mined twice -- or by two processes -- names templates alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triage.errors import IntegrityError, NotFound
from triage.ingest.schemas import LogRecord
from triage.parsing.masking import MaskedMessage, Masker, mining_text
from triage.parsing.miner import DrainMiner, MinerConfig
from triage.parsing.redaction import Redactor
from triage.parsing.rendering import WILDCARD, render_template
from triage.parsing.rules import RuleSet
from triage.parsing.schemas import ParsedEvent, Template, TemplateVersion
from triage.parsing.state import read_state, write_state
from triage.settings import Settings

STATE_KIND = "template-parser"


class ParserConfig(BaseModel):
    """Everything that decides how messages become templates. One configuration for every source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    miner: MinerConfig = Field(default_factory=MinerConfig)
    rules_path: Path | None = Field(default=None, description="YAML file of extra redaction/masking rules")
    cache_size: int = Field(default=100_000, ge=0, description="distinct messages remembered (0 = no cache)")

    @classmethod
    def from_settings(cls, settings: Settings) -> ParserConfig:
        return cls(rules_path=settings.parsing_rules_path)


@dataclass(slots=True)
class _TemplateInfo:
    template_id: str
    tokens: tuple[str, ...]
    text: str
    versions: list[TemplateVersion]
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(slots=True)
class _Cached:
    cluster_id: int
    content: str  # redacted
    masked: MaskedMessage
    tokens: tuple[str, ...]  # cluster template the params below were read against
    params: tuple[str, ...] = field(default=())


class TemplateParser:
    """Turns LogRecords into redacted, templated ParsedEvents; keeps the templates and their history."""

    def __init__(self, config: ParserConfig | None = None, *, rules: RuleSet | None = None) -> None:
        self.config = config or ParserConfig()
        self.rules = rules if rules is not None else RuleSet.load(self.config.rules_path)
        self._redactor = Redactor(self.rules.redaction)
        self._masker = Masker(self.rules.masking)
        self._miner = DrainMiner(self.config.miner)
        self._renders = self.rules.renders()
        self._infos: dict[int, _TemplateInfo] = {}
        self._ids: dict[str, int] = {}
        self._cache: dict[str, _Cached] = {}

    # --- parsing ---
    def parse(self, record: LogRecord) -> ParsedEvent:
        return self.parse_batch((record,))[0]

    def parse_batch(self, records: Iterable[LogRecord]) -> list[ParsedEvent]:
        """Parse records in order. Each event carries its template's text as of that record."""
        out: list[ParsedEvent] = []
        append = out.append
        cache = self._cache
        infos = self._infos
        count = self._miner.count
        for record in records:
            content = record.content
            cached = cache.get(content)
            if cached is None or not count(cached.cluster_id):
                cached = self._mine(content, record.timestamp)
                info = infos[cached.cluster_id]
            else:
                info = infos[cached.cluster_id]
                if cached.tokens is not info.tokens:
                    cached.params = _params(info.tokens, cached.masked)
                    cached.tokens = info.tokens
            info.count += 1
            ts = record.timestamp
            if ts is not None:
                _seen(info, ts)
            append(
                ParsedEvent(
                    record.source,
                    record.line_no,
                    info.template_id,
                    info.text,
                    cached.params,
                    cached.content,
                    ts,
                    record.level,
                    record.component,
                    record.host,
                    record.service,
                    record.n_lines,
                )
            )
        return out

    def redact(self, text: str) -> str:
        """``text`` with every PHI/secret rule applied (what the parser stores instead of it)."""
        return self._redactor.redact(text)

    def _mine(self, content: str, timestamp: datetime | None) -> _Cached:
        redacted = self._redactor.redact(content)
        masked = self._masker.mask(mining_text(redacted))
        cluster_id, tokens, _created = self._miner.add(masked.tokens)
        info = self._infos.get(cluster_id)
        if info is None:
            text = render_template(tokens, self._renders)
            template_id = self._new_id(text)
            info = _TemplateInfo(template_id, tokens, text, [self._version(template_id, 1, text, timestamp)])
            self._infos[cluster_id] = info
            self._ids[template_id] = cluster_id
        elif tokens is not info.tokens and tokens != info.tokens:
            info.tokens = tokens
            text = render_template(tokens, self._renders)
            if text != info.text:
                info.text = text
                info.versions.append(self._version(info.template_id, len(info.versions) + 1, text, timestamp))
        else:
            info.tokens = tokens
        cached = _Cached(cluster_id, redacted, masked, info.tokens, _params(info.tokens, masked))
        if self.config.cache_size:
            cache = self._cache
            if len(cache) >= self.config.cache_size:
                del cache[next(iter(cache))]
            cache[content] = cached
        return cached

    def _new_id(self, text: str) -> str:
        base = "T" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        candidate, n = base, 1
        while candidate in self._ids:  # two clusters with one first text: number them in order
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    @staticmethod
    def _version(template_id: str, version: int, text: str, first_seen: datetime | None) -> TemplateVersion:
        return TemplateVersion(template_id, version, text, first_seen, datetime.now(UTC))

    # --- templates ---
    def templates(self) -> list[Template]:
        """Every template with its current text, version and counts, most frequent first."""
        items = [
            Template(i.template_id, i.text, len(i.versions), i.count, i.first_seen, i.last_seen)
            for i in self._infos.values()
        ]
        items.sort(key=lambda t: (-t.count, t.template_id))
        return items

    def template_text(self, template_id: str) -> str:
        """The current text of a template."""
        cluster_id = self._ids.get(template_id)
        if cluster_id is None:
            raise NotFound(f"no template {template_id}")
        return self._infos[cluster_id].text

    def template_versions(self, template_id: str | None = None) -> list[TemplateVersion]:
        """The history of one template (or of all), oldest version first."""
        if template_id is not None:
            cluster_id = self._ids.get(template_id)
            if cluster_id is None:
                raise NotFound(f"no template {template_id}")
            return list(self._infos[cluster_id].versions)
        return [v for info in self._infos.values() for v in info.versions]

    # --- state ---
    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state: config, rules, Drain's tree and clusters, ids and version history."""
        return {
            "kind": STATE_KIND,
            "config": self.config.model_dump(mode="json"),
            "rules": self.rules.model_dump(mode="json"),
            "rules_fingerprint": self.rules.fingerprint(),
            "miner": self._miner.export_state(),
            "templates": [
                {
                    "cluster_id": cluster_id,
                    "template_id": info.template_id,
                    "count": info.count,
                    "first_seen": _iso(info.first_seen),
                    "last_seen": _iso(info.last_seen),
                    "versions": [
                        {
                            "version": v.version,
                            "text": v.text,
                            "first_seen": _iso(v.first_seen),
                            "observed_at": _iso(v.observed_at),
                        }
                        for v in info.versions
                    ],
                }
                for cluster_id, info in self._infos.items()
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, rules: RuleSet | None = None) -> TemplateParser:
        """Rebuild a parser from ``to_state()``. The state's own rules are used unless ``rules`` is given."""
        if state.get("kind") != STATE_KIND:
            raise IntegrityError("state is not a template-parser state")
        try:
            config = ParserConfig.model_validate(state["config"])
            if rules is None:
                rules = RuleSet.model_validate(state["rules"])
            parser = cls(config, rules=rules)
            parser._miner = DrainMiner.import_state(state["miner"])
            for item in state["templates"]:
                template_id = str(item["template_id"])
                cluster_id = int(item["cluster_id"])
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
                tokens = parser._miner.template_of(cluster_id) or ()
                parser._infos[cluster_id] = _TemplateInfo(
                    template_id,
                    tokens,
                    render_template(tokens, parser._renders),
                    versions,
                    int(item["count"]),
                    _from_iso(item["first_seen"]),
                    _from_iso(item["last_seen"]),
                )
                parser._ids[template_id] = cluster_id
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"miner state is incomplete or malformed: {exc}") from None
        return parser

    def save_state(self, path: Path) -> str:
        """Write the state to ``path`` (atomic, checksummed JSON); returns its sha256."""
        return write_state(path, self.to_state())

    @classmethod
    def load_state(cls, path: Path, *, rules: RuleSet | None = None) -> TemplateParser:
        """A parser from a file written by ``save_state``; ``IntegrityError`` if it was tampered with."""
        return cls.from_state(read_state(path), rules=rules)


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


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_iso(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))

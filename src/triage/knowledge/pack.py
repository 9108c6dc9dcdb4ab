"""The reviewed knowledge pack shipped with triage: fixes, known error patterns, runbooks (YAML, pure load)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from triage.errors import InvalidInput
from triage.knowledge.schemas import Article, Fix, KnownPattern, RunbookSection

PACK_DIR = Path(__file__).parent / "pack"


@dataclass(frozen=True)
class KnowledgePack:
    fixes: dict[str, Fix]
    patterns: tuple[KnownPattern, ...]
    runbooks: tuple[Article, ...]

    @cached_property
    def compiled(self) -> tuple[tuple[re.Pattern[str], KnownPattern], ...]:
        return tuple((re.compile(p.signature, re.IGNORECASE), p) for p in self.patterns)

    def match(self, text: str) -> KnownPattern | None:
        """The first known pattern whose signature occurs in ``text``."""
        for regex, pattern in self.compiled:
            if regex.search(text):
                return pattern
        return None


def load_pack(folder: Path = PACK_DIR, extra: Path | None = None) -> KnowledgePack:
    """Load and cross-check a pack; ``extra`` is an optional site-specific folder with the same layout."""
    fixes: dict[str, Fix] = {}
    patterns: list[KnownPattern] = []
    runbooks: list[Article] = []
    for root in [folder] + ([extra] if extra else []):
        for item in _yaml_list(root / "fixes.yaml"):
            fix = Fix(**item)
            fixes[fix.fix_id] = fix
        patterns += [KnownPattern(**item) for item in _yaml_list(root / "patterns.yaml")]
        for file in sorted((root / "runbooks").glob("*.yaml")):
            runbooks.append(Article(**yaml.safe_load(file.read_text(encoding="utf-8"))))
    pack = KnowledgePack(fixes, tuple(patterns), tuple(runbooks))
    _check(pack)
    return pack


def _yaml_list(path: Path) -> list[dict]:
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a YAML list")
    return data


def _check(pack: KnowledgePack) -> None:
    runbook_ids = {r.article_id for r in pack.runbooks}
    required = [s.value for s in RunbookSection]
    for runbook in pack.runbooks:
        missing = [s for s in required if not runbook.sections.get(s)]
        if missing:
            raise InvalidInput(f"runbook {runbook.article_id} lacks sections: {', '.join(missing)}")
        unknown = [f for f in runbook.fixes if f not in pack.fixes]
        if unknown:
            raise InvalidInput(f"runbook {runbook.article_id} names unknown fixes: {', '.join(unknown)}")
    for pattern in pack.patterns:
        try:
            re.compile(pattern.signature)
        except re.error as exc:
            raise InvalidInput(f"pattern {pattern.pattern_id}: bad regex: {exc}") from exc
        unknown = [f for f in pattern.fixes if f not in pack.fixes]
        if unknown:
            raise InvalidInput(f"pattern {pattern.pattern_id} names unknown fixes: {', '.join(unknown)}")
        if pattern.runbook and pattern.runbook not in runbook_ids:
            raise InvalidInput(f"pattern {pattern.pattern_id} names unknown runbook {pattern.runbook}")

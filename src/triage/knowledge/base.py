"""The knowledge base in memory: pattern matching, article search, fixes ranked by their track record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from triage.knowledge.pack import KnowledgePack
from triage.knowledge.schemas import Article, Fix, FixStats, KnownPattern
from triage.knowledge.search import TextIndex


@dataclass(frozen=True, slots=True)
class RankedFix:
    fix: Fix
    stats: FixStats
    priority: int  # 1 = try first

    @property
    def estimated_minutes(self) -> int:
        mean = self.stats.mean_minutes
        return round(mean) if mean is not None and self.stats.successes >= 3 else self.fix.estimated_minutes


@dataclass(frozen=True, slots=True)
class ArticleHit:
    article: Article
    score: float


class KnowledgeBase:
    """Read-mostly: build once from the pack, imported articles and fix statistics; query in microseconds."""

    def __init__(
        self,
        pack: KnowledgePack,
        articles: Sequence[Article] = (),
        stats: Mapping[tuple[str, str], FixStats] | None = None,
    ) -> None:
        self.pack = pack
        self.articles: tuple[Article, ...] = tuple(pack.runbooks) + tuple(articles)
        self.stats: dict[tuple[str, str], FixStats] = dict(stats or {})
        self._index = TextIndex([a.search_text() for a in self.articles])
        self._by_id = {a.article_id: a for a in self.articles}

    def match(self, text: str) -> KnownPattern | None:
        return self.pack.match(text)

    def article(self, article_id: str) -> Article | None:
        return self._by_id.get(article_id)

    def runbook_for(self, category: str) -> Article | None:
        return next((a for a in self.pack.runbooks if a.category == category), None)

    def search(self, text: str, k: int = 5, *, kinds: Iterable[str] | None = None) -> list[ArticleHit]:
        wanted = set(kinds) if kinds else None
        hits = self._index.search(text, k=k * 4 if wanted else k)
        found = [ArticleHit(self.articles[h.index], h.score) for h in hits]
        if wanted:
            found = [h for h in found if h.article.kind in wanted]
        return found[:k]

    def fix_stats(self, category: str, fix_id: str) -> FixStats:
        return self.stats.get((category, fix_id)) or FixStats(fix_id=fix_id)

    def rank_fixes(self, category: str, candidates: Sequence[str], limit: int = 4) -> list[RankedFix]:
        """Order candidate fixes by smoothed success rate for this category, then by time to resolve.

        The pack's order breaks ties, so an expert's first choice leads until history says otherwise.
        """
        seen = [f for f in dict.fromkeys(candidates) if f in self.pack.fixes]

        def key(item: tuple[int, str]) -> tuple[float, float, int]:
            position, fix_id = item
            stats = self.fix_stats(category, fix_id)
            minutes = stats.mean_minutes or float(self.pack.fixes[fix_id].estimated_minutes)
            return (-round(stats.success_rate, 2), minutes, position)

        ordered = sorted(enumerate(seen), key=key)
        return [
            RankedFix(self.pack.fixes[fix_id], self.fix_stats(category, fix_id), priority=rank)
            for rank, (_, fix_id) in enumerate(ordered[:limit], start=1)
        ]

    def candidate_fixes(self, category: str, pattern: KnownPattern | None) -> list[str]:
        """Fixes worth suggesting: the matched pattern's, then the category runbook's, then history's best."""
        ids: list[str] = list(pattern.fixes) if pattern else []
        runbook = self.runbook_for(category)
        if runbook:
            ids += list(runbook.fixes)
        ids += [fix for (cat, fix), s in sorted(self.stats.items(), key=lambda kv: -kv[1].successes) if cat == category]
        return list(dict.fromkeys(ids))

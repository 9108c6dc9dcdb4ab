from __future__ import annotations

from pathlib import Path

from triage.knowledge.base import KnowledgeBase
from triage.knowledge.pack import load_pack
from triage.knowledge.postmortems import fix_outcomes, read_jsonl, to_article
from triage.knowledge.store import KnowledgeStore
from triage.storage.database import Database


def _import(fixtures_dir: Path, db: Database) -> KnowledgeStore:
    store = KnowledgeStore(db)
    path = fixtures_dir / "knowledge" / "postmortems_sample.jsonl"
    items = list(read_jsonl(path.read_text().splitlines(), str(path)))
    articles = [to_article(i) for i in items]
    store.save_articles(articles)
    store.seed_from_history(o for i, a in zip(items, articles, strict=True) for o in fix_outcomes(i, a))
    return store


def test_postmortems_become_articles_with_categories_and_fixes(fixtures_dir: Path, tmp_path: Path) -> None:
    store = _import(fixtures_dir, Database(tmp_path / "kb.duckdb"))
    articles = {a.article_id: a for a in store.articles()}
    assert articles["pm-synthetic-1"].category == "CONFIGURATION"
    assert articles["pm-synthetic-1"].fixes == ("rollback-config",)
    assert set(articles["pm-synthetic-2"].fixes) == {"failover-database", "replace-hardware"}
    assert articles["pm-synthetic-3"].category == "CONFIGURATION"


def test_search_finds_the_related_article(fixtures_dir: Path, tmp_path: Path) -> None:
    kb = _import(fixtures_dir, Database(tmp_path / "kb.duckdb")).knowledge_base()
    hits = kb.search("database primary disk failure, writes failing", k=3, kinds=["postmortem"])
    assert hits and hits[0].article.article_id == "pm-synthetic-2"
    runbooks = kb.search("connection pool exhausted on the database", k=1, kinds=["runbook"])
    assert runbooks[0].article.article_id == "rb-database-connection"


def test_fix_ranking_follows_recorded_outcomes(tmp_path: Path) -> None:
    store = KnowledgeStore(Database(tmp_path / "kb.duckdb"))
    pack = load_pack()
    before = KnowledgeBase(pack, stats=store.stats()).rank_fixes("CONFIGURATION", ["rollback-config", "fix-config-value"])
    assert [r.fix.fix_id for r in before] == ["rollback-config", "fix-config-value"]  # pack order on a tie
    store.record_outcomes([("CONFIGURATION", "rollback-config", False, None)] * 3)
    store.record_outcomes([("CONFIGURATION", "fix-config-value", True, 12.0)] * 3)
    after = KnowledgeBase(pack, stats=store.stats()).rank_fixes("CONFIGURATION", ["rollback-config", "fix-config-value"])
    assert [r.fix.fix_id for r in after] == ["fix-config-value", "rollback-config"]
    assert after[0].stats.successes == 3 and after[0].estimated_minutes == 12
    assert after[1].stats.attempts == 3 and after[1].stats.successes == 0

"""Persistence of imported articles and fix statistics in the DuckDB store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from triage.knowledge.base import KnowledgeBase
from triage.knowledge.pack import KnowledgePack, load_pack
from triage.knowledge.postmortems import FixOutcome
from triage.knowledge.schemas import Article, FixStats
from triage.storage.database import Database, load_migrations

MIGRATIONS = load_migrations("knowledge", Path(__file__).parent / "sql")


class KnowledgeStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(MIGRATIONS)

    def save_articles(self, articles: Sequence[Article]) -> int:
        """Insert or replace articles by id; returns how many were written."""
        if not articles:
            return 0
        now = datetime.now(UTC)
        frame = pd.DataFrame(
            {
                "article_id": [a.article_id for a in articles],
                "kind": [a.kind for a in articles],
                "body": [a.model_dump_json() for a in articles],
                "imported_at": [now] * len(articles),
            }
        ).drop_duplicates("article_id", keep="last")  # collections repeat some ids
        with self.db.write() as s:
            s.execute("DELETE FROM kb_articles WHERE article_id IN (SELECT unnest(?))", [frame["article_id"].tolist()])
            s.append_df("kb_articles", frame)
        return len(frame)

    def articles(self) -> list[Article]:
        with self.db.read() as s:
            rows = s.execute("SELECT body FROM kb_articles ORDER BY article_id")
        return [Article(**json.loads(r[0])) for r in rows]

    def stats(self) -> dict[tuple[str, str], FixStats]:
        with self.db.read() as s:
            rows = s.execute(
                "SELECT category, fix_id, attempts, successes, total_minutes, timed_successes FROM kb_fix_stats"
            )
        return {
            (r[0], r[1]): FixStats(fix_id=r[1], attempts=r[2], successes=r[3], total_minutes=r[4], timed_successes=r[5])
            for r in rows
        }

    def record_outcomes(self, outcomes: Iterable[tuple[str, str, bool, float | None]]) -> None:
        """Add (category, fix_id, worked, minutes) outcomes to the statistics in one transaction."""
        with self.db.write() as s:
            for category, fix_id, worked, minutes in outcomes:
                timed = worked and minutes is not None and minutes > 0
                s.execute(
                    "INSERT INTO kb_fix_stats VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (category, fix_id) DO UPDATE SET"
                    " attempts = kb_fix_stats.attempts + 1,"
                    " successes = kb_fix_stats.successes + excluded.successes,"
                    " total_minutes = kb_fix_stats.total_minutes + excluded.total_minutes,"
                    " timed_successes = kb_fix_stats.timed_successes + excluded.timed_successes",
                    [category, fix_id, int(worked), float(minutes) if timed else 0.0, int(timed)],
                )

    def seed_from_history(self, outcomes: Iterable[FixOutcome]) -> int:
        rows = [(o.category, o.fix_id, True, o.minutes) for o in outcomes]
        self.record_outcomes(rows)
        return len(rows)

    def knowledge_base(self, pack: KnowledgePack | None = None) -> KnowledgeBase:
        return KnowledgeBase(pack or load_pack(), self.articles(), self.stats())

"""`triage kb import|search|list`: the knowledge base (runbooks, known errors, past post-mortems)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triage.cli._common import print_json, settings_of


def register(app: typer.Typer) -> None:
    kb = typer.Typer(help="The knowledge base: runbooks, known error patterns, past incidents.",
                     no_args_is_help=True)
    app.add_typer(kb, name="kb")

    @kb.command("import")
    def import_postmortems(
        ctx: typer.Context,
        paths: Annotated[list[Path], typer.Argument(help="post-mortem JSON-lines files (ISSRE'22 or danluu shape)")],
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Import public post-mortems as articles; their mitigations seed the fixes' success statistics."""
        from triage.errors import InvalidInput
        from triage.knowledge.postmortems import fix_outcomes, read_jsonl, to_article
        from triage.knowledge.store import KnowledgeStore
        from triage.storage.database import Database

        for path in paths:
            if not path.is_file():
                raise InvalidInput(f"not a file: {path}")
        store = KnowledgeStore(Database(settings_of(ctx).store_path))
        known = {a.article_id for a in store.articles()}
        before = len(known)
        articles, fresh_outcomes = [], []
        for path in paths:
            with path.open(encoding="utf-8") as handle:
                for item in read_jsonl(handle, str(path)):
                    article = to_article(item)
                    articles.append(article)
                    if article.article_id not in known:  # re-importing adds nothing to the statistics
                        known.add(article.article_id)
                        fresh_outcomes += fix_outcomes(item, article)
        store.save_articles(articles)
        seeded = store.seed_from_history(fresh_outcomes)
        fresh = len(known) - before
        summary = {"articles": len(articles), "new": fresh, "fixOutcomes": seeded}
        if json_out:
            print_json(summary)
        else:
            typer.echo(f"imported {len(articles)} post-mortems ({fresh} new); {seeded} fix outcomes recorded")

    @kb.command("search")
    def search(
        ctx: typer.Context,
        text: Annotated[str, typer.Argument(help="what you see: an error message or symptoms")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=50)] = 5,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Articles (runbooks and past incidents) most similar to TEXT, and the known pattern it matches."""
        knowledge = _knowledge(ctx)
        pattern = knowledge.match(text)
        hits = knowledge.search(text, k=limit)
        rows = [{"articleId": h.article.article_id, "kind": h.article.kind, "title": h.article.title,
                 "score": round(h.score, 3), "link": h.article.link} for h in hits]
        if json_out:
            print_json({"knownPattern": pattern.model_dump() if pattern else None, "articles": rows})
            return
        if pattern:
            typer.echo(f"known pattern {pattern.pattern_id}: {pattern.category} - {pattern.probable_cause}")
        for r in rows:
            typer.echo(f"{r['score']:.3f}  {r['kind']:<10} {r['articleId']}  {r['title']}")

    @kb.command("list")
    def list_articles(ctx: typer.Context, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Runbooks and imported articles."""
        knowledge = _knowledge(ctx)
        rows = [{"articleId": a.article_id, "kind": a.kind, "category": a.category, "title": a.title}
                for a in knowledge.articles]
        if json_out:
            print_json(rows)
            return
        for r in rows:
            typer.echo(f"{r['kind']:<10} {r['category'] or '-':<20} {r['articleId']}  {r['title']}")


def _knowledge(ctx: typer.Context):
    from triage.knowledge.base import KnowledgeBase
    from triage.knowledge.pack import load_pack
    from triage.knowledge.store import KnowledgeStore
    from triage.storage.database import Database

    settings = settings_of(ctx)
    if not settings.store_path.exists():
        return KnowledgeBase(load_pack())
    return KnowledgeStore(Database(settings.store_path)).knowledge_base()

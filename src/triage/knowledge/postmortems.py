"""Turn public post-mortem collections (JSON lines) into knowledge-base articles and fix history. Pure.

Two shapes are understood: the ISSRE'22 cloud post-mortems (structured: root-cause labels, mitigation
labels, fix times) and Dan Luu's one-paragraph summaries (category + description).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from triage.errors import InvalidInput
from triage.knowledge.schemas import Article

# Root-cause wording -> taxonomy category. Ordered; first match wins. General words, not dataset ids.
_CATEGORY_RULES: tuple[tuple[str, str], ...] = (
    (r"secur|attack|ddos|malicious|intrusion|breach", "SECURITY"),
    (r"config|misconfig|setting|parameter|flag", "CONFIGURATION"),
    (r"certificate|credential|auth|token|key rotation", "AUTHENTICATION"),
    (r"database|storage metadata|sql|db\b", "DATABASE_CONNECTION"),
    (r"dns|network|router|routing|bgp|fiber|link|packet|load balanc", "NETWORK"),
    (r"power|hardware|disk failure|cooling|temperature|generator|ups\b|fan", "HARDWARE"),
    (r"flood|excessive|overload|capacity|insufficient resource|exhaust|quota|traffic|leak", "RESOURCE_EXHAUSTION"),
    (r"timeout|latency|slow", "TIMEOUT"),
    (r"dependen|upstream|downstream|third.party|external service", "DEPENDENCY_FAILURE"),
    (r"corrupt|data loss|inconsisten|integrity|replication", "DATA_INTEGRITY"),
    (r"code|bug|software|deploy|release|regression|upgrade", "CODE_DEFECT"),
    (r"time|clock|leap|date", "CODE_DEFECT"),
)

# Mitigation phrase -> fix id of the pack. Normalises the free-text variants ("rollback", "roll back …").
_FIX_RULES: tuple[tuple[str, str], ...] = (
    (r"roll ?back.*config|revert.*config|config.*(roll ?back|revert)", "rollback-config"),
    (r"roll ?back|revert|undo|downgrade", "rollback-deployment"),
    (r"fix.*config|config.*(fix|change|update|correct)|correct.*setting", "fix-config-value"),
    (r"restart|reboot|recycl|reset", "restart-service"),
    (r"fail ?over|failover|switch.*(standby|replica|backup)", "failover-database"),
    (r"redirect|reroute|re-route|shift traffic|drain traffic|divert", "redirect-traffic"),
    (r"throttl|rate.?limit|block|shed|filter", "throttle-traffic"),
    (r"add(ed)? capacity|scale|provision|more (nodes|servers|instances)|increase (capacity|resource)", "scale-out"),
    (r"replace|repair.*hardware|hardware|power|generator", "replace-hardware"),
    (r"hot ?fix|patch|deploy(ed)? (a )?fix|code fix|bug ?fix", "hotfix"),
    (r"restore|recover.*data|backup", "restore-database"),
    (r"dns", "flush-dns"),
    (r"network|route|link", "check-network"),
    (r"certificate|cert\b", "renew-certificate"),
    (r"credential|key|secret", "rotate-credentials"),
    (r"disable|turn off|feature flag|kill switch", "disable-feature"),
    (r"isolat|remove.*(node|host|server)|drain|take.*out of (service|rotation)", "drain-node"),
    (r"repair|clean ?up|reconcil", "repair-data"),
)


@dataclass(frozen=True, slots=True)
class FixOutcome:
    """One past use of a fix that resolved an incident of a category."""

    category: str
    fix_id: str
    minutes: float | None


def category_of(text: str) -> str:
    lowered = text.lower()
    for pattern, category in _CATEGORY_RULES:
        if re.search(pattern, lowered):
            return category
    return "UNKNOWN"


def fix_of(mitigation: str) -> str | None:
    lowered = mitigation.lower()
    for pattern, fix_id in _FIX_RULES:
        if re.search(pattern, lowered):
            return fix_id
    return None


def read_jsonl(lines: Iterable[str], source: str) -> Iterator[dict]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{source}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or "id" not in item:
            raise InvalidInput(f"{source}:{number}: expected an object with an 'id'")
        yield item


def to_article(item: dict) -> Article:
    """One post-mortem -> an article (cloud post-mortem or one-paragraph summary)."""
    labels = tuple(str(x) for x in (item.get("root_cause_labels") or []))
    mitigations = tuple(str(x).strip() for x in (item.get("mitigation_labels") or []) if str(x).strip())
    root_cause = str(item.get("root_cause_details") or "")
    summary = str(item.get("summary") or item.get("description") or "")
    symptoms = " ".join(
        str(x) for x in [item.get("manifestation"), item.get("system_kpis"), item.get("business_kpis")] if x
    )
    services = item.get("services") or []
    if isinstance(services, str):
        services = [services]
    basis = " ".join([*labels, root_cause, str(item.get("category") or ""), summary])
    title = str(item.get("title") or f"{item.get('company', 'Unknown')}: {summary[:80]}")
    links = item.get("links") or ([item["link"]] if item.get("link") else [])
    return Article(
        article_id=f"pm-{item['id']}",
        kind="postmortem",
        title=title.strip()[:300],
        category=category_of(basis),
        summary=summary.strip(),
        services=tuple(str(s) for s in services)[:20],
        root_cause=root_cause.strip(),
        root_cause_labels=labels,
        symptoms=symptoms.strip(),
        mitigations=mitigations,
        fixes=tuple(dict.fromkeys(f for f in map(fix_of, mitigations) if f)),
        link=links[0] if links else None,
    )


def fix_outcomes(item: dict, article: Article) -> list[FixOutcome]:
    """The fixes that resolved this incident, with its fix time when recorded."""
    minutes = item.get("fix_time_min") or item.get("duration_min")
    minutes = float(minutes) if isinstance(minutes, int | float) and minutes > 0 else None
    return [FixOutcome(article.category or "UNKNOWN", fix_id, minutes) for fix_id in article.fixes]

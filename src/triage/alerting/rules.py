"""Rules over a diagnosis summary: does it deserve an alert, and of which type? Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from triage.alerting.config import AlertingConfig
from triage.alerting.schemas import AlertSignal, AlertType, DiagnosisSummary


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def classify(diagnosis: DiagnosisSummary, config: AlertingConfig) -> AlertType:
    """The first matching rule's type (PHI flagged on the diagnosis means HIPAA), else the fallback."""
    if diagnosis.phi:
        return AlertType.HIPAA
    text = " ".join(
        part
        for part in (
            diagnosis.category,
            diagnosis.root_cause_issue or "",
            diagnosis.root_cause_service or "",
            " ".join(diagnosis.affected_services),
        )
        if part
    ).replace("_", " ")
    for rule in config.rules:
        if _compiled(rule.pattern).search(text):
            return rule.type
    return config.fallback_type


def signal_from_diagnosis(
    diagnosis: DiagnosisSummary | Mapping[str, Any], config: AlertingConfig
) -> AlertSignal | None:
    """An alert signal for a diagnosis at or above ``min_severity``, else None."""
    summary = diagnosis if isinstance(diagnosis, DiagnosisSummary) else DiagnosisSummary.parse(diagnosis)
    if summary.severity.rank < config.min_severity.rank:
        return None
    services = list(summary.affected_services)
    if summary.root_cause_service and summary.root_cause_service not in services:
        services.insert(0, summary.root_cause_service)
    issue = summary.root_cause_issue or summary.category or "unclassified error"
    where = summary.root_cause_service or (services[0] if services else "unknown service")
    confidence = f" (confidence {summary.confidence:.0%})" if summary.confidence is not None else ""
    return AlertSignal(
        type=classify(summary, config),
        severity=summary.severity,
        title=f"{summary.severity} {summary.category or 'error'} on {where}: {issue}"[:300],
        summary=f"Root cause: {where}: {issue}{confidence}. Affected: {', '.join(services) or 'n/a'}.",
        services=tuple(services),
        incident_id=summary.incident_id,
        source=f"diagnosis:{summary.error_id}",
        occurred_at=summary.detected_at,
        details={"category": summary.category, "error_id": summary.error_id},
    )

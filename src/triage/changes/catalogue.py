"""The catalogue of standard changes: pre-approved, repeatable, low-risk templates.

Built-in entries cover triage's own routine moves; a deployment adds its own under ``catalogue:`` in the
change configuration (same fields). A standard change is still assessed: above the policy's
``standard_max_score`` it is refused and must go through a normal change.
"""

from __future__ import annotations

from triage.changes.config import ChangeConfig, StandardChangeTemplate
from triage.errors import NotFound

BUILTIN_TEMPLATES: tuple[StandardChangeTemplate, ...] = (
    StandardChangeTemplate(
        id="model-promotion",
        title="Promote a challenger model to champion",
        description="Move the registry's champion alias to a challenger that passed the evaluation gate.",
        implementation_plan="Move the champion alias to the challenger version; the scorer reloads it.",
        rollback_procedure="Move the champion alias back to the previous version (triage models rollback).",
        validation_plan="The scorer reports the new version in /readyz and a smoke diagnosis succeeds.",
        rollback_complexity="automated",
    ),
    StandardChangeTemplate(
        id="model-rollback",
        title="Roll a model back to the previous champion",
        description="Return the champion alias to the version it had before the last promotion.",
        implementation_plan="Move the champion alias to the previous champion version.",
        rollback_procedure="Move the alias forward again to the version it was moved from.",
        validation_plan="The scorer reports the previous version in /readyz and a smoke diagnosis succeeds.",
        rollback_complexity="automated",
    ),
    StandardChangeTemplate(
        id="masking-rule-add",
        title="Add a log masking / PHI redaction rule",
        description="Add one reviewed masking or redaction pattern to the parser's rule set.",
        implementation_plan="Add the rule to the rule file; snapshot the configuration first.",
        rollback_procedure="Restore the configuration snapshot taken before the change.",
        validation_plan="Golden parsing tests pass; a sample with the pattern is masked.",
        rollback_complexity="automated",
    ),
    StandardChangeTemplate(
        id="service-restart",
        title="Restart one stateless service instance",
        description="Rolling restart of one stateless service behind a load balancer.",
        implementation_plan="Drain the instance, restart it, wait for its health check.",
        rollback_procedure="None needed: a restart leaves no state; start the old instance if it fails.",
        validation_plan="Health check green and error rate back to baseline within 5 minutes.",
        rollback_complexity="simple",
        estimated_downtime_minutes=0,
    ),
    StandardChangeTemplate(
        id="api-key-rotation",
        title="Rotate an API key",
        description="Create a new key with the same role, hand it over, revoke the old one.",
        implementation_plan="triage keys create with the same role; deploy it; revoke the old key.",
        rollback_procedure="Keep the old key until the new one is confirmed; re-deploy the old key.",
        validation_plan="Requests with the new key succeed; the old key gets 401.",
        rollback_complexity="simple",
    ),
)


def templates(config: ChangeConfig) -> dict[str, StandardChangeTemplate]:
    """Built-ins, overridden or extended by the configuration's catalogue."""
    return {t.id: t for t in (*BUILTIN_TEMPLATES, *config.catalogue)}


def find_template(config: ChangeConfig, template_id: str) -> StandardChangeTemplate:
    found = templates(config).get(template_id)
    if found is None:
        known = ", ".join(sorted(templates(config)))
        raise NotFound(f"no standard change template {template_id!r} (catalogue: {known})")
    return found

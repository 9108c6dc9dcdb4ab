"""What recovery tells the audit trail, as plain records; the caller decides where they go.

Recovery sits beside ``triage.audit`` in the layers, so it does not import it: every function that changes
state takes an ``audit`` callable and hands it a :class:`RecoveryRecord`. The CLI and the API adapt these to
audit events with one shared adapter, ``triage.api.restoration.audit_sink`` (it needs both recovery and
audit, so it lives in a layer above them that the CLI and the API can both import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SNAPSHOT = "recovery.snapshot"
RESTORE = "recovery.restore"
ROLLBACK = "recovery.rollback"
STEP = "recovery.step"

#: Journal kinds that survive a store rollback: audit events record what happened, whatever is undone.
#: (A store restore also carries the audit trail itself forward: :mod:`triage.recovery.carry`.)
KEEP_KINDS = frozenset({"audit"})


@dataclass(frozen=True, slots=True)
class RecoveryRecord:
    action: str
    subject_kind: str
    subject_id: str
    actor: str
    reason: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


AuditSink = Callable[[RecoveryRecord], None]


def no_audit(record: RecoveryRecord) -> None:
    """The sink used when a caller records nothing (tests of pure mechanics, benchmarks)."""

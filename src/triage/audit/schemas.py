"""Audit records: what a domain hands to the log (AuditEvent) and what the log keeps (AuditEntry).

The audit package knows nothing about the domains it records: a subject is a kind and an id
(``change``/``CHG-000012``, ``model``/``diag_lgbm``, ``api_key``/``k_3f…``, ``incident``/``INC-7``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: prev_hash of the first entry of a chain.
GENESIS_HASH = "0" * 64


class Actions:
    """Well-known action names, so that auditors can filter on stable words. Domains may add their own."""

    CHANGE_CREATED = "change.created"
    CHANGE_TRANSITIONED = "change.transitioned"
    CHANGE_ASSESSED = "change.assessed"
    CHANGE_APPROVED = "change.approved"
    CHANGE_REJECTED = "change.rejected"
    CHANGE_SCHEDULED = "change.scheduled"
    CHANGE_VALIDATED = "change.validated"
    CHANGE_ROLLED_BACK = "change.rolled_back"
    CHANGE_DEADLINE_BREACHED = "change.deadline_breached"
    RECOVERY_SNAPSHOT = "recovery.snapshot"
    RECOVERY_RESTORE = "recovery.restore"
    RECOVERY_ROLLBACK = "recovery.rollback"
    MODEL_PROMOTED = "model.promoted"
    MODEL_ROLLED_BACK = "model.rolled_back"
    KEY_CREATED = "api_key.created"
    KEY_REVOKED = "api_key.revoked"
    PHI_READ = "phi.read"
    ALERT_RAISED = "alert.raised"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_RESOLVED = "alert.resolved"


def utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC with microseconds: the form hashed and exported."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: one byte string per value, so hashes are reproducible."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _plain(value: Any) -> Any:
    """A JSON-safe copy (datetimes → ISO strings, tuples → lists) so the hashed form equals the stored form."""
    if value is None:
        return None
    return json.loads(canonical_json(value))


class AuditEvent(BaseModel):
    """Who did what to which subject, when, with the state before and after, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str = Field(min_length=1, max_length=200, description="User or service name that acted.")
    actor_role: str | None = Field(default=None, max_length=50, description="Role the actor acted in.")
    action: str = Field(min_length=1, max_length=100, description="Verb, e.g. change.approved.")
    subject_kind: str = Field(min_length=1, max_length=50)
    subject_id: str = Field(min_length=1, max_length=200)
    at: datetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=4000)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    @field_validator("actor_role", "reason")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("before", "after", "details")
    @classmethod
    def _json_safe(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _plain(value)


class AuditEntry(BaseModel):
    """An event as kept in the chain: its position, the previous entry's hash and its own hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str

    def hashed_fields(self) -> dict[str, Any]:
        """The exact fields the hash covers (everything but the hash itself)."""
        return entry_fields(self.seq, self.event, self.prev_hash)

    def flat(self) -> dict[str, Any]:
        """One flat record for export (CSV columns / JSON objects)."""
        e = self.event
        return {
            "seq": self.seq,
            "at": iso(e.at),
            "actor": e.actor,
            "actor_role": e.actor_role,
            "action": e.action,
            "subject_kind": e.subject_kind,
            "subject_id": e.subject_id,
            "reason": e.reason,
            "before": e.before,
            "after": e.after,
            "details": e.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_fields(seq: int, event: AuditEvent, prev_hash: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": iso(event.at),
        "actor": event.actor,
        "actor_role": event.actor_role,
        "action": event.action,
        "subject_kind": event.subject_kind,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "details": event.details,
        "prev_hash": prev_hash,
    }


class ChainHead(BaseModel):
    """The last entry's position and hash: what an auditor writes down to anchor a later verification."""

    model_config = ConfigDict(frozen=True)

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        from triage.errors import InvalidInput

        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise InvalidInput(f"anchor must read SEQ:SHA256 (64 hex digits), got {text!r}")
        return cls(seq=int(seq), hash=digest.lower())


class VerifyReport(BaseModel):
    """The outcome of checking a chain. ``first_bad_seq`` names the first entry that fails, if any."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries: int
    head: ChainHead | None = None
    first_bad_seq: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            where = f" up to {self.head}" if self.head else ""
            return f"audit trail intact: {self.entries} entries{where}"
        return f"audit trail TAMPERED at entry {self.first_bad_seq}: {self.problem}"


def now_utc() -> datetime:
    return datetime.now(UTC)

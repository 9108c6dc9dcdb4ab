"""API keys, stored hashed, each with one role.

A key reads ``trg_<key_id>_<secret>``: the id finds the row, the secret is compared by its sha256 in
constant time. Secrets are 32 random bytes, so a fast hash is enough (no password stretching needed);
the clear key is shown once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from triage.audit.log import MIGRATIONS as AUDIT_MIGRATIONS
from triage.audit.log import append_events
from triage.audit.schemas import Actions, AuditEvent
from triage.errors import InvalidInput, NotFound
from triage.storage.database import Database, load_migrations

MIGRATIONS = load_migrations("access", Path(__file__).parent / "sql")
KEY_PREFIX = "trg"


class Role(StrEnum):
    SERVICE = "service"
    ANALYST = "analyst"
    ENGINEER = "engineer"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    ERRORS_WRITE = "errors:write"  # post errors / logs for diagnosis
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_WRITE = "incidents:write"  # resolve, feedback
    CHANGES_READ = "changes:read"
    CHANGES_WRITE = "changes:write"  # request and implement changes
    CHANGES_APPROVE = "changes:approve"
    RECOVERY_READ = "recovery:read"
    RECOVERY_WRITE = "recovery:write"
    AUDIT_READ = "audit:read"
    ALERTS_WRITE = "alerts:write"  # acknowledge
    MODELS_READ = "models:read"
    ADMIN = "admin"  # keys, settings


_READ = {Permission.INCIDENTS_READ, Permission.CHANGES_READ, Permission.MODELS_READ}

#: What each role may do. Data, so reviewers can read the policy in one place.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SERVICE: frozenset({Permission.ERRORS_WRITE}),
    Role.ANALYST: frozenset(_READ | {Permission.INCIDENTS_WRITE, Permission.AUDIT_READ}),
    Role.ENGINEER: frozenset(
        _READ
        | {
            Permission.ERRORS_WRITE,
            Permission.INCIDENTS_WRITE,
            Permission.CHANGES_WRITE,
            Permission.RECOVERY_READ,
            Permission.RECOVERY_WRITE,
            Permission.ALERTS_WRITE,
        }
    ),
    Role.APPROVER: frozenset(
        _READ
        | {
            Permission.CHANGES_WRITE,
            Permission.CHANGES_APPROVE,
            Permission.RECOVERY_READ,
            Permission.RECOVERY_WRITE,
            Permission.AUDIT_READ,
            Permission.ALERTS_WRITE,
        }
    ),
    Role.ADMIN: frozenset(Permission),
}


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key: ``secret`` is the full key, shown once."""

    key: ApiKey
    secret: str


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}; use one of: {allowed}") from None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_key(presented: str) -> tuple[str, str] | None:
    """(key_id, full key) for a well-formed key, else None."""
    parts = presented.strip().split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], presented.strip()


class KeyStore:
    """API keys in the store's ``api_keys`` table; creating and revoking one is recorded in the audit trail
    in the same transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate([*MIGRATIONS, *AUDIT_MIGRATIONS])

    def create(self, *, name: str, role: Role, created_by: str | None = None) -> IssuedKey:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("key name must be 1-100 characters")
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32).replace('_', '-')}"
        now = datetime.now(UTC)
        with self.db.write() as s:
            s.execute(
                "INSERT INTO api_keys (key_id, name, role, secret_sha256, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [key_id, name, role.value, _digest(secret), now, created_by],
            )
            append_events(s, [AuditEvent(
                actor=created_by or "cli", action=Actions.KEY_CREATED, subject_kind="api_key", subject_id=key_id,
                at=now, after={"name": name, "role": role.value},  # never the secret or its hash
            )])
        return IssuedKey(ApiKey(key_id, name, role, now), secret)

    def revoke(self, key_id: str, *, revoked_by: str | None = None) -> None:
        now = datetime.now(UTC)
        with self.db.write() as s:
            row = s.fetchone("SELECT name, role FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id])
            if row is None:
                raise NotFound(f"no active key with id {key_id}")
            s.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?", [now, key_id])
            append_events(s, [AuditEvent(
                actor=revoked_by or "cli", action=Actions.KEY_REVOKED, subject_kind="api_key", subject_id=key_id,
                at=now, before={"name": row[0], "role": row[1]},
            )])

    def list(self) -> list[ApiKey]:
        with self.db.read() as s:
            rows = s.execute("SELECT key_id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [ApiKey(r[0], r[1], Role(r[2]), r[3], r[4]) for r in rows]

    def lookup(self, key_id: str) -> tuple[ApiKey, str] | None:
        """One active key and its digest, by id (for a key created after the verifier was loaded)."""
        with self.db.read() as s:
            r = s.fetchone(
                "SELECT key_id, name, role, created_at, secret_sha256 FROM api_keys"
                " WHERE key_id = ? AND revoked_at IS NULL",
                [key_id],
            )
        return None if r is None else (ApiKey(r[0], r[1], Role(r[2]), r[3]), r[4])

    def verifier(self) -> KeyVerifier:
        """An in-memory verifier loaded from the table (the API refreshes it on unknown ids)."""
        with self.db.read() as s:
            rows = s.execute("SELECT key_id, name, role, created_at, secret_sha256 FROM api_keys WHERE revoked_at IS NULL")
        return KeyVerifier({r[0]: (ApiKey(r[0], r[1], Role(r[2]), r[3]), r[4]) for r in rows})


class KeyVerifier:
    """Checks presented keys against known digests without touching the store."""

    def __init__(self, known: dict[str, tuple[ApiKey, str]]) -> None:
        self._known = known

    def __len__(self) -> int:
        return len(self._known)

    def knows(self, key_id: str) -> bool:
        return key_id in self._known

    def add(self, key: ApiKey, digest: str) -> None:
        self._known[key.key_id] = (key, digest)

    def verify(self, presented: str) -> ApiKey | None:
        parsed = split_key(presented)
        if parsed is None:
            return None
        key_id, full = parsed
        entry = self._known.get(key_id)
        if entry is None:
            return None
        key, digest = entry
        return key if hmac.compare_digest(digest, _digest(full)) else None

    def with_bootstrap(self, secret: str | None) -> KeyVerifier:
        """Also accept a configured bootstrap admin key (for a first start with no stored keys)."""
        if not secret:
            return self
        parsed = split_key(secret)
        if parsed is None:
            raise InvalidInput("the bootstrap API key must look like trg_<id>_<secret>")
        key = ApiKey(parsed[0], "bootstrap", Role.ADMIN, datetime.now(UTC))
        return KeyVerifier({**self._known, parsed[0]: (key, _digest(parsed[1]))})

from __future__ import annotations

from pathlib import Path

import pytest

from triage.access.keys import KeyStore, Permission, Role, parse_role, role_allows
from triage.errors import InvalidInput, NotFound
from triage.storage.database import Database


def test_created_key_verifies_and_is_stored_hashed(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.duckdb")
    store = KeyStore(db)
    issued = store.create(name="billing", role=Role.SERVICE)
    verifier = store.verifier()
    assert verifier.verify(issued.secret).role is Role.SERVICE
    assert verifier.verify(issued.secret + "x") is None
    assert verifier.verify("not-a-key") is None
    with db.read() as s:
        stored = s.execute("SELECT * FROM api_keys")
    assert issued.secret not in repr(stored)


def test_creating_and_revoking_keys_is_audited_without_secrets(tmp_path: Path) -> None:
    from triage.audit.log import AuditLog

    db = Database(tmp_path / "s.duckdb")
    store = KeyStore(db)
    issued = store.create(name="billing", role=Role.SERVICE, created_by="ops-admin")
    store.revoke(issued.key.key_id, revoked_by="ops-admin")
    log = AuditLog(db)
    actions = [(e.event.action, e.event.subject_id, e.event.actor) for e in log.entries()]
    assert actions == [("api_key.created", issued.key.key_id, "ops-admin"),
                       ("api_key.revoked", issued.key.key_id, "ops-admin")]
    assert log.verify().ok
    with db.read() as s:
        dumped = repr(s.execute("SELECT * FROM audit_log"))
    assert issued.secret not in dumped and issued.secret.split("_")[2] not in dumped


def test_revoked_keys_stop_working(tmp_path: Path) -> None:
    store = KeyStore(Database(tmp_path / "s.duckdb"))
    issued = store.create(name="a", role=Role.ANALYST)
    store.revoke(issued.key.key_id)
    assert store.verifier().verify(issued.secret) is None
    with pytest.raises(NotFound):
        store.revoke(issued.key.key_id)


def test_roles() -> None:
    assert role_allows(Role.SERVICE, Permission.ERRORS_WRITE)
    assert not role_allows(Role.SERVICE, Permission.INCIDENTS_READ)
    assert role_allows(Role.ANALYST, Permission.INCIDENTS_WRITE)
    assert not role_allows(Role.ANALYST, Permission.CHANGES_APPROVE)
    assert role_allows(Role.APPROVER, Permission.CHANGES_APPROVE)
    assert all(role_allows(Role.ADMIN, p) for p in Permission)
    assert parse_role(" Engineer ") is Role.ENGINEER
    with pytest.raises(InvalidInput, match="unknown role"):
        parse_role("root")

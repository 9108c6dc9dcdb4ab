"""`triage rollback store` end to end: point in time, health checked, audited (audit survives the rollback)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from triage.recovery.crypto import generate_key
from triage.recovery.journal import Journal, JournaledStore
from triage.settings import Settings
from triage.storage.database import Database

from .test_snapshot import one_line_error, run


def test_store_rollback_to_a_moment_keeps_the_audit_trail(tmp_path: Path) -> None:
    from triage.audit.log import AuditLog

    key = generate_key()
    settings = Settings(home=tmp_path / "home")
    db = Database(settings.store_path)
    with db.write() as s:
        s.execute("CREATE TABLE events (id INTEGER)")
    store = JournaledStore(db, Journal(settings.journal_dir))
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(10)]})])
    created = run(settings.home, "snapshot", "create", "-c", "store", "--json", key=key)
    assert created.returncode == 0, created.stderr
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(10, 20)]})])
    moment = datetime.now(UTC).isoformat()
    store.submit([("rows", {"table": "events", "rows": [{"id": i} for i in range(20, 30)]})])

    proc = run(settings.home, "rollback", "store", "--to", moment, "--yes", "--json", key=key)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["healthy"] and result["restore"]["replayed"] >= 1
    with db.read() as s:
        assert s.scalar("SELECT count(*) FROM events") == 20  # up to the moment, nothing after, nothing lost
    audit = AuditLog(db)
    actions = [e.event.action for e in audit.entries()]
    assert actions == ["recovery.snapshot", "recovery.rollback"]
    assert audit.verify().ok

    assert "ISO 8601" in one_line_error(
        run(settings.home, "rollback", "store", "--to", "yesterday", "--yes", key=key)
    )

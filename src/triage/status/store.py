"""The status page's tables in the DuckDB store: recorded samples, posted updates, planned maintenance."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from triage.errors import Conflict, NotFound
from triage.status.schemas import (
    ComponentState,
    Maintenance,
    MaintenanceCreate,
    Sample,
    StoredUpdate,
    UpdateCreate,
    UpdateStatus,
)
from triage.storage.database import Database, load_migrations

MIGRATIONS = load_migrations("status", Path(__file__).parent / "sql")

_MAINTENANCE_COLUMNS = (
    "maintenance_id, title, description, components, starts_at, ends_at, created_by, created_at, canceled_at"
)
_UPDATE_COLUMNS = "update_id, incident_id, status, title, message, components, posted_at, posted_by"


class StatusStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(MIGRATIONS)

    # --- samples ------------------------------------------------------------------------------------------
    def record(self, samples: Sequence[Sample], *, keep_days: int = 91) -> int:
        """Append one tick's samples and drop those older than ``keep_days`` (one transaction)."""
        if not samples:
            return 0
        frame = pd.DataFrame({
            "component": [s.component for s in samples],
            "sampled_at": [s.at for s in samples],
            "state": [s.state.value for s in samples],
            "detail": [s.detail or None for s in samples],
        })
        horizon = max(s.at for s in samples) - timedelta(days=keep_days)
        with self.db.write() as session:
            session.append_df("status_samples", frame)
            session.execute("DELETE FROM status_samples WHERE sampled_at < ?", [horizon])
        return len(frame)

    def day_counts(self, *, since: date) -> dict[str, dict[date, dict[str, int]]]:
        """Samples per component, UTC day and state, from ``since`` on."""
        start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        with self.db.read() as session:
            rows = session.execute(
                "SELECT component, CAST(timezone('UTC', sampled_at) AS DATE) AS day, state, count(*)"
                " FROM status_samples WHERE sampled_at >= ? GROUP BY ALL",
                [start],
            )
        out: dict[str, dict[date, dict[str, int]]] = {}
        for component, day, state, n in rows:
            out.setdefault(component, {}).setdefault(day, {})[state] = int(n)
        return out

    def latest(self) -> dict[str, Sample]:
        """The newest sample of every component."""
        with self.db.read() as session:
            rows = session.execute(
                "SELECT component, sampled_at, state, detail FROM status_samples"
                " QUALIFY row_number() OVER (PARTITION BY component ORDER BY sampled_at DESC) = 1"
            )
        return {r[0]: Sample(r[0], r[1], ComponentState(r[2]), r[3] or "") for r in rows}

    # --- incident updates ---------------------------------------------------------------------------------
    def post_update(
        self, incident_id: str, update: UpdateCreate, *, message: str, components: Sequence[str], actor: str,
        now: datetime,
    ) -> StoredUpdate:
        """Store an update whose ``message`` the caller has already redacted."""
        stored = StoredUpdate(
            update_id=f"upd-{secrets.token_hex(6)}", incident_id=incident_id, status=update.status,
            title=update.title, message=message, components=tuple(components), posted_at=now, posted_by=actor,
        )
        with self.db.write() as session:
            session.execute(
                f"INSERT INTO status_updates ({_UPDATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [stored.update_id, incident_id, stored.status.value, stored.title, stored.message,
                 list(stored.components), now, actor],
            )
        return stored

    def updates(self, incident_ids: Sequence[str] | None = None) -> list[StoredUpdate]:
        where, params = "", []
        if incident_ids is not None:
            if not incident_ids:
                return []
            where, params = " WHERE list_contains(?, incident_id)", [list(incident_ids)]
        with self.db.read() as session:
            rows = session.execute(f"SELECT {_UPDATE_COLUMNS} FROM status_updates{where} ORDER BY posted_at", params)
        return [
            StoredUpdate(update_id=r[0], incident_id=r[1], status=UpdateStatus(r[2]), title=r[3], message=r[4],
                         components=tuple(r[5]), posted_at=r[6], posted_by=r[7])
            for r in rows
        ]

    def updated_incidents(self, *, since: datetime) -> list[str]:
        """Incidents with a posted update since ``since`` (they stay on the page even if not mapped)."""
        with self.db.read() as session:
            rows = session.execute("SELECT DISTINCT incident_id FROM status_updates WHERE posted_at >= ?", [since])
        return [r[0] for r in rows]

    # --- maintenance --------------------------------------------------------------------------------------
    def schedule(self, request: MaintenanceCreate, *, actor: str, now: datetime) -> Maintenance:
        item = Maintenance(
            maintenance_id=f"mnt-{secrets.token_hex(6)}", title=request.title, description=request.description,
            components=tuple(dict.fromkeys(request.components)), starts_at=request.starts_at,
            ends_at=request.ends_at, created_by=actor, created_at=now,
        )
        with self.db.write() as session:
            session.execute(
                f"INSERT INTO status_maintenance ({_MAINTENANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [item.maintenance_id, item.title, item.description, list(item.components), item.starts_at,
                 item.ends_at, actor, now],
            )
        return item

    def cancel(self, maintenance_id: str, *, now: datetime) -> Maintenance:
        with self.db.write() as session:
            row = session.fetchone(
                f"SELECT {_MAINTENANCE_COLUMNS} FROM status_maintenance WHERE maintenance_id = ?", [maintenance_id]
            )
            if row is None:
                raise NotFound(f"no maintenance {maintenance_id}")
            if row[8] is not None:
                raise Conflict(f"maintenance {maintenance_id} is already canceled")
            session.execute("UPDATE status_maintenance SET canceled_at = ? WHERE maintenance_id = ?",
                            [now, maintenance_id])
        return _maintenance(row).model_copy(update={"canceled_at": now})

    def maintenances(self, *, ending_after: datetime, include_canceled: bool = False) -> list[Maintenance]:
        where = "ends_at > ?" + ("" if include_canceled else " AND canceled_at IS NULL")
        with self.db.read() as session:
            rows = session.execute(
                f"SELECT {_MAINTENANCE_COLUMNS} FROM status_maintenance WHERE {where} ORDER BY starts_at",
                [ending_after],
            )
        return [_maintenance(r) for r in rows]


def _maintenance(r: tuple) -> Maintenance:
    return Maintenance(maintenance_id=r[0], title=r[1], description=r[2], components=tuple(r[3]), starts_at=r[4],
                       ends_at=r[5], created_by=r[6], created_at=r[7], canceled_at=r[8])

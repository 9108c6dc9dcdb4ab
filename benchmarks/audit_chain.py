"""Audit trail throughput: appends (one per transaction, and batched), and verify() of the whole chain.

Baseline in the same run: the same rows inserted without hashing or chaining (plain INSERT), and a plain
SELECT of the table, so the cost of the chain itself is visible. Writes into a temporary folder only.

    python benchmarks/audit_chain.py [--entries 20000] [--singles 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from triage.audit.log import AuditLog, _row_of, compute_hash
from triage.audit.schemas import GENESIS_HASH, AuditEntry, AuditEvent
from triage.storage.database import Database


def events(n: int, start: int = 0) -> list[AuditEvent]:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        AuditEvent(actor=f"user{i % 7}", actor_role="engineer", action="change.transitioned", subject_kind="change",
                   subject_id=f"CHG-{i:06d}", at=t0 + timedelta(seconds=i), before={"state": "assess"},
                   after={"state": "authorize", "risk": i % 10}, reason="benchmark", details={"type": "normal"})
        for i in range(start, start + n)
    ]


def _columns(db: Database) -> list[tuple]:
    with db.read() as session:
        return session.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_log' ORDER BY ordinal_position"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000, help="entries appended in batches of 500")
    parser.add_argument("--singles", type=int, default=200, help="entries appended one per transaction")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        log = AuditLog(db)
        log.ensure_schema()
        rows = []

        batch = events(args.entries)
        started = time.perf_counter()
        for i in range(0, len(batch), 500):
            log.append_many(batch[i : i + 500])
        rows.append(("append, batches of 500", args.entries, time.perf_counter() - started))

        singles = events(args.singles, start=args.entries)
        started = time.perf_counter()
        for event in singles:
            log.append(event)
        rows.append(("append, 1 per transaction", args.singles, time.perf_counter() - started))

        started = time.perf_counter()
        report = log.verify()
        rows.append(("verify (whole chain)", report.entries, time.perf_counter() - started))
        assert report.ok, report.problem

        # Baseline: identical rows, no hashing, no head, no chain lookups.
        plain = [_row_of(AuditEntry(seq=i + 1, event=e, prev_hash=GENESIS_HASH, hash=GENESIS_HASH))
                 for i, e in enumerate(batch)]
        with db.write() as session:
            session.execute("CREATE TABLE plain AS SELECT * FROM audit_log LIMIT 0")
        columns = [c[0] for c in _columns(db)]
        started = time.perf_counter()
        for i in range(0, len(plain), 500):
            frame = pd.DataFrame(plain[i : i + 500], columns=columns)
            frame["occurred_at"] = pd.to_datetime(frame["occurred_at"]).astype("datetime64[us]")
            with db.write() as session:
                session.append_df("plain", frame)
        rows.append(("baseline: plain insert, batches of 500", len(plain), time.perf_counter() - started))
        started = time.perf_counter()
        for row in plain[: args.singles]:
            with db.write() as session:
                session.execute(f"INSERT INTO plain VALUES ({', '.join('?' * 13)})", row)
        rows.append(("baseline: plain insert, 1 per transaction", args.singles, time.perf_counter() - started))
        started = time.perf_counter()
        with db.read() as session:
            session.execute("SELECT * FROM plain ORDER BY seq")
        rows.append(("baseline: plain read of the table", len(plain), time.perf_counter() - started))
        started = time.perf_counter()
        for e in batch:
            compute_hash(1, e, GENESIS_HASH)
        rows.append(("hashing alone (canonical JSON + sha256)", len(batch), time.perf_counter() - started))

    print(f"{'operation':<42} {'entries':>8} {'seconds':>9} {'entries/s':>11}")
    for name, n, seconds in rows:
        print(f"{name:<42} {n:>8} {seconds:>9.3f} {n / seconds:>11,.0f}")


if __name__ == "__main__":
    main()

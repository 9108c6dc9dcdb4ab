"""Recovery: snapshot, restore and incremental times of a ≥ 1 GB DuckDB store beside `cp`, and the RPO.

    .venv/bin/python benchmarks/recovery.py [--gib 1.0] [--workdir DIR] [--repeat 2]

All in one temporary home (deleted at the end, with its ~4 GB of files):

1. builds a DuckDB store of ``--gib`` GiB (random, poorly compressible rows), written once directly and
   then once through the journal so that the store is at a journaled state;
2. baseline: ``cp`` of the store file (the physical floor), and ``cp`` + ``fsync`` of the copy (what a
   durable restore must at least do) — each ``--repeat`` times, interleaved with the restores;
3. full snapshot of the store (chunk, hash, AES-GCM, write + fsync each chunk);
4. restore of that snapshot (build beside the live file, authenticate every chunk, fsync, swap; the
   replaced file is removed after the restore returns and timed on its own);
5. a ~1 % change (new rows as large as 1 % of the file) through the journal, then an incremental
   snapshot in both modes: ``journal`` (the parent's chunks + the journal since; the store is not read)
   and ``chunks`` (re-read and re-hash the file, store only the changed chunks), and the restore of the
   journal-mode one (base + replay);
6. RPO: a writer process posts events through the journal in groups (fsync per group) and is killed
   (SIGKILL) at a random moment; the store is then restored from the last snapshot + the journal to
   "now". Lost acknowledged events must be 0; the achieved RPO is the gap between the kill and the newest
   recovered event. A restore to a moment in the middle is checked against the journal exactly.

Targets (issue 6): restore ≤ 1.5 × a plain copy; incremental after a 1 % change ≤ 10 % of a full
snapshot's time; zero lost events for a point-in-time restore to any moment the journal covers.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from triage.recovery.crypto import generate_key
from triage.recovery.executor import create_snapshot, open_repository, restore_snapshot, wait_for_cleanup
from triage.recovery.journal import Journal, JournaledStore
from triage.recovery.rollback import rollback_store
from triage.settings import Settings
from triage.storage.database import Database

GIB = 1 << 30


def build_store(settings: Settings, gib: float) -> tuple[JournaledStore, int]:
    """A store of at least ``gib`` GiB of random rows; returns the journaled writer and the row count."""
    db = Database(settings.store_path, threads=2)
    with db.write() as s:
        s.execute("CREATE TABLE events (id BIGINT, ts TIMESTAMP, service VARCHAR, msg VARCHAR, value DOUBLE)")
    rows = 0
    step = 2_000_000
    while not settings.store_path.exists() or settings.store_path.stat().st_size < gib * GIB:
        with db.write() as s:
            s.execute(
                "INSERT INTO events SELECT i, TIMESTAMP '2026-05-01' + to_seconds(i // 1000), "
                "'svc-' || (i % 37), md5(random()::VARCHAR) || md5(random()::VARCHAR), random() "
                f"FROM range({rows}, {rows + step}) t(i)"
            )
        rows += step
    store = JournaledStore(db, Journal(settings.journal_dir))
    store.submit([("rows", {"table": "events", "rows": [event(rows)]})])  # now at a journaled state
    return store, rows + 1


def event(i: int) -> dict:
    return {"id": i, "ts": "2026-05-27T06:00:00", "service": f"svc-{i % 37}",
            "msg": f"{random.getrandbits(128):032x}{random.getrandbits(128):032x}", "value": random.random()}  # fmt: skip


CPU: dict[str, float] = {}


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, label: str | None = None):
    """(wall seconds, result); CPU seconds (all threads, and children such as cp) go to CPU[label]."""
    cpu, started = _cpu(), time.perf_counter()
    result = fn()
    wall = time.perf_counter() - started
    if label:
        CPU.setdefault(label, 0.0)
        CPU[label] = _cpu() - cpu
    return wall, result


def cp_time(src: Path, dst: Path, *, durable: bool) -> float:
    dst.unlink(missing_ok=True)

    def copy() -> None:
        subprocess.run(["cp", str(src), str(dst)], check=True)
        if durable:
            fd = os.open(dst, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)

    elapsed, _ = timed(copy, "cp+fsync" if durable else "cp")
    dst.unlink()
    return elapsed


WRITER = """
import sys
from pathlib import Path
from triage.recovery.journal import Journal, JournaledStore
from triage.storage.database import Database
journal = Journal(Path(sys.argv[2]))
store = JournaledStore(Database(Path(sys.argv[1])), journal)
group, i, groups = int(sys.argv[3]), 0, 0
while True:
    rows = [{"id": i + k, "ts": "2026-05-27T06:00:00", "service": "rpo", "msg": "posted", "value": 0.0}
            for k in range(group)]
    journal.append_many([("rows", {"table": "events", "rows": rows})])  # durable (fsync) before the ack
    i += group
    groups += 1
    print(i - 1, flush=True)  # acknowledged, as an API answers once the journal has it
    if groups % 20 == 0:
        store.catch_up()  # the store follows in batches
"""


def rpo_run(settings: Settings, seconds: float, group: int) -> dict:
    """Kill a journaling writer at a random moment; restore snapshot + journal; count what was lost."""
    snap = create_snapshot(settings, components=["store"], store_mode="chunks", reason="rpo base").manifest
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.store_path), str(settings.journal_dir), str(group)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    acked: list[int] = []
    reader = threading.Thread(target=lambda: acked.extend(int(line) for line in proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not acked and time.monotonic() < deadline:  # the writer is up and acknowledging
        time.sleep(0.01)
    time.sleep(random.uniform(0.5, seconds))
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = datetime.now(UTC)
    proc.wait()
    reader.join(10)
    journal = Journal(settings.journal_dir)
    entries = list(journal.read(after_seq=snap.store.position))
    # the moment of the crash: everything acknowledged must come back
    result = rollback_store(settings, to=killed_at, snapshot_id=snap.id)
    with Database(settings.store_path).read() as s:
        recovered = {r[0] for r in s.execute("SELECT id FROM events WHERE service = 'rpo'")}
    # a moment in the middle: exactly the journal's events up to it
    middle = entries[len(entries) // 2].ts if entries else killed_at
    rollback_store(settings, to=middle, snapshot_id=snap.id)
    expected_mid = {
        r["id"] for e in entries if e.ts <= middle and e.kind == "rows" for r in e.payload["rows"]
    }
    with Database(settings.store_path).read() as s:
        got_mid = {r[0] for r in s.execute("SELECT id FROM events WHERE service = 'rpo'")}
    acked_ids = set(range(0, acked[-1] + 1)) if acked else set()
    newest = max((e.ts for e in entries if e.kind == "rows"), default=None)
    return {
        "acknowledged": len(acked_ids),
        "recovered": len(recovered),
        "lost_acknowledged": len(acked_ids - recovered),
        "middle_exact": got_mid == expected_mid,
        "middle_events": len(expected_mid),
        "rpo_s": (killed_at - newest).total_seconds() if newest else None,
        "replayed_entries": result.restore.replayed if result.restore else 0,
        "restore_s": result.restore.seconds if result.restore else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rpo-seconds", type=float, default=4.0)
    parser.add_argument("--group", type=int, default=20, help="events per journal group (one fsync each)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="triage-recovery-bench-", dir=args.workdir))
    try:
        settings = Settings(home=work / "home", snapshot_key=SecretStr(generate_key()))
        t_build, (store, rows) = timed(lambda: build_store(settings, args.gib))
        size = settings.store_path.stat().st_size
        print(f"store: {size / GIB:.2f} GiB, {rows:,} rows, built in {t_build:.0f} s")
        repo = open_repository(settings)

        t_full, full = timed(
            lambda: create_snapshot(settings, components=["store"], reason="full", repo=repo), "full"
        )
        assert full.manifest.store.mode == "chunks"
        # ~1 % change through the journal: new rows as large as 1 % of the file
        per_row = size / rows
        change = int(0.01 * size / per_row)
        t_change, _ = timed(lambda: [store.submit([("rows", {"table": "events", "rows": [event(rows + k + j * 10_000)
                                     for k in range(min(10_000, change - j * 10_000))]})])
                                     for j in range((change + 9_999) // 10_000)])  # fmt: skip
        journal_bytes = sum(p.stat().st_size for p in Journal(settings.journal_dir).segments())
        t_inc_j, inc_j = timed(
            lambda: create_snapshot(settings, components=["store"], repo=repo, store_mode="journal"), "inc_j"
        )
        t_inc_c, inc_c = timed(
            lambda: create_snapshot(settings, components=["store"], repo=repo, store_mode="chunks"), "inc_c"
        )
        cps, cps_durable, restores, cleanups = [], [], [], []
        copy = settings.store_path.with_name("copy.duckdb")
        for _ in range(args.repeat):
            cps.append(cp_time(settings.store_path, copy, durable=False))
            cps_durable.append(cp_time(settings.store_path, copy, durable=True))
            t, _ = timed(lambda: restore_snapshot(settings, full.manifest.id, repo=repo), "restore")
            restores.append(t)
            # the replaced store is removed after the restore returns (like cp's old copy, not timed there)
            cleanups.append(timed(wait_for_cleanup)[0])
        t_res_j, res_j = timed(lambda: restore_snapshot(settings, inc_j.manifest.id, repo=repo))
        wait_for_cleanup()
        stored = repo.stored_bytes()
        rpo = rpo_run(settings, args.rpo_seconds, args.group)

        cp, cpd, rs = statistics.median(cps), statistics.median(cps_durable), statistics.median(restores)
        rows_out = [
            ("store size", f"{size / GIB:.2f} GiB", ""),
            ("cp (page cache, no fsync) — baseline", f"{cp:.2f} s", f"{size / GIB / cp:.2f} GiB/s"),
            ("cp + fsync of the copy — baseline", f"{cpd:.2f} s", f"{size / GIB / cpd:.2f} GiB/s"),
            ("full snapshot (chunk+hash+AES-GCM+fsync)", f"{t_full:.2f} s", f"{size / GIB / t_full:.2f} GiB/s"),
            ("restore (verify + fsync + atomic swap)", f"{rs:.2f} s",
             f"{rs / cp:.2f}× cp, {rs / cpd:.2f}× cp+fsync (target ≤ 1.5×)"),
            ("removal of the replaced store (after the restore returned)", f"{statistics.median(cleanups):.2f} s",
             "background; a next restore waits for it"),
            (f"~1 % change through the journal ({change:,} rows, journal {journal_bytes / 2**20:.0f} MiB)",
             f"{t_change:.2f} s", ""),
            ("incremental snapshot, journal mode", f"{t_inc_j:.2f} s",
             f"{t_inc_j / t_full:.1%} of full (target ≤ 10 %), {inc_j.stats['bytes_new'] / 2**20:.1f} MiB new"),
            ("incremental snapshot, chunks mode (re-read)", f"{t_inc_c:.2f} s",
             f"{t_inc_c / t_full:.1%} of full, {inc_c.stats['bytes_new'] / 2**20:.1f} MiB new"),
            ("restore of the journal-mode snapshot (base + replay)", f"{t_res_j:.2f} s",
             f"replayed {res_j.replayed} entries"),
            ("snapshot folder after 3 snapshots", f"{stored / GIB:.2f} GiB", "chunks shared between snapshots"),
            (f"RPO run: writer killed, {rpo['acknowledged']:,} events acknowledged", f"{rpo['recovered']:,} recovered",
             f"lost acknowledged: {rpo['lost_acknowledged']} (target 0)"),
            ("RPO achieved with the journal", f"{rpo['rpo_s']:.3f} s",
             f"group of {args.group} events per fsync; snapshot-only RPO would be the snapshot interval"),
            ("PITR to a moment mid-run equals the journal", str(rpo["middle_exact"]), f"{rpo['middle_events']:,} events"),
        ]  # fmt: skip
        width = max(len(r[0]) for r in rows_out)
        print(f"\n{'measure':<{width}}  {'value':>14}  note")
        for name, value, note in rows_out:
            print(f"{name:<{width}}  {value:>14}  {note}")

        def fmt(xs: list[float]) -> str:
            return ", ".join(f"{x:.2f}" for x in xs)

        print(f"\nraw seconds: cp {fmt(cps)}; cp+fsync {fmt(cps_durable)}; restore {fmt(restores)}; cleanup {fmt(cleanups)}; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print("CPU seconds (all threads + children; independent of other load): "
              + ", ".join(f"{k} {v:.2f}" for k, v in CPU.items()))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

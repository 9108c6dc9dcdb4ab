"""A real `triage ingest` process, SIGKILLed twice mid-way, then run to the end: every line exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from triage.features.ingest_job import ingest
from triage.features.store import FeatureStore
from triage.settings import Settings
from triage.storage.database import StorageError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "features"
BATCH_LINES = 200


def _big_log(path: Path, copies: int) -> int:
    """Real HDFS lines, each copy with its own block ids so the parser keeps working."""
    lines = (FIXTURES / "HDFS_300.log").read_bytes().splitlines(keepends=True)
    with open(path, "wb") as out:
        for k in range(copies):
            out.writelines(line.replace(b"blk_", b"blk_%d" % k) for line in lines)
    return copies * len(lines)


def _committed(settings: Settings) -> int:
    try:
        sources = FeatureStore(settings).sources()
    except StorageError:
        return 0
    return int(sources["lines_committed"].sum()) if len(sources) else 0


def _start(home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRIAGE_INGEST_BATCH_LINES": str(BATCH_LINES)}
    cmd = [sys.executable, "-m", "triage.cli", "--home", str(home), "ingest", str(log), "--json"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_after_progress(proc: subprocess.Popen[bytes], settings: Settings, beyond: int, total: int) -> int:
    """SIGKILL the process once more than ``beyond`` lines are committed; returns lines committed then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = _committed(settings)
        if done > beyond:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            return done
        time.sleep(0.02)
    raise AssertionError(
        f"ingest ended (rc={proc.returncode}) before it could be killed; {total} lines too few?"
    )


def test_sigkill_mid_ingest_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    total = _big_log(log, copies=12)
    home = tmp_path / "home"
    settings = Settings(home=home)

    first = _kill_after_progress(_start(home, log), settings, 0, total)
    second = _kill_after_progress(_start(home, log), settings, first + BATCH_LINES, total)
    assert 0 < first < second < total
    store = FeatureStore(settings)
    before_last = _committed(settings)
    assert store.verify() == []  # what was committed is whole: no gap, no overlap
    assert list(store.ingest_runs()["status"]) == ["interrupted", "running"]  # a new run marks the dead one

    proc = _start(home, log)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["lines"] == total - before_last
    assert store.ingest_runs()["lines"].sum() == total  # each run counted exactly what it committed
    assert store.verify() == []
    counts = store.counts()
    assert counts["events"] + counts["quarantine"] == total  # one record per line in this log
    assert sorted(store.events(columns=["line_no"])["line_no"]) == list(range(1, total + 1))
    assert list(store.ingest_runs()["status"]) == ["interrupted", "interrupted", "completed"]

    # the same file ingested without interruption gives the same events and template ids
    reference = Settings(home=tmp_path / "reference")
    ingest(reference, [log], batch_lines=5_000)
    query = "SELECT line_no, template_id, content, params FROM events ORDER BY line_no"
    assert store.sql(query).equals(FeatureStore(reference).sql(query))
    assert store.templates().equals(FeatureStore(reference).templates())

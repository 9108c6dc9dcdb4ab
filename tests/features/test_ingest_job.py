from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from triage.errors import Conflict, InvalidInput, NotFound
from triage.features import ingest_job
from triage.features.ingest_job import default_service, ingest, ingest_lock, resolve_inputs
from triage.features.store import FeatureStore
from triage.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "features"
HDFS = FIXTURES / "HDFS_300.log"


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _store(settings: Settings) -> FeatureStore:
    return FeatureStore(settings)


def _rows(store: FeatureStore) -> list[tuple]:
    frame = store.sql(
        "SELECT line_no, template_id, content, params, ts, level, component FROM events ORDER BY line_no"
    )
    return [
        tuple(map(lambda v: tuple(v) if hasattr(v, "tolist") else v, row))
        for row in frame.itertuples(index=False)
    ]


def test_counts_add_up_and_ingesting_again_adds_nothing(settings: Settings, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(FIXTURES, logs)  # README.md is skipped by the directory walk
    first = ingest(settings, [logs])
    assert first.lines == 700
    assert first.events + first.merged + first.quarantined == first.lines
    assert first.sources == 3 and first.templates > 10
    store = _store(settings)
    before = store.counts()
    assert before["events"] == first.events and before["ingest_sources"] == 3
    assert store.verify() == []

    again = ingest(settings, [logs])
    assert (again.lines, again.events, again.quarantined, again.templates) == (0, 0, 0, 0)
    assert again.unchanged == 3
    assert store.counts() == {**before, "ingest_runs": 2}  # nothing added
    twice = tmp_path / "twice"
    twice.mkdir()
    fresh = b"".join(reversed(_lines(logs / "OpenSSH_200.log")))
    for name in ("a.log", "b.log"):  # new bytes twice in one run: the second copy adds nothing
        (twice / name).write_bytes(fresh)
    assert ingest(settings, [twice]).lines == 200
    moved = tmp_path / "elsewhere.log"  # same bytes under another name and path: the same source
    shutil.copy(logs / "HDFS_300.log", moved)
    assert ingest(settings, [moved]).lines == 0
    after = store.counts()
    assert after["events"] == before["events"] + 200 and after["ingest_sources"] == 4
    assert after["ingest_runs"] == 4
    # the exported parser state is the one committed with the events
    exported = json.loads(settings.miner_state_path.read_text())
    committed = store.miner_state()
    assert committed is not None and exported["body"] == json.loads(committed[1])


def test_a_grown_file_adds_only_its_new_lines(settings: Settings, tmp_path: Path) -> None:
    lines = _lines(HDFS)
    log = tmp_path / "grow.log"
    log.write_bytes(b"".join(lines[:120]))
    assert ingest(settings, [log]).lines == 120
    with open(log, "ab") as out:
        out.write(b"".join(lines[120:]))
    grown = ingest(settings, [log])
    assert grown.lines == 180 and grown.events == 180
    store = _store(settings)
    assert store.verify() == []
    events = store.events(columns=["line_no", "run_id"])
    assert sorted(events["line_no"]) == list(range(1, 301))
    assert events.groupby("run_id").size().sort_values().tolist() == [120, 180]
    assert len(store.sources()) == 1
    runs = store.ingest_runs()
    assert runs["commits"].tolist() == [1, 1] and (runs["max_commit_seconds"] > 0).all()
    assert (runs["commit_seconds"] >= runs["max_commit_seconds"]).all()


def test_a_file_rewritten_under_the_same_name_is_a_new_source(settings: Settings, tmp_path: Path) -> None:
    lines = _lines(HDFS)
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(lines[:200]))
    ingest(settings, [log])
    log.write_bytes(
        b"".join(lines[:100])
    )  # same head, but shorter than what was committed: not the same file
    assert ingest(settings, [log]).lines == 100
    log.write_bytes(b"".join(lines[:100] + lines[250:]))  # the 100-line file, grown: continues that source
    assert ingest(settings, [log]).lines == 50
    log.write_bytes(b"".join(lines[:50] + lines[200:]))  # same head, other bytes where the others stopped
    assert ingest(settings, [log]).lines == 150
    store = _store(settings)
    assert len(store.sources()) == 3
    assert store.counts()["events"] == 500
    assert store.verify() == []


GARBAGE = [
    b"\r\n",  # blank before any record: nothing to join it to
    b"\x00\x01\x02\x03 binary \xff\xfe\x00\x00\n",
    b"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating\r\n",
    b"java.io.IOException: Connection reset by peer\n",  # a continuation: merged into the record above
    b"\tat org.apache.hadoop.dfs.DataNode.run(DataNode.java:42)\n",
    b"\xc3\x28 this line is not valid UTF-8 and matches no header\n",
    b"081109 203616 148 INFO dfs.DataNode$PacketResponder: Received block blk_2 of size 67108864 from /10.0.0.1\n",
    b"a trailing fragment without newline",
]


def test_garbage_is_quarantined_with_its_bytes_and_nothing_is_dropped(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "mixed.log"
    log.write_bytes(b"".join(GARBAGE))
    report = ingest(settings, [log], format="hdfs")
    assert report.lines == len(GARBAGE)
    assert report.events + report.merged + report.quarantined == report.lines
    assert (report.events, report.merged) == (2, 2)
    store = _store(settings)
    quarantine = store.quarantine()
    assert list(quarantine["line_no"]) == [1, 2, 6, 8]
    for row in quarantine.itertuples():
        original = GARBAGE[row.line_no - 1]
        assert bytes(row.raw) == original  # no PHI here, so kept byte for byte
        assert row.raw_sha256 == hashlib.sha256(original).hexdigest()
        assert row.reason
    first = store.events(columns=["line_no", "n_lines", "content"]).iloc[0]
    assert (first.line_no, first.n_lines) == (3, 3)
    assert "Connection reset by peer" in first.content and "DataNode.java:42" in first.content
    assert store.verify() == []


PHI = {
    "email": "jane.doe@example.org",
    "ssn": "123-45-6789",
    "phone": "(555) 867-5309",
    "mrn": "MRN00482913",
    "password": "hunter2secret",
    "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2hlcmU",
    "name": "Jonathan Appleseed",
}


def _phi_log() -> bytes:
    p = PHI
    rows = [
        f'{{"time":"2024-05-01T10:00:0{i}Z","level":"error","service":"ehr-api","host":"{p["email"]}",'
        f'"logger":"auth","message":"{msg}"}}\n'
        for i, msg in enumerate(
            [
                f"login failed for {p['email']} from 10.1.2.3",
                f"patient {p['name']} record opened, SSN {p['ssn']}",
                f"callback number {p['phone']} saved for medical record number {p['mrn']}",
                f"retrying with password={p['password']}",
                f"Authorization: Bearer {p['token']}",
            ]
        )
    ]
    rows.append(
        f"not json at all, contact {p['email']} or ssn {p['ssn']}\n"
    )  # quarantined: PHI redacted there too
    return "".join(rows).encode()


def _all_text(store: FeatureStore) -> str:
    """Every value of every column of every table in the store, as text."""
    with store.db.read() as s:
        tables = [r[0] for r in s.execute("SELECT table_name FROM information_schema.tables")]
    chunks = []
    for table in tables:
        frame = store.sql(f'SELECT * FROM "{table}"')
        for value in frame.to_numpy().ravel():
            if isinstance(value, (bytes, bytearray, memoryview)):
                chunks.append(bytes(value).decode("utf-8", "replace"))
            elif hasattr(value, "tolist"):
                chunks.append(json.dumps(value.tolist(), default=str))
            else:
                chunks.append(str(value))
    return "\n".join(chunks)


def test_no_phi_reaches_the_store_or_the_miner_state(settings: Settings, tmp_path: Path) -> None:
    log = tmp_path / "ehr.jsonl"
    log.write_bytes(_phi_log())
    report = ingest(settings, [log], format="json")
    assert (report.events, report.quarantined) == (5, 1)
    store = _store(settings)
    text = _all_text(store)
    assert "ehr-api" in text and "login failed for" in text  # the data is there ...
    stored = text + settings.miner_state_path.read_text()
    leaked = {kind: value for kind, value in PHI.items() if value in stored}
    assert leaked == {}  # ... but no PHI value, in any column of any table or in the parser state
    assert (
        store.quarantine().loc[0, "raw_sha256"]
        == hashlib.sha256(_phi_log().splitlines(keepends=True)[-1]).hexdigest()
    )


def test_standard_input_is_ingested_once(settings: Settings) -> None:
    data = HDFS.read_bytes()
    first = ingest(settings, ["-"], stdin=io.BytesIO(data))
    assert first.lines == 300
    assert ingest(settings, ["-"], stdin=io.BytesIO(data)).lines == 0
    assert ingest(settings, ["-"], stdin=io.BytesIO(data + data[:116])).lines == 1  # it grew by one line
    assert set(_store(settings).events(columns=["source"])["source"]) == {"stdin"}
    assert not list(settings.interim_dir.glob(".stdin-*"))  # the copy is removed


def test_an_interrupted_ingest_resumes_exactly_once_with_the_same_templates(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(FIXTURES, logs)
    reference = Settings(home=tmp_path / "reference")
    ingest(reference, [logs], batch_lines=100)

    original = FeatureStore.commit_batches
    calls = {"n": 0}

    def crash_on_fourth(self: FeatureStore, batches, *, now) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the process is stopped in the middle of a run
        original(self, batches, now=now)

    monkeypatch.setattr(FeatureStore, "commit_batches", crash_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, [logs], batch_lines=100)
    store = _store(settings)
    partial = store.counts()["events"]
    assert 0 < partial < 700
    assert store.verify() == []
    assert store.ingest_runs().loc[0, "status"] == "interrupted"
    monkeypatch.setattr(FeatureStore, "commit_batches", original)

    resumed = ingest(settings, [logs], batch_lines=100)
    assert resumed.lines + store.ingest_runs().loc[0, "lines"] == 700
    assert store.verify() == []
    assert _rows(store) == _rows(FeatureStore(reference))  # same events, same template ids
    assert store.templates().to_dict("records") == FeatureStore(reference).templates().to_dict("records")


def test_bad_input_fails_before_anything_is_written(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        ingest(settings, [HDFS, tmp_path / "missing.log"])
    with pytest.raises(InvalidInput, match=r"(?i)format"):
        ingest(settings, [HDFS], format="<Date> <Time")
    with pytest.raises(InvalidInput, match="unknown log format"):
        ingest(settings, [HDFS], format="no-such-preset")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("not a log")
    with pytest.raises(InvalidInput, match="no log files"):
        ingest(settings, [empty])
    with pytest.raises(InvalidInput, match="only once"):
        resolve_inputs(["-", "-"])
    assert not settings.store_path.exists()


def test_one_ingest_at_a_time(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_job, "INGEST_LOCK_TIMEOUT", 0.2)
    with ingest_lock(settings), pytest.raises(Conflict, match="another ingest"):
        ingest(settings, [HDFS])


def test_default_service_is_the_file_name_up_to_its_first_dot() -> None:
    assert default_service("/var/log/payments.log.1") == "payments"
    assert default_service("HDFS_300.log") == "HDFS_300"
    assert default_service("stdin") is None


def test_templates_merged_by_the_parser_are_updated_even_without_events_in_the_batch(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "cache.log"
    log.write_text(
        "Block rdd_1 stored as bytes in memory\n"
        "Block rdd_2 stored as values in memory\n"  # a second word: still two templates
        "Block rdd_3 stored as blobs in memory\n"  # a third: a variable; the two templates merge
        "Block rdd_4 stored as blobs in memory\n"
    )
    ingest(settings, [log], format="plain", batch_lines=2)
    store = _store(settings)
    templates = store.templates().set_index("template_id")
    merged = templates[templates["merged_into"].notna()]
    assert len(merged) == 1 and len(templates) == 2
    (loser, row) = next(iter(merged.iterrows()))
    survivor = templates.loc[row["merged_into"]]
    assert row["text"] == survivor["text"] and "<*>" in survivor["text"]
    assert row["version"] == 2 and row["count"] == 1 and survivor["count"] == 3
    assert list(store.template_versions(loser)["version"]) == [1, 2]
    assert store.verify() == []


@pytest.mark.parametrize("reader", ["inline", "process"])
def test_a_grown_copy_read_in_the_same_run_adds_only_its_new_lines(
    settings: Settings, tmp_path: Path, reader: str
) -> None:
    lines = _lines(HDFS)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(b"".join(lines[:200]))
    (logs / "b.log").write_bytes(b"".join(lines))  # a.log's bytes and 100 more lines
    # a.log's batches may still be on their way to the store when b.log is opened
    report = ingest(settings, [logs], batch_lines=50, reader=reader)
    assert report.lines == 300 and report.sources == 2
    store = _store(settings)
    assert len(store.sources()) == 1 and store.counts()["events"] == 300
    assert store.verify() == []


@pytest.mark.parametrize("reader", ["inline", "process"])
def test_files_sharing_a_head_in_one_run_are_told_apart_while_their_batches_are_on_their_way(
    settings: Settings, tmp_path: Path, reader: str
) -> None:
    """The run keeps its own view of the sources (nothing waits for the commits): a copy of a file read just
    before adds nothing, while a shorter copy (it ends before what is committed) and a file with the same
    head but other bytes are new sources (their ids then come from the whole file, the head's being taken)
    -- as when each file is ingested in a run of its own."""
    lines = _lines(HDFS)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(b"".join(lines[:200]))
    (logs / "b.log").write_bytes(b"".join(lines[:200]))  # the same bytes
    (logs / "c.log").write_bytes(b"".join(lines[:150]))  # a prefix
    (logs / "d.log").write_bytes(b"".join(lines[:50] + lines[220:]))  # same head, then other lines
    report = ingest(settings, [logs], batch_lines=40, reader=reader)
    assert report.lines == 200 + 150 + 130 and report.sources == 3 and report.unchanged == 1
    one_by_one = Settings(home=tmp_path / "one_by_one")
    for name in ("a", "b", "c", "d"):
        ingest(one_by_one, [logs / f"{name}.log"], batch_lines=40)
    store, reference = _store(settings), FeatureStore(one_by_one)
    assert store.verify() == []
    columns = ["source_id", "bytes_committed", "lines_committed", "check_sha", "head_len", "head_sha"]
    assert store.sources()[columns].sort_values("source_id").values.tolist() == (
        reference.sources()[columns].sort_values("source_id").values.tolist()
    )
    assert store.counts()["events"] == reference.counts()["events"] == 480


def test_waiting_batches_are_committed_together_and_exactly_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the parser is ahead of the store, queued batches share one transaction; the result is the same
    as one batch per transaction, and a kill during a shared commit loses nothing and duplicates nothing."""
    import threading

    logs = tmp_path / "logs"
    shutil.copytree(FIXTURES, logs)
    reference = Settings(home=tmp_path / "reference")
    ingest(reference, [logs], batch_lines=50)

    original = FeatureStore.commit_batches
    sizes: list[int] = []
    queued = threading.Event()

    def slow_first(self: FeatureStore, batches, *, now) -> None:
        if not sizes:
            queued.wait(5)  # hold the first commit until the parser has queued the next batches
        sizes.append(len(batches))
        if sum(sizes) > 6:
            raise KeyboardInterrupt  # stopped during a commit (after some shared ones)
        original(self, batches, now=now)

    real_put = ingest_job.queue.Queue.put

    def put(self, item, *args, **kwargs) -> None:
        real_put(self, item, *args, **kwargs)
        if self.full():
            queued.set()

    monkeypatch.setattr(ingest_job.queue.Queue, "put", put)
    monkeypatch.setattr(FeatureStore, "commit_batches", slow_first)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, [logs], batch_lines=50)
    assert max(sizes) == ingest_job.GROUP_COMMIT_BATCHES  # batches were committed together
    store = _store(settings)
    assert 0 < store.counts()["events"] < 700
    assert store.verify() == []

    monkeypatch.setattr(FeatureStore, "commit_batches", original)
    ingest(settings, [logs], batch_lines=50)
    assert store.verify() == []
    assert _rows(store) == _rows(FeatureStore(reference))  # same events, same template ids
    assert store.templates().to_dict("records") == FeatureStore(reference).templates().to_dict("records")
    runs = store.ingest_runs()
    assert runs["lines"].sum() == 700


# ------------------------------------------------------------------------------------------ reader processes

LOGS = FIXTURES.parent / "logs"


def _mixed_logs(folder: Path) -> Path:
    """Every log fixture (Loghub slices, handwritten formats, JSON lines, messy lines), a multi-line file with
    PHI, binary and orphan lines, a file without timestamps, and a prefix copy of another file."""
    folder.mkdir()
    for sub in ("loghub", "handwritten", "messy"):
        for path in sorted((LOGS / sub).iterdir()):
            if path.suffix in (".log", ".jsonl"):
                shutil.copy(path, folder / f"{sub}_{path.name}")
    for path in FIXTURES.glob("*.log"):
        shutil.copy(path, folder / path.name)
    (folder / "multi.log").write_bytes(_phi_log() + b"".join(GARBAGE))
    (folder / "plain.log").write_bytes(b"".join(b"worker %d done task %d\n" % (i % 3, i) for i in range(120)))
    hdfs = _lines(HDFS)
    (folder / "zz_prefix.log").write_bytes(b"".join(hdfs[:180]))  # same head as HDFS_300.log, in flight
    return folder


def _store_contents(settings: Settings) -> dict[str, object]:
    """Everything ingest stores, but wall-clock values (run ids, ingest times, version observed_at)."""
    store = _store(settings)
    tables = {
        "events": "SELECT source_id, source, line_no, ts, service, component, host, level, template_id, params,"
        " content, n_lines FROM events ORDER BY source_id, line_no",
        "templates": "SELECT * FROM templates ORDER BY template_id",
        "versions": "SELECT template_id, version, text FROM template_versions ORDER BY template_id, version",
        "quarantine": "SELECT source_id, source, line_no, raw, raw_sha256, reason FROM quarantine"
        " ORDER BY source_id, line_no",
        "sources": "SELECT source_id, path, format, default_year, service, head_len, head_sha, bytes_committed,"
        " lines_committed, check_sha FROM ingest_sources ORDER BY source_id",
        "runs": "SELECT status, sources, lines, events, merged, quarantined, templates FROM ingest_runs"
        " ORDER BY started_at",
    }
    out: dict[str, object] = {
        name: store.sql(sql).astype(str).values.tolist() for name, sql in tables.items()
    }
    committed = store.miner_state()
    assert committed is not None
    state = json.loads(committed[1])
    for template in state["templates"]:
        for version in template["versions"]:
            version.pop("observed_at")
    out["state"] = state
    return out


@pytest.mark.parametrize("cpus", [2, 3])
def test_reading_in_processes_stores_exactly_what_reading_in_process_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    """Events, templates and their versions, quarantine, sources and parser state are the same whether files
    are read in this process or in reader processes (one, or two taking files in turn, as with 3 CPUs), with
    small batches, a file in flight when a file with the same head is planned, and a second run with one
    file more."""
    from triage.ingest import reader_process

    monkeypatch.setattr(reader_process, "available_cpus", lambda: cpus)
    assert reader_process.reader_processes("process", [1, 1, 1]) == cpus - 1
    logs = _mixed_logs(tmp_path / "logs")
    extra = tmp_path / "later.log"
    extra.write_bytes(b"".join(reversed(_lines(FIXTURES / "OpenSSH_200.log"))))
    homes = {}
    for reader in ("inline", "process"):
        home = Settings(home=tmp_path / reader)
        first = ingest(home, [logs], batch_lines=37, reader=reader)
        assert first.events + first.merged + first.quarantined == first.lines > 1900
        second = ingest(home, [logs, extra], batch_lines=37, reader=reader)
        assert (second.lines, second.sources, second.unchanged) == (200, 1, first.sources + first.unchanged)
        assert _store(home).verify() == []
        homes[reader] = (_store_contents(home), first.as_json() | {"seconds": 0})
    assert homes["process"] == homes["inline"]
    assert homes["inline"][0]["quarantine"] and any(e[-1] != "1" for e in homes["inline"][0]["events"])


def test_a_reader_process_that_dies_fails_the_run_cleanly_and_the_next_run_resumes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader child is killed (SIGKILL) mid-file: the run fails with a clear error, the store holds whole
    batches only, and the next run resumes there -- the same store as an uninterrupted run."""
    import os
    import signal

    from triage.ingest.reader_process import ReaderFailed, ReaderPool

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "big.log").write_bytes(HDFS.read_bytes() * 40)  # 12,000 lines, more than the pipe holds
    shutil.copy(FIXTURES / "OpenSSH_200.log", logs / "ssh.log")
    reference = Settings(home=tmp_path / "reference")
    ingest(reference, [logs], batch_lines=400, reader="inline")

    class KilledPool(ReaderPool):
        def take(self):  # type: ignore[override]
            for n, batch in enumerate(super().take(), 1):
                if n == 3:
                    for pid in self.pids:
                        os.kill(pid, signal.SIGKILL)
                yield batch

    monkeypatch.setattr(ingest_job, "ReaderPool", KilledPool)
    with pytest.raises(ReaderFailed, match=r"reader process failed: .*exit code -9"):
        ingest(settings, [logs], batch_lines=400, reader="process")
    store = _store(settings)
    run = store.ingest_runs().iloc[0]
    assert run["status"] == "failed" and "reader process failed" in run["error"]
    assert 0 < store.counts()["events"] < 12_000 and store.verify() == []

    monkeypatch.setattr(ingest_job, "ReaderPool", ReaderPool)
    resumed = ingest(settings, [logs], batch_lines=400, reader="process")
    assert resumed.lines + run["lines"] == 12_200
    assert store.verify() == []
    assert _rows(store) == _rows(FeatureStore(reference))
    assert store.templates().to_dict("records") == FeatureStore(reference).templates().to_dict("records")


def test_the_reader_process_starts_before_duckdb_is_imported(tmp_path: Path) -> None:
    """The store module (duckdb, ≈ 0.1 s to import) is imported after the reader process is started, so the
    child's own start-up overlaps it; the ingest is unchanged (here read in-process, to look inside)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from triage.features import ingest_job\n"
        "from triage.settings import Settings\n"
        "seen = []\n"
        "class Pool(ingest_job.InlineReader):\n"
        "    def __init__(self, size):\n"
        "        super().__init__()\n"
        "        seen.append('duckdb' in sys.modules)\n"
        "ingest_job.ReaderPool = Pool\n"
        f"report = ingest_job.ingest(Settings(home=Path({str(tmp_path / 'home')!r})), [{str(HDFS)!r}],"
        " reader='process')\n"
        "print(seen, report.events, 'duckdb' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["[False]", "300", "True"], proc.stderr


def test_templates_keep_the_count_and_first_and_last_stamp_of_their_events(
    settings: Settings, tmp_path: Path
) -> None:
    """Each batch hands the store its per-template count and first/last stamp; over batches (some lines
    without a stamp, some templates seen again later) the templates table and the parser state agree with
    the events themselves."""
    log = tmp_path / "app.log"
    lines = _lines(HDFS)
    stampless = [b"081399 " + line.split(b" ", 1)[1] for line in lines[:40]]  # month 13: no stamp
    log.write_bytes(b"".join(lines[:150] + stampless + lines[150:]))
    ingest(settings, [log], format="hdfs", batch_lines=37)
    store = _store(settings)
    expected = store.sql(
        "SELECT template_id, count(*) AS n, min(ts) AS first, max(ts) AS last FROM events GROUP BY 1 ORDER BY 1"
    )
    got = store.sql("SELECT template_id, count AS n, first_seen AS first, last_seen AS last FROM templates"
                    " WHERE count > 0 ORDER BY 1")  # fmt: skip
    assert len(got) > 5 and got.equals(expected)
    assert store.sql("SELECT count(*) - count(ts) AS n FROM events")["n"][0] == 40
    assert expected["first"].notna().all()
    state = json.loads(settings.miner_state_path.read_text())["body"]["templates"]
    by_id = {t["template_id"]: t for t in state}
    for row in expected.itertuples(index=False):
        assert by_id[row.template_id]["count"] == row.n

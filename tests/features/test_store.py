from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from triage.errors import InvalidInput, NotFound
from triage.features.store import (
    EVENT_COLUMNS,
    FeatureStore,
    IngestBatch,
    RunCounts,
    SourceState,
    migrations,
)
from triage.settings import Settings
from triage.storage.database import StorageError

NOW = datetime(2024, 5, 1, 12, 0, 0)


def _events(source_id: str, lines: list[int], *, service: str = "api", template: str = "T1") -> pa.Table:
    n = len(lines)
    return pa.table(
        {
            "source_id": [source_id] * n,
            "source": ["app.log"] * n,
            "line_no": pa.array(lines, pa.int64()),
            "ts": pa.array([datetime(2024, 5, 1, 10, i % 60) for i in lines], pa.timestamp("us")),
            "service": [service] * n,
            "component": ["web"] * n,
            "host": pa.array([None] * n, pa.string()),
            "level": ["ERROR" if i % 2 else "INFO" for i in lines],
            "template_id": [template] * n,
            "params": pa.array([["42"]] * n, pa.list_(pa.string())),
            "content": [f"request {i} failed" for i in lines],
            "n_lines": pa.array([1] * n, pa.int32()),
            "run_id": ["r1"] * n,
            "ingested_at": pa.array([NOW] * n, pa.timestamp("us")),
        }
    )


def _empty_quarantine() -> pa.Table:
    return pa.table(
        {
            "source_id": pa.array([], pa.string()),
            "source": pa.array([], pa.string()),
            "line_no": pa.array([], pa.int64()),
            "raw": pa.array([], pa.binary()),
            "raw_sha256": pa.array([], pa.string()),
            "reason": pa.array([], pa.string()),
            "run_id": pa.array([], pa.string()),
            "quarantined_at": pa.array([], pa.timestamp("us")),
        }
    )


def _batch(
    source: SourceState, lines: list[int], *, start: int, end: int, new: bool, template: str = "T1"
) -> IngestBatch:
    events = _events(source.source_id, lines, template=template)
    stamps = events["ts"].to_pylist()
    return IngestBatch(
        run_id="r1",
        source_id=source.source_id,
        path="app.log",
        start_offset=start,
        end_offset=end,
        end_line=lines[-1],
        check_sha="c",
        events=events,
        quarantine=_empty_quarantine(),
        templates=pa.table(
            {
                "template_id": [template],
                "text": ["request <*> failed"],
                "version": pa.array([1], pa.int32()),
                "merged_into": pa.array([None], pa.string()),
                "count": pa.array([len(lines)], pa.int64()),
                "first_seen": pa.array([min(stamps)], pa.timestamp("us")),
                "last_seen": pa.array([max(stamps)], pa.timestamp("us")),
            }
        ),
        versions=pa.table(
            {
                "template_id": [template],
                "version": pa.array([1], pa.int32()),
                "text": ["request <*> failed"],
                "created_at": pa.array([NOW], pa.timestamp("us")),
                "run_id": ["r1"],
            }
        )
        if new
        else pa.table(
            {
                "template_id": pa.array([], pa.string()),
                "version": pa.array([], pa.int32()),
                "text": pa.array([], pa.string()),
                "created_at": pa.array([], pa.timestamp("us")),
                "run_id": pa.array([], pa.string()),
            }
        ),
        counts=RunCounts(len(lines), len(lines), 0, 0),
        format='{"preset":"plain"}',
        miner_state=b"{}",
        miner_state_sha="44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        new_source=source if new else None,
    )


SOURCE = SourceState("s1", "app.log", '{"preset":"plain"}', 2024, None, 100, "h", 0, 0, None)


@pytest.fixture
def store(settings: Settings) -> FeatureStore:
    s = FeatureStore(settings)
    s.migrate()
    s.begin_run("r1", paths=["app.log"], format=None, service=None, now=NOW)
    return s


def test_migrate_is_idempotent_and_creates_the_documented_columns(settings: Settings) -> None:
    s = FeatureStore(settings)
    assert [m.version for m in s.migrate()] == [m.version for m in migrations()]
    assert s.migrate() == []
    with s.db.read() as session:
        cols = [r[0] for r in session.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' ORDER BY ordinal_position"
        )]  # fmt: skip
    assert tuple(cols) == EVENT_COLUMNS


def test_reading_a_store_that_does_not_exist_is_a_clear_error(settings: Settings) -> None:
    s = FeatureStore(settings)
    assert s.counts()["events"] == 0
    assert not s.has_events()
    with pytest.raises(StorageError, match="store not found"):
        s.events()


def test_commit_batch_then_read_back_with_filters(store: FeatureStore) -> None:
    store.commit_batch(_batch(SOURCE, [1, 2, 3], start=0, end=30, new=True), now=NOW)
    store.commit_batch(_batch(SOURCE, [4, 5], start=30, end=50, new=False), now=NOW)
    events = store.events()
    assert list(events["line_no"]) == [1, 2, 3, 4, 5]
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert list(store.events(level="ERROR")["line_no"]) == [1, 3, 5]
    assert list(store.events(since="2024-05-01 10:02", until=datetime(2024, 5, 1, 10, 4))["line_no"]) == [
        2,
        3,
    ]
    assert list(store.events(columns=["line_no", "params"], limit=1)["params"][0]) == ["42"]
    assert store.events(service="nope").empty
    templates = store.templates()
    assert templates.loc[0, "count"] == 5 and templates.loc[0, "text"] == "request <*> failed"
    assert templates.loc[0, "first_seen"] == pd.Timestamp("2024-05-01 10:01")
    assert templates.loc[0, "last_seen"] == pd.Timestamp("2024-05-01 10:05")
    assert store.templates(service="api").loc[0, "count"] == 5
    assert store.templates(service="other").empty
    source = store.source("s1")
    assert source is not None and (source.bytes_committed, source.lines_committed) == (50, 5)
    runs = store.ingest_runs()
    assert runs.loc[0, "lines"] == 5 and runs.loc[0, "events"] == 5
    assert store.miner_state() == (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        b"{}",
    )
    assert store.verify() == []


def test_a_batch_that_does_not_continue_the_committed_offset_is_refused_whole(store: FeatureStore) -> None:
    store.commit_batch(_batch(SOURCE, [1, 2], start=0, end=20, new=True), now=NOW)
    with pytest.raises(StorageError, match="expected to continue from byte 0"):
        store.commit_batch(_batch(SOURCE, [1, 2], start=0, end=20, new=False), now=NOW)
    assert store.counts()["events"] == 2
    assert store.templates().loc[0, "count"] == 2


def test_the_unique_key_rejects_a_duplicate_line_even_past_the_offset_check(store: FeatureStore) -> None:
    store.commit_batch(_batch(SOURCE, [1, 2], start=0, end=20, new=True), now=NOW)
    with pytest.raises(StorageError, match=r"(?i)constraint|duplicate"):
        store.commit_batch(_batch(SOURCE, [2, 3], start=20, end=30, new=False), now=NOW)
    assert store.counts()["events"] == 2


def test_verify_reports_gaps_and_wrong_counts(store: FeatureStore) -> None:
    store.commit_batch(_batch(SOURCE, [1, 2, 4], start=0, end=40, new=True), now=NOW)
    problems = store.verify()
    assert any("4 lines committed but events/quarantine cover 3 lines" in p for p in problems), problems


def test_write_and_read_feature_tables_but_not_ingest_tables(store: FeatureStore) -> None:
    frame = pd.DataFrame({"window": [1, 2], "errors": [3, 4]})
    assert store.write("window_features", frame) == 2
    assert store.write("window_features", frame) == 2
    assert len(store.read("window_features")) == 4
    store.write("window_features", frame.head(1), mode="replace")
    assert store.read("window_features", where="errors > ?", params=[0]).to_dict("records") == [
        {"window": 1, "errors": 3}
    ]
    assert store.sql("SELECT sum(errors) AS s FROM window_features").loc[0, "s"] == 3
    with pytest.raises(InvalidInput, match="written by ingest only"):
        store.write("events", frame)
    with pytest.raises(InvalidInput, match="not a table name"):
        store.read("events; DROP TABLE events")
    with pytest.raises(InvalidInput, match="no column"):
        store.events(columns=["nope"])


def test_read_of_a_missing_table_is_not_found(store: FeatureStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.read("no_such_table")


def test_sql_is_read_only(store: FeatureStore) -> None:
    with pytest.raises(StorageError):
        store.sql("DELETE FROM events")


def test_a_store_made_by_an_older_version_is_upgraded_in_place(settings: Settings) -> None:
    s = FeatureStore(settings)
    s.db.migrate([m for m in migrations() if m.version == 1])  # what the first release created
    s.begin_run("old", paths=["a.log"], format=None, service=None, now=NOW)
    assert [m.version for m in s.migrate()] == [m.version for m in migrations() if m.version > 1]
    runs = s.ingest_runs()
    assert runs.loc[0, "run_id"] == "old" and runs.loc[0, "commits"] == 0


def test_batches_committed_together_are_all_or_nothing(store: FeatureStore) -> None:
    other = SourceState("s2", "other.log", '{"preset":"plain"}', 2024, None, 100, "h2", 0, 0, None)
    store.commit_batches(
        [
            _batch(SOURCE, [1, 2], start=0, end=20, new=True),
            _batch(SOURCE, [3, 4], start=20, end=40, new=False),  # continues the batch before it
            _batch(other, [1], start=0, end=10, new=True, template="T2"),
        ],
        now=NOW,
    )
    assert store.counts()["events"] == 5
    counts = store.templates().set_index("template_id")["count"].to_dict()
    assert counts == {"T1": 4, "T2": 1}  # T1 updated by two batches in one transaction
    committed = store.sources().set_index("source_id")["bytes_committed"].to_dict()
    assert committed == {"s1": 40, "s2": 10}
    with pytest.raises(StorageError, match="expected to continue from byte 30"):
        store.commit_batches(
            [
                _batch(SOURCE, [5], start=40, end=50, new=False),
                _batch(other, [2], start=30, end=40, new=False, template="T2"),  # a gap: all is refused
            ],
            now=NOW,
        )
    assert store.counts()["events"] == 5
    assert store.sources().set_index("source_id")["bytes_committed"].to_dict() == committed
    assert store.verify() == []

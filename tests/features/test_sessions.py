from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from triage.errors import InvalidInput
from triage.features.sessions import (
    SESSION_TEMPLATE_COUNTS,
    SESSIONS,
    SessionConfig,
    SessionKey,
    build_sessions,
    parse_session_lines,
    session_template_counts,
    sessions_from_sequences,
)

T0 = pd.Timestamp("2008-11-09 20:35:00")


def hdfs_events() -> pd.DataFrame:
    rows = [
        # (seconds, service, template, level, content, params)
        (3, "dfs.DataNode", "5", "INFO", "Receiving block blk_1 src: /10.0.0.1", None),
        (1, "dfs.FSNamesystem", "22", "INFO", "allocateBlock: /tmp/x blk_1", ["/tmp/x", "blk_1"]),
        (2, "dfs.FSNamesystem", "22", "INFO", "allocateBlock: /tmp/y blk_-2", np.array(["/tmp/y", "blk_-2"])),
        (4, "dfs.DataNode", "11", "WARN", "PacketResponder for blk_1 and blk_-2 terminating", None),
        (5, "dfs.DataNode", "9", "ERROR", "Exception writing block to mirror", "blk_-2 10.0.0.2"),
        (6, "dfs.DataNode", "26", "INFO", "no block named here", None),
    ]
    return pd.DataFrame(
        {
            "source_id": "src",
            "source": "HDFS.log",
            "line_no": range(1, len(rows) + 1),
            "ts": [T0 + pd.Timedelta(seconds=r[0]) for r in rows],
            "service": [r[1] for r in rows],
            "template_id": [r[2] for r in rows],
            "level": [r[3] for r in rows],
            "content": [r[4] for r in rows],
            "params": [r[5] for r in rows],
        }
    )


def test_block_sessions_in_time_order_with_shared_lines() -> None:
    out = build_sessions(hdfs_events())
    assert out.attrs["view"] == SESSIONS.tag == "sessions/v1"
    assert out.attrs["key"] == "block_id"
    assert out.attrs["n_unkeyed"] == 1  # the line naming no block
    by_id = out.set_index("session_id")
    assert by_id.loc["blk_1", "sequence"] == ("22", "5", "11")  # ordered by ts, not by line number
    assert by_id.loc["blk_-2", "sequence"] == ("22", "11", "9")  # ids found in params (array, string)
    assert by_id.loc["blk_-2", "n_errors"] == 1
    assert by_id.loc["blk_1", "services"] == ("dfs.FSNamesystem", "dfs.DataNode")
    assert by_id.loc["blk_1", "start"] == T0 + pd.Timedelta(seconds=1)
    assert by_id.loc["blk_1", "end"] == T0 + pd.Timedelta(seconds=4)
    assert list(out["session_id"]) == ["blk_1", "blk_-2"]  # by start time


def test_session_template_counts_view() -> None:
    counts = session_template_counts(build_sessions(hdfs_events()))
    assert counts.attrs["view"] == SESSION_TEMPLATE_COUNTS.tag
    got = {(r.session_id, r.template_id): r.count for r in counts.itertuples()}
    assert got[("blk_1", "22")] == 1 and got[("blk_-2", "9")] == 1
    assert counts["count"].sum() == 6


def test_request_trace_and_container_keys() -> None:
    frame = pd.DataFrame(
        {
            "ts": [T0 + pd.Timedelta(seconds=i) for i in range(5)],
            "template_id": ["a", "b", "c", "d", "e"],
            "content": [
                "[req-3b5a4c2e-1111-2222-3333-444455556666 admin] GET /servers",
                "handled request_id=abc-123 in 5ms",
                "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "span done trace_id=\"0af7651916cd43dd8448eb211c80319c\"",
                "Assigned container container_1445144423722_0020_01_000002 on host",
            ],
        }
    )
    requests = build_sessions(frame, SessionConfig(key="request_id")).set_index("session_id")
    assert set(requests.index) == {"req-3b5a4c2e-1111-2222-3333-444455556666", "abc-123"}
    traces = build_sessions(frame, SessionConfig(key=SessionKey.TRACE_ID)).set_index("session_id")
    assert traces.loc["0af7651916cd43dd8448eb211c80319c", "sequence"] == ("c", "d")
    containers = build_sessions(frame, SessionConfig(key="container_id"))
    assert list(containers["session_id"]) == ["container_1445144423722_0020_01_000002"]
    custom = build_sessions(frame, SessionConfig(key="request_id", pattern=r"in (\d+)ms"))
    assert list(custom["session_id"]) == ["5"]


def test_column_and_time_window_keys() -> None:
    events = hdfs_events()
    by_service = build_sessions(events, SessionConfig(key="column", column="service")).set_index("session_id")
    assert by_service.loc["dfs.DataNode", "sequence"] == ("5", "11", "9", "26")
    windows = build_sessions(events, SessionConfig(key="time_window", window="3s"))
    assert windows.attrs["key"] == "time_window:0 days 00:00:03:service"
    assert windows["n_events"].sum() == len(events)
    assert all(sid.startswith(("dfs.DataNode|", "dfs.FSNamesystem|")) for sid in windows["session_id"])
    with pytest.raises(InvalidInput, match="no_such"):
        build_sessions(events, SessionConfig(key="column", column="no_such"))


def test_session_config_validation() -> None:
    with pytest.raises(ValidationError, match="column"):
        SessionConfig(key="column")
    with pytest.raises(ValidationError, match="compile"):
        SessionConfig(pattern="blk_(")
    with pytest.raises(ValidationError, match="positive"):
        SessionConfig(key="time_window", window="-5min")
    with pytest.raises(ValidationError):
        SessionConfig(key="not-a-key")
    assert SessionConfig(key="time_window", window="90s").window.total_seconds() == 90


def test_parse_session_lines_with_and_without_ids() -> None:
    parsed = parse_session_lines(["5 5 22 11 \r\n", "\n", "blk_7,5 22 9\n", "  26 "])
    assert parsed.ids == (None, "blk_7", None)
    assert parsed.sequences == (("5", "5", "22", "11"), ("5", "22", "9"), ("26",))
    assert len(parsed) == 3


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["5 22,0"], "session id before ','"),  # a CSV with a label column
        (["blk_1,5,22"], "more than one ','"),
        (["blk_1,   "], "has no events"),
        (["", "  "], "no sessions"),
        ([",5 22"], "non-empty token"),
    ],
)
def test_parse_session_lines_refuses_bad_lines(lines: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_session_lines(lines, source="f.txt")


def test_fixture_files_parse(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "sessions"
    with (folder / "hdfs_normal_300").open() as handle:
        normal = parse_session_lines(handle)
    assert len(normal) == 300 and all(i and i.startswith("blk_") for i in normal.ids)
    with (folder / "hdfs_train_400").open() as handle:
        train = parse_session_lines(handle)
    assert len(train) == 400 and set(train.ids) == {None}


def test_sessions_from_sequences_is_a_valid_view() -> None:
    out = sessions_from_sequences([("1", "2"), (3,)], ["a", None])
    assert list(out["session_id"]) == ["a", "#2"]
    assert out["sequence"].tolist() == [("1", "2"), ("3",)]
    assert out["n_events"].tolist() == [2, 1]
    with pytest.raises(InvalidInput):
        sessions_from_sequences([("1",)], ["a", "b"])


def test_sessions_round_trip_through_the_store(settings) -> None:
    """The view is written to and read back from the real DuckDB store, and still validates."""
    from triage.features.store import FeatureStore

    store = FeatureStore(settings)
    store.migrate()
    sessions = build_sessions(hdfs_events())
    assert store.write("sessions_block_id", sessions, mode="replace") == 2
    back = SESSIONS.validate(store.read("sessions_block_id"))
    assert [tuple(s) for s in back["sequence"]] == list(sessions["sequence"])
    assert back["n_errors"].tolist() == sessions["n_errors"].tolist()

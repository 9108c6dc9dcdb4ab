"""RecentErrors: appends on the request path, a DataFrame of the last N rows for the background work."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from triage.diagnosis.recent import COLUMNS, MAX_CHUNKS, RecentErrors

T0 = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def is_utc(times: pd.Series) -> bool:
    return isinstance(times.dtype, pd.DatetimeTZDtype) and str(times.dt.tz) == "UTC"


def add(recent: RecentErrors, start: int, count: int) -> None:
    for i in range(start, start + count):
        recent.append(T0 + timedelta(seconds=i), f"svc-{i % 3}", "ERROR", f"t{i % 5}", f"template {i % 5}",
                      f"message {i}")


def test_an_empty_buffer_is_an_empty_frame_with_the_columns():
    frame = RecentErrors(10).frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.empty and is_utc(frame["ts"])


def test_rows_come_back_in_order_with_utc_times_across_reads():
    recent = RecentErrors(1000)
    add(recent, 0, 7)
    first = recent.frame()
    add(recent, 7, 5)
    recent.append(datetime(2026, 11, 28, 6, 0, tzinfo=timezone(timedelta(hours=2))), "svc-x", None, "t9", "x", "y")
    frame = recent.frame()
    assert len(first) == 7 and len(frame) == 13 and recent.appended == 13
    assert frame["content"].tolist()[:12] == [f"message {i}" for i in range(12)]
    assert frame["ts"].iloc[-1] == pd.Timestamp("2026-11-28T04:00:00Z")  # 06:00+02:00
    assert is_utc(frame["ts"])
    frame.loc[0, "service"] = "changed"  # a caller's frame is its own
    assert recent.frame()["service"].iloc[0] == "svc-0"


@pytest.mark.parametrize("read_every", [None, 1, 7, 40])
def test_only_the_last_capacity_rows_are_kept(read_every):
    recent = RecentErrors(25)
    for start in range(0, 100, read_every or 100):
        add(recent, start, min(read_every or 100, 100 - start))
        if read_every:
            recent.frame()
    frame = recent.frame()
    assert frame["content"].tolist() == [f"message {i}" for i in range(75, 100)]
    assert len(recent) == 25 and recent.appended == 100


def test_a_trickle_of_errors_does_not_pile_up_chunks():
    recent = RecentErrors(10_000)
    for i in range(3 * MAX_CHUNKS):
        add(recent, i, 1)
        recent.frame()
    assert len(recent._chunks) <= MAX_CHUNKS
    assert recent.frame()["content"].tolist() == [f"message {i}" for i in range(3 * MAX_CHUNKS)]


def test_rows_appended_while_a_reader_reads_are_neither_lost_nor_doubled():
    recent = RecentErrors(100_000)
    done = threading.Event()

    def writer() -> None:
        add(recent, 0, 30_000)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    while not done.is_set():
        recent.frame()
        reads += 1
    thread.join()
    assert recent.frame()["content"].tolist() == [f"message {i}" for i in range(30_000)]
    assert reads >= 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        RecentErrors(0)

"""Reading files and streams: golden tables, detection, errors, resume from any item, bounded memory."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.errors import InvalidInput
from triage.ingest import (
    FormatSpec,
    InvalidLogFormat,
    LogRecord,
    QuarantinedLine,
    open_log,
    open_stream,
    read_log,
)
from triage.ingest.multiline import REASON_BINARY, REASON_ORPHAN

from ._support import GOLDEN, HANDWRITTEN, LOGHUB, LOGS

MESSY = LOGS / "messy" / "messy_log4j.log"

# golden tables: fixture -> format used
GOLDEN_CASES = {
    "HDFS": (LOGHUB / "HDFS_100.log", "hdfs"),
    "BGL": (LOGHUB / "BGL_100.log", "bgl"),
    "Linux": (LOGHUB / "Linux_100.log", "linux"),
    "OpenSSH": (LOGHUB / "OpenSSH_100.log", "openssh"),
    "log4j": (HANDWRITTEN / "log4j.log", "log4j"),
    "jsonl": (HANDWRITTEN / "app.jsonl", "json"),
    "messy_log4j": (MESSY, "log4j"),
}


def as_row(item: LogRecord | QuarantinedLine) -> dict:
    if isinstance(item, QuarantinedLine):
        return {"kind": "quarantined", "line_no": item.line_no, "n_lines": item.n_lines, "end_offset": item.end_offset,
                "reason": item.reason, "raw": item.raw.decode("utf-8", "backslashreplace")}
    return {"kind": "record", "line_no": item.line_no, "n_lines": item.n_lines, "end_offset": item.end_offset,
            "timestamp": item.timestamp.isoformat() if item.timestamp else None, "level": item.level,
            "component": item.component, "host": item.host, "service": item.service, "content": item.content,
            "fields": dict(item.fields)}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_tables(case: str, regen_golden: bool) -> None:
    path, fmt = GOLDEN_CASES[case]
    rows = [as_row(i) for i in read_log(path, fmt, source="fixture", default_year=2019)]
    golden = GOLDEN / f"{case}.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if regen_golden:
        golden.write_text(text, encoding="utf-8")
    expected = [json.loads(line) for line in golden.read_text(encoding="utf-8").splitlines()]
    assert rows == expected  # the whole table
    assert sum(r["n_lines"] for r in rows) == path.read_bytes().count(b"\n") + (not path.read_bytes().endswith(b"\n"))


def test_messy_file_item_by_item() -> None:
    items = list(read_log(MESSY, "log4j", default_year=2019))
    kinds = [(type(i).__name__[0], i.line_no, i.n_lines) for i in items]
    assert kinds == [("Q", 1, 1), ("L", 2, 1), ("L", 3, 6), ("Q", 9, 1), ("L", 10, 1), ("Q", 11, 1), ("Q", 12, 1),
                     ("L", 13, 2), ("L", 15, 1)]
    q = [i for i in items if isinstance(i, QuarantinedLine)]
    assert [x.reason for x in q] == [REASON_ORPHAN, REASON_BINARY, "does not match the log format log4j", REASON_ORPHAN]
    error = items[2]
    assert isinstance(error, LogRecord)
    assert error.content.startswith("Checkout failed for caf\ufffd \ufffd user\njava.sql.SQLTransient")
    assert error.content.endswith("\t... 12 more")  # the blank line after it is counted, not appended
    assert items[4].content == "Slow: 1200 ms" and items[4].level == "WARN"
    assert items[7].level == "FATAL" and items[-1].content == "Shutdown, no final newline"
    assert items[-1].end_offset == MESSY.stat().st_size


@pytest.mark.parametrize("case", ["messy_log4j", "Linux", "jsonl"])
def test_resume_after_any_item_yields_exactly_the_rest(case: str) -> None:
    path, fmt = GOLDEN_CASES[case]
    items = list(read_log(path, fmt, default_year=2019))
    for k, item in enumerate(items):
        with open_log(path, fmt, default_year=2019, start_offset=item.end_offset,
                      start_line=item.line_no + item.n_lines) as reader:
            assert list(reader) == items[k + 1 :]


def test_resume_needs_a_line_boundary_inside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"one\ntwo\n")
    assert [i.content for i in read_log(path, "plain", start_offset=4, start_line=2)] == ["two"]
    assert list(read_log(path, "plain", start_offset=8, start_line=3)) == []
    for offset, why in [(2, "not at the start of a line"), (9, "past the end"), (-1, "negative")]:
        with pytest.raises(InvalidInput, match=why):
            open_log(path, "plain", start_offset=offset)


def test_detection_when_no_format_is_given(tmp_path: Path) -> None:
    copy = tmp_path / "server.out"
    copy.write_bytes((LOGHUB / "BGL_100.log").read_bytes())
    with open_log(copy) as reader:
        assert reader.spec == FormatSpec(preset="bgl")
        items = list(reader)
    assert len(items) == 100 and all(isinstance(i, LogRecord) and i.host for i in items)


def test_streams_like_stdin() -> None:
    data = (HANDWRITTEN / "log4j.log").read_bytes()
    with open_stream(io.BytesIO(data), default_year=2019) as reader:
        assert reader.spec.preset == "log4j" and reader.source == "stdin"
        streamed = list(reader)
    assert streamed == list(read_log(HANDWRITTEN / "log4j.log", "log4j", source="stdin", default_year=2019))


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_pipes_are_read_but_cannot_resume() -> None:
    pipe = io.BufferedReader(_Unseekable(b"a\nb\n"))
    assert [i.content for i in open_stream(pipe, "plain")] == ["a", "b"]
    with pytest.raises(InvalidInput, match="not seekable"):
        open_stream(io.BufferedReader(_Unseekable(b"a\nb\n")), "plain", start_offset=2)


def _modified(path: Path, moment: datetime) -> Path:
    stamp = moment.replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_year_less_stamps_fall_no_later_than_the_file_was_modified(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(b"Feb 27 09:00:00 host cron[1]: earlier this year\nJun 14 15:16:01 host cron[1]: last June\n")
    _modified(path, datetime(2017, 3, 1, 12, 0))
    assert [r.timestamp for r in read_log(path, "rfc3164")] == [
        datetime(2017, 2, 27, 9, 0), datetime(2016, 6, 14, 15, 16, 1)]


def test_a_year_less_log_across_new_year_stays_in_order(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(b"Dec 31 23:59:01 host sshd[1]: Failed password\nJan  1 00:00:02 host sshd[1]: Failed again\n")
    _modified(path, datetime(2026, 1, 1, 0, 5))
    assert [r.timestamp for r in read_log(path, "rfc3164")] == [
        datetime(2025, 12, 31, 23, 59, 1), datetime(2026, 1, 1, 0, 0, 2)]
    # local time may run ahead of UTC: a stamp up to a day past the modification is taken as written then
    _modified(path, datetime(2025, 12, 31, 14, 0))
    assert [r.timestamp.year for r in read_log(path, "rfc3164")] == [2025, 2026]


def test_bad_inputs_raise_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        open_log(tmp_path / "missing.log", "plain")
    with pytest.raises(InvalidInput, match="is a directory"):
        open_log(tmp_path, "plain")
    with pytest.raises(InvalidLogFormat, match="no <Content>"):
        open_log(tmp_path / "missing.log", "<Date> <Level>")  # the format is checked first
    with pytest.raises(InvalidInput, match="no such file"):
        list(read_log(tmp_path / "missing.log"))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    with open_log(path) as reader:
        assert reader.spec.preset == "plain" and list(reader) == []


class _GeneratedLog(io.RawIOBase):
    """A large log produced on the fly, so the test itself holds no copy of it."""

    def __init__(self, n_lines: int) -> None:
        self._lines: Iterator[bytes] = (
            b"081109 2036%02d %d INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_%d terminating"
            b" %s\n" % (i % 60, i, i, b"padding " * 80)
            for i in range(n_lines)
        )
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while len(self._pending) < len(buffer):
            line = next(self._lines, None)
            if line is None:
                break
            self._pending += line
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def test_memory_stays_bounded_on_a_large_stream() -> None:
    n_lines = 6_000  # ~4.5 MB of log
    stream = io.BufferedReader(_GeneratedLog(n_lines), buffer_size=1 << 16)
    tracemalloc.start()
    try:
        count = 0
        last = None
        for item in open_stream(stream, "hdfs"):
            count += item.n_lines
            last = item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n_lines and isinstance(last, LogRecord)
    assert last.end_offset > 4_000_000
    assert peak < 1_000_000, peak  # a few buffers and records, not the stream


def test_text_streams_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="binary stream"):
        open_stream(io.StringIO("a\n"), "plain")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [*sorted(LOGHUB.glob("*.log")), *sorted(HANDWRITTEN.iterdir()), MESSY],
    ids=lambda p: p.name,
)
def test_rows_carry_exactly_the_records_values(path: Path) -> None:
    """Row mode (what the ingest job reads) yields, item for item, the values of the LogRecords (the
    timestamp as microseconds since 1970)."""
    from triage.ingest.normalise import to_micros
    from triage.ingest.schemas import ROW_FIELDS

    with open_log(path, default_year=2020) as reader:
        items = list(reader)
    with open_log(path, default_year=2020, rows=True) as reader:
        rows = list(reader)
    assert len(rows) == len(items)
    for item, row in zip(items, rows, strict=True):
        if isinstance(item, LogRecord):
            assert type(row) is tuple
            values = {name: getattr(item, name) for name in ROW_FIELDS}
            assert row == tuple({**values, "timestamp": to_micros(item.timestamp)}.values())
            assert row[2] is None or type(row[2]) is int
        else:
            assert row == item  # quarantined lines come as they are


def test_header_fields_by_position_equal_fields_by_name() -> None:
    """The reader reads header fields by regex group position; the by-name builder (RecordBuilder.build
    over ``match``'s dict) gives the same records, for every preset with a header regex."""
    from triage.ingest import PRESETS, compile_format
    from triage.ingest.formats import LogFormat

    lines = [
        line
        for path in [*sorted(LOGHUB.glob("*.log")), *sorted(HANDWRITTEN.iterdir())]
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    compared = 0
    for name in PRESETS:
        fmt = compile_format(FormatSpec(preset=name))
        if not isinstance(fmt.matcher, LogFormat):
            continue
        by_name = fmt.builder(service=None, default_year=2020).build
        groups_builder = fmt.builder(service=None, default_year=2020)
        by_position = groups_builder.from_groups(fmt.matcher.regex.groupindex, "s")
        for n, line in enumerate(lines, 1):
            match = fmt.matcher.regex.fullmatch(line)
            if match is None:
                continue
            fields = fmt.match(line)
            assert fields is not None
            content = fields.pop("Content")
            assert by_position(match.groups(""), content, n, 1, 0) == by_name(fields, content, "s", n, 1, 0)
            compared += 1
    assert compared > 1000

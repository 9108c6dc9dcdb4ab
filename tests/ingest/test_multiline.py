"""Physical lines -> records: continuation joining, quarantine, offsets. Nothing is dropped."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from triage.ingest.multiline import (
    REASON_BINARY,
    REASON_BLANK,
    REASON_ORPHAN,
    assemble,
    is_binary,
    is_continuation,
)
from triage.ingest.presets import FormatSpec, compile_format
from triage.ingest.schemas import LogRecord, QuarantinedLine

LOG4J = compile_format(FormatSpec(preset="log4j"))
PLAIN = compile_format(FormatSpec(preset="plain"))

HEAD = b"2024-11-27 06:31:06,003 ERROR [exec-3] com.example.db.Pool - Connection checkout failed"
TRACE = [
    b"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available",
    b"\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:197)",
    b"Caused by: java.net.ConnectException: Connection refused",
    b"    at java.base/sun.nio.ch.Net.connect0(Native Method)",
    b"\t... 12 more",
]
NEXT = b"2024-11-27 06:31:07,000 INFO  [sched-1] com.example.jobs.Reminders - Sent 12 reminders"


def lines_of(data: bytes) -> list[bytes]:
    """Split like a file: each line keeps its \\n; a final fragment without one is a line too."""
    return io.BytesIO(data).readlines()


def run(data: bytes, fmt=LOG4J, **kw) -> list[LogRecord | QuarantinedLine]:
    return list(assemble(lines_of(data), fmt, source="t", **kw))


def check_invariants(data: bytes, items: list[LogRecord | QuarantinedLine], start: int = 0, first_line: int = 1) -> None:
    """Every physical line is in exactly one item, in order; offsets tile the bytes."""
    n_physical = len(lines_of(data[start:]))
    assert sum(i.n_lines for i in items) == n_physical
    expected_line = first_line
    previous_end = start
    for item in items:
        assert item.line_no == expected_line
        assert item.end_offset > previous_end
        if isinstance(item, QuarantinedLine):
            assert data[item.end_offset - len(item.raw) : item.end_offset] == item.raw
            assert item.end_offset - len(item.raw) == previous_end
        expected_line += item.n_lines
        previous_end = item.end_offset
    assert previous_end == len(data)


def test_java_stack_trace_joins_the_record_above() -> None:
    data = b"\n".join([HEAD, *TRACE, NEXT]) + b"\n"
    items = run(data)
    assert [type(i) for i in items] == [LogRecord, LogRecord]
    first, second = items
    assert first.n_lines == 6 and first.line_no == 1 and second.line_no == 7
    assert first.content.split("\n") == ["Connection checkout failed", *(t.decode() for t in TRACE)]
    assert first.level == "ERROR" and first.component == "com.example.db.Pool"
    assert first.end_offset == len(b"\n".join([HEAD, *TRACE])) + 1
    assert second.content == "Sent 12 reminders" and second.end_offset == len(data)
    check_invariants(data, items)


def test_python_traceback_joins_the_record_above() -> None:
    data = (
        b"2024-11-27 06:40:01,532 - triage.worker - ERROR - batch 7 failed\n"
        b"Traceback (most recent call last):\n"
        b'  File "/srv/app/worker.py", line 88, in run\n'
        b"    process(batch)\n"
        b"ValueError: bad record 17\n"
        b"\n"
        b"During handling of the above exception, another exception occurred:\n"
        b"KeyError: 'x'\n"
        b"2024-11-27 06:40:02,000 - triage.worker - WARNING - retrying\n"
    )
    items = run(data, compile_format(FormatSpec(preset="python")))
    assert [i.n_lines for i in items] == [8, 1]
    assert items[0].content.endswith("ValueError: bad record 17\n\nDuring handling of the above exception, "
                                     "another exception occurred:\nKeyError: 'x'")
    check_invariants(data, items)


def test_trailing_blank_lines_are_counted_but_not_appended() -> None:
    data = HEAD + b"\n\n   \n" + NEXT + b"\n\n"
    items = run(data)
    assert [(i.n_lines, i.content) for i in items] == [(3, "Connection checkout failed"), (2, "Sent 12 reminders")]
    check_invariants(data, items)


def test_continuation_and_blank_lines_without_a_record_are_quarantined() -> None:
    data = b"\n\tat orphan.Frame(F.java:1)\n" + HEAD + b"\n"
    items = run(data)
    assert isinstance(items[0], QuarantinedLine) and items[0].reason == REASON_BLANK and items[0].raw == b"\n"
    assert isinstance(items[1], QuarantinedLine) and items[1].reason == REASON_ORPHAN
    assert items[1].raw == b"\tat orphan.Frame(F.java:1)\n"
    assert isinstance(items[2], LogRecord) and items[2].line_no == 3
    check_invariants(data, items)


def test_a_line_of_another_shape_is_quarantined_and_closes_the_record() -> None:
    data = b"\n".join([HEAD, TRACE[1], b"Jun 14 15:16:01 combo kernel: something else", TRACE[1], NEXT])
    items = run(data)
    assert [type(i).__name__ for i in items] == ["LogRecord", "QuarantinedLine", "QuarantinedLine", "LogRecord"]
    assert items[0].n_lines == 2
    assert items[1].reason == "does not match the log format log4j"
    assert items[2].reason == REASON_ORPHAN  # the record above was closed by the garbage line
    check_invariants(data, items)


def test_binary_garbage_is_quarantined_byte_for_byte() -> None:
    garbage = [b"\x00\x01\x02PK\x03\x04\x14\x00\x06\x00\n", b"\x89PNG\x1a\x00\r\n", bytes(range(0x80, 0xC0)) + b"\n",
               b"ok \x1b[31mred\x1b[0m " + b"\x07" * 40 + b"\n"]
    data = HEAD + b"\n" + b"".join(garbage) + NEXT + b"\n"
    items = run(data)
    quarantined = [i for i in items if isinstance(i, QuarantinedLine)]
    assert [q.raw for q in quarantined] == garbage
    assert {q.reason for q in quarantined} == {REASON_BINARY}
    check_invariants(data, items)


def test_invalid_utf8_is_replaced_never_fatal() -> None:
    data = HEAD + b" caf\xe9 \xff\xfe done\n"  # latin-1 bytes in a UTF-8 log
    (record,) = run(data)
    assert isinstance(record, LogRecord)
    assert record.content == "Connection checkout failed caf\ufffd \ufffd\ufffd done"


def test_crlf_and_trailing_blanks_are_stripped_but_inner_cr_kept() -> None:
    data = HEAD + b"  \r\n" + TRACE[1] + b"\r\n" + NEXT + b" a\rb\r\n"
    items = run(data)
    assert items[0].content == "Connection checkout failed\n" + TRACE[1].decode()
    assert items[1].content == "Sent 12 reminders a\rb"
    check_invariants(data, items)


def test_missing_final_newline_still_gives_the_last_line() -> None:
    data = HEAD + b"\n" + NEXT
    items = run(data)
    assert [i.content for i in items] == ["Connection checkout failed", "Sent 12 reminders"]
    assert items[-1].end_offset == len(data)
    garbage_last = HEAD + b"\nnot a header"
    items = run(garbage_last)
    assert isinstance(items[-1], QuarantinedLine) and items[-1].raw == b"not a header"
    check_invariants(garbage_last, items)


def test_plain_format_keeps_every_line_but_joins_continuations() -> None:
    data = b"first line\nsecond: line\n  indented\nCaused by: x\nthird\n"
    items = run(data, PLAIN)
    assert [(i.content, i.n_lines) for i in items] == [
        ("first line", 1), ("second: line\n  indented\nCaused by: x", 3), ("third", 1)]
    assert all(i.fields == {} for i in items)


def test_start_position_shifts_line_numbers_and_offsets() -> None:
    data = HEAD + b"\n" + NEXT + b"\n"
    start = len(HEAD) + 1
    items = list(assemble(lines_of(data[start:]), LOG4J, source="t", start_offset=start, start_line=2))
    assert len(items) == 1 and items[0].line_no == 2 and items[0].end_offset == len(data)


def test_continuation_and_binary_predicates() -> None:
    for text in ["\tat a.B.c(B.java:1)", "  File \"x.py\", line 1", "Caused by: java.io.IOException: x",
                 "... 12 more", "Traceback (most recent call last):", "java.lang.IllegalStateException",
                 "org.example.FooError: boom", "ValueError: bad", "goroutine 1 [running]:", "Suppressed: x.Y: z"]:
        assert is_continuation(text), text
    for text in ["2024-11-27 06:31:07,000 INFO x", "INFO:root:ok", "ERROR:root:bad", "Error connecting to db",
                 "Jun 14 15:16:01 combo kernel: x", "{\"a\": 1}", "- 1117838570 2005.06.03 R02 x"]:
        assert not is_continuation(text), text
    assert is_binary(b"a\x00b", "a\x00b")
    assert not is_binary(b"tab\tseparated\x1b[0m", "tab\tseparated\x1b[0m")
    assert not is_binary(b"one \x07 bell in a longer line", "one \x07 bell in a longer line")


# ---- property: any mix of lines is tiled exactly, and resuming after any item gives the rest ----

_LINE = st.one_of(
    st.sampled_from([HEAD, NEXT, *TRACE, b"", b"   ", b"garbage line", b"\x00\x01bin", b"caf\xe9", b"x\r"]),
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE, max_size=25), st.booleans())
def test_items_tile_the_input_and_resume_after_any_item_yields_the_rest(lines: list[bytes], final_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    items = run(data)
    check_invariants(data, items)
    for k, item in enumerate(items):
        start = item.end_offset
        rest = list(assemble(lines_of(data[start:]), LOG4J, source="t", start_offset=start,
                             start_line=item.line_no + item.n_lines))
        assert rest == items[k + 1 :]

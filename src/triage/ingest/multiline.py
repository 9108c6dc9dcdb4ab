"""Physical lines -> records: header matching, continuation joining, quarantine. Pure (bytes in, items out).

Rules, applied to each physical line in order (a line is what ends in ``\\n``; a last fragment without one
is still a line; one trailing ``\\r`` and trailing blanks are stripped; invalid UTF-8 is replaced):

1. NUL bytes, or mostly non-text (control characters / undecodable bytes) -> ``QuarantinedLine``.
2. A *continuation* -- a line starting with a blank (``\\tat ...``, indented text), ``Caused by:``,
   ``Suppressed:``, ``... 12 more``, a Python ``Traceback`` / exception line, an exception class line such
   as ``java.lang.IllegalStateException: ...``, or a blank line -- joins the open record (``n_lines`` + 1;
   its text is appended to ``content`` after ``\\n``; trailing blank lines are not appended).
3. A line matching the header format opens a new record (the previous one is emitted).
4. Anything else, or a continuation with no open record, is quarantined with the reason.

Items come out in file order; each carries ``end_offset``, the byte offset just after its last physical
line. A quarantined line closes the open record first, so ``end_offset`` strictly increases and restarting
at ``(item.end_offset, item.line_no + item.n_lines)`` yields exactly the items after ``item``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from triage.ingest.formats import CONTENT, LogFormat
from triage.ingest.normalise import YearHint
from triage.ingest.presets import CompiledFormat
from triage.ingest.schemas import LogRecord, QuarantinedLine, Row

Item = LogRecord | QuarantinedLine

#: Reasons a line is quarantined (the text stored beside the raw bytes).
REASON_BINARY = "binary data (NUL or control bytes)"
REASON_NO_MATCH = "does not match the log format {name}"
REASON_ORPHAN = "continuation line with no record above it"
REASON_BLANK = "blank line with no record above it"

_CONTINUATION = re.compile(
    r"""
      \s                                   # indented: stack frames (\tat ...), wrapped text
    | (?:Caused\ by|Suppressed|Wrapped\ by):\s
    | \.\.\.\ \d+\ (?:more|common\ frames\ omitted)
    | Traceback\ \(most\ recent\ call\ last\):
    | During\ handling\ of\ the\ above\ exception
    | The\ above\ exception\ was\ the\ direct\ cause
    | goroutine\ \d+\ \[
    | (?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*(?:Exception|Error|Throwable|Fault|Failure|Interrupt|Exit)
      (?::\s|:?\Z)                         # an exception class line: java.io.IOException: boom
    """,
    re.VERBOSE,
)
# the characters a continuation line can start with (a cheap test before the regex)
_CONTINUATION_START = frozenset(" \t\v\f.$_" + string.ascii_letters)
# characters that do not occur in text: C0 controls except tab / ESC (colour codes) and DEL, and U+FFFD
_NON_TEXT = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\ufffd]")
BINARY_FRACTION = 0.3  # a line whose non-text share reaches this is binary garbage


def is_continuation(text: str) -> bool:
    """Does this (decoded, right-stripped, non-empty) line look like the tail of the record above?"""
    return _CONTINUATION.match(text) is not None


def is_binary(raw: bytes, text: str) -> bool:
    """NUL bytes, or at least BINARY_FRACTION of the characters are controls / undecodable."""
    if b"\x00" in raw:
        return True
    if _NON_TEXT.search(text) is None:
        return False
    return len(_NON_TEXT.findall(text)) >= BINARY_FRACTION * max(len(text), 1)


def decode_line(raw: bytes) -> str:
    """A physical line's text: UTF-8 (invalid bytes replaced), without the newline, ``\\r`` and trailing blanks."""
    return raw.decode("utf-8", "replace").rstrip()


def assemble(
    lines: Iterable[bytes],
    fmt: CompiledFormat,
    *,
    source: str,
    service: str | None = None,
    default_year: int | YearHint = 1970,
    start_offset: int = 0,
    start_line: int = 1,
    rows: bool = False,
) -> Iterator[Item | Row]:
    """Group physical lines (bytes, each with its ``\\n`` if it had one) into LogRecords and
    QuarantinedLines. ``start_offset`` / ``start_line`` are the position of the first given line.
    With ``rows``, records come as :data:`~triage.ingest.schemas.Row` tuples (same values, no ``source``
    or ``fields``); quarantined lines are QuarantinedLines either way."""
    builder = fmt.builder(service=service, default_year=default_year)
    by_groups = isinstance(fmt.matcher, LogFormat)
    if by_groups:  # header regex: fields by position (no dict per line)
        regex = fmt.matcher.regex  # type: ignore[union-attr]
        match: Callable[[str], Any] = regex.fullmatch
        content_key: int | str = regex.groupindex[CONTENT] - 1
        make = builder.from_groups(regex.groupindex, source, rows=rows)
    else:  # JSON lines: fields by name
        match = fmt.matcher.match
        content_key = CONTENT
        make = builder.from_fields(source, rows=rows)
    no_match = REASON_NO_MATCH.format(name=fmt.name)
    cont_match = _CONTINUATION.match

    offset = start_offset
    line_no = start_line - 1
    # the open record: header fields, content parts, first line number, physical lines, end offset
    fields: Any = None  # the header's groups (tuple) or fields by name (dict)
    parts: list[str] = []
    first = 0
    n = 0
    end = 0

    def flush() -> LogRecord | Row:
        content = parts[0]
        if n > 1:
            tail = parts[1:]
            while tail and not tail[-1].strip():
                tail.pop()
            if tail:
                content = "\n".join([content, *tail])
        return make(fields, content, first, n, end)

    for raw in lines:
        line_no += 1
        offset += len(raw)
        text = raw.decode("utf-8", "replace").rstrip()
        # cheap C-level tests first; the regex only runs on lines with a control or replaced character
        if (not text.isprintable() or "\ufffd" in text or b"\x00" in raw) and is_binary(raw, text):
            if fields is not None:
                yield flush()
                fields = None
            yield QuarantinedLine(source, line_no, raw, REASON_BINARY, offset)
            continue
        if fields is not None and (not text or (text[0] in _CONTINUATION_START and cont_match(text) is not None)):
            parts.append(text)
            n += 1
            end = offset
            continue
        header = match(text) if text else None
        if header is not None:
            if fields is not None:
                yield flush()
            fields = header.groups("") if by_groups else header
            parts = [fields[content_key]]
            first = line_no
            n = 1
            end = offset
            continue
        if fields is not None:
            yield flush()
            fields = None
        if not text:
            reason = REASON_BLANK
        elif cont_match(text) is not None:
            reason = REASON_ORPHAN
        else:
            reason = no_match
        yield QuarantinedLine(source, line_no, raw, reason, offset)
    if fields is not None:
        yield flush()

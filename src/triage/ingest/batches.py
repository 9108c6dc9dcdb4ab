"""A file's new lines -> batches of columns (Arrow), the unit the ingest job parses and commits.

:func:`read_batches` reads one file from a resume point (a :class:`ReadJob`) and yields
:class:`ReadBatch` es: the records of up to ``batch_lines`` physical lines (or of ``batch_seconds`` of
reading) as one Arrow record batch (:data:`ROW_SCHEMA`: the reader's row values, nothing redacted yet),
the quarantined lines, and where the batch starts and ends (byte offset, line number). It runs in the
ingest job's process, or in a reader process (:mod:`triage.ingest.reader_process`), which sends the same
batches back as Arrow IPC: :func:`encode_batch` / :func:`decode_batch`, no pickle.

A job is plain JSON (:meth:`ReadJob.to_json`), so the two processes exchange nothing but JSON and Arrow.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any

from triage.errors import IntegrityError
from triage.ingest.normalise import YearHint
from triage.ingest.schemas import QuarantinedLine

if TYPE_CHECKING:
    import pyarrow as pa

    from triage.ingest.schemas import Row


@dataclass(frozen=True, slots=True)
class ReadJob:
    """What to read: a file from a resume point, with the format and defaults its source records."""

    path: str
    label: str  # the source's name, as events record it
    spec: str  # the FormatSpec, as JSON (``FormatSpec.model_dump_json``)
    service: str | None
    written_at: float  # the file's modification time as the run saw it: year-less stamps fall before it
    start_offset: int  # bytes already committed
    start_line: int  # lines already committed (the next line read is start_line + 1)
    batch_lines: int
    batch_seconds: float
    first_batch_lines: int | None = None  # a smaller first batch (a reader process gets going sooner)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> ReadJob:
        return cls(**json.loads(data))


@dataclass(slots=True)
class ReadBatch:
    """One batch of a file: its records as columns, its quarantined lines, and where it starts and ends."""

    rows: pa.RecordBatch  # ROW_SCHEMA
    quarantined: list[QuarantinedLine]
    start_offset: int
    end_offset: int
    end_line: int  # the number of its last physical line
    lines: int  # physical lines in the batch
    merged: int  # continuation lines joined into a record


def row_schema() -> pa.Schema:
    """The columns of :attr:`ReadBatch.rows`: ``ROW_FIELDS`` but ``end_offset``, typed as events store them."""
    import pyarrow as pa

    string = pa.string()
    return pa.schema(
        [
            ("line_no", pa.int64()),
            ("content", string),
            ("timestamp", pa.timestamp("us")),
            ("level", string),
            ("component", string),
            ("host", string),
            ("service", string),
            ("n_lines", pa.int32()),
        ]
    )


def rows_batch(rows: list[Row]) -> pa.RecordBatch:
    """Row tuples -> one Arrow record batch (:func:`row_schema`). One ``map(itemgetter(i))`` per column:
    cheaper than transposing with ``zip(*rows)``. Timestamps are microseconds already: Arrow stores them
    as they are."""
    import pyarrow as pa

    schema = row_schema()
    return pa.record_batch(
        [pa.array(list(map(itemgetter(i), rows)), field.type) for i, field in enumerate(schema)],
        schema=schema,
    )


def read_batches(job: ReadJob) -> Iterator[ReadBatch]:
    """The batches of ``job``'s file from its resume point to its end, in order.

    A batch closes at ``job.batch_lines`` physical lines or after ``job.batch_seconds`` of reading. Raises
    ``InvalidInput`` (unreadable file, bad resume point) and ``IntegrityError`` (the reader skipped a line,
    which would lose it)."""
    from triage.ingest.presets import FormatSpec
    from triage.ingest.readers import open_log

    with open_log(
        job.path,
        FormatSpec.model_validate_json(job.spec),
        source=job.label,
        service=job.service,
        default_year=YearHint.written_at(job.written_at),
        start_offset=job.start_offset,
        start_line=job.start_line + 1,
        rows=True,
    ) as reader:
        yield from _batches(reader, job)


def _batches(items: Any, job: ReadJob) -> Iterator[ReadBatch]:
    batch_lines = max(1, job.first_batch_lines or job.batch_lines)
    offset, line = job.start_offset, job.start_line
    records: list[Row] = []
    quarantined: list[QuarantinedLine] = []
    start_offset, lines, merged = offset, 0, 0
    deadline = time.monotonic() + job.batch_seconds
    for items_seen, item in enumerate(items, 1):
        if type(item) is tuple:  # a record's row: (line_no, content, ..., n_lines, end_offset)
            line_no, n, offset = item[0], item[7], item[8]
            records.append(item)
            merged += n - 1
        else:
            line_no, n, offset = item.line_no, item.n_lines, item.end_offset
            quarantined.append(item)
        if line_no != line + 1:  # the reader's contract; checked because a gap would lose lines
            raise IntegrityError(f"{job.label}: the reader went from line {line} to {line_no}; stopping")
        lines += n
        line += n
        if lines >= batch_lines or (not items_seen & 1023 and time.monotonic() >= deadline):
            yield ReadBatch(rows_batch(records), quarantined, start_offset, offset, line, lines, merged)
            records, quarantined = [], []
            start_offset, lines, merged = offset, 0, 0
            batch_lines = max(1, job.batch_lines)
            deadline = time.monotonic() + job.batch_seconds
    if lines:
        yield ReadBatch(rows_batch(records), quarantined, start_offset, offset, line, lines, merged)


# ------------------------------------------------------------------------------------------ frames

#: A frame: a 4-byte little-endian length, a JSON header of that length, then the payloads the header
#: announces (``"rows"`` / ``"quarantine"``: byte lengths of Arrow IPC streams).
_LENGTH = struct.Struct("<I")


def write_frame(out: IO[bytes], header: dict[str, Any], *payloads: Any) -> None:
    data = json.dumps(header, separators=(",", ":")).encode("utf-8")
    out.write(_LENGTH.pack(len(data)))
    out.write(data)
    for payload in payloads:
        out.write(payload)


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame's header (None at a clean end of stream). Raises EOFError if the stream ends inside one."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) != _LENGTH.size:
        raise EOFError("the stream ended inside a frame header")
    size = _LENGTH.unpack(head)[0]
    data = _read_exactly(stream, size)
    return json.loads(data)  # type: ignore[no-any-return]


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise EOFError(f"the stream ended after {len(data)} of {size} bytes")
    return data


def _ipc(batch: pa.RecordBatch) -> pa.Buffer:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _from_ipc(data: bytes) -> pa.RecordBatch:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_next_batch()


def _quarantine_batch(lines: list[QuarantinedLine]) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.record_batch(
        {
            "line_no": pa.array([q.line_no for q in lines], pa.int64()),
            "raw": pa.array([q.raw for q in lines], pa.binary()),
            "reason": pa.array([q.reason for q in lines], pa.string()),
            "end_offset": pa.array([q.end_offset for q in lines], pa.int64()),
        }
    )


def encode_batch(out: IO[bytes], batch: ReadBatch) -> None:
    """Write a batch as one frame: its positions in the JSON header, rows and quarantine as Arrow IPC."""
    rows = _ipc(batch.rows)
    quarantine = _ipc(_quarantine_batch(batch.quarantined)) if batch.quarantined else b""
    header = {
        "kind": "batch",
        "start_offset": batch.start_offset,
        "end_offset": batch.end_offset,
        "end_line": batch.end_line,
        "lines": batch.lines,
        "merged": batch.merged,
        "rows": rows.size,
        "quarantine": len(quarantine),
    }
    write_frame(out, header, rows, quarantine)


def decode_batch(stream: IO[bytes], header: dict[str, Any], label: str) -> ReadBatch:
    """The batch of a ``"batch"`` frame whose header was just read (its payloads follow in ``stream``)."""
    rows = _from_ipc(_read_exactly(stream, int(header["rows"])))
    size = int(header["quarantine"])
    quarantined: list[QuarantinedLine] = []
    if size:
        q = _from_ipc(_read_exactly(stream, size)).to_pydict()
        quarantined = [
            QuarantinedLine(label, line_no, raw, reason, end_offset)
            for line_no, raw, reason, end_offset in zip(
                q["line_no"], q["raw"], q["reason"], q["end_offset"], strict=True
            )
        ]
    return ReadBatch(
        rows,
        quarantined,
        int(header["start_offset"]),
        int(header["end_offset"]),
        int(header["end_line"]),
        int(header["lines"]),
        int(header["merged"]),
    )

"""Files and byte streams -> LogRecord / QuarantinedLine items. The only module of ingest doing I/O.

Use::

    with open_log("app.log", "hdfs", service="billing") as reader:     # or fmt=None: detect it
        print(reader.spec.label)                                        # the format actually used
        for item in reader:                                             # LogRecord | QuarantinedLine
            ...

Streaming: lines are read one at a time through a 1 MiB buffer, so memory does not grow with the file
(one record -- a header plus its continuation lines -- is held at a time; a single physical line is held
whole, however long it is).

Resume: every item has ``end_offset`` (the byte offset just after it) and covers ``n_lines`` physical
lines from ``line_no``. ``open_log(path, spec, start_offset=item.end_offset,
start_line=item.line_no + item.n_lines)`` yields exactly the items after ``item`` -- pass the same
``spec`` (``reader.spec`` of the first run; detection always samples the start of the file, so it is
stable anyway). An offset that is past the end of the file or not at the start of a line raises
``InvalidInput``. Note: the last record of a file that is still being appended to may gain continuation
lines later; those would come back as quarantined orphans on resume.

Errors (missing file, directory, unreadable, malformed format) raise ``InvalidInput`` with one line.
"""

from __future__ import annotations

import io
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from triage.errors import InvalidInput
from triage.ingest.detect import SAMPLE_LINES, detect_format
from triage.ingest.multiline import Item, assemble
from triage.ingest.normalise import YearHint
from triage.ingest.presets import FormatSpec, compile_format, format_spec

_BUFFER = 1 << 20


class LogReader:
    """An open source of items; iterate it once. Closes its file at the end, on ``close()`` or on exit."""

    def __init__(self, items: Iterator[Item], *, spec: FormatSpec, source: str, stream: BinaryIO | None) -> None:
        self._items = items
        self._stream = stream
        self.spec = spec  # the format used (detected or given)
        self.source = source

    def __iter__(self) -> Iterator[Item]:
        return self._items

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb", buffering=_BUFFER)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a log file") from None
    except PermissionError:
        raise InvalidInput(f"{path}: permission denied") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror or exc})") from None


def _sample(stream: BinaryIO, max_lines: int) -> list[bytes]:
    return list(itertools.islice(stream, max_lines))


def read_sample(path: str | os.PathLike[str], max_lines: int = SAMPLE_LINES) -> list[bytes]:
    """The first ``max_lines`` physical lines of a file (raw bytes), for :func:`detect_format`."""
    with _open(Path(path)) as stream:
        return _sample(stream, max_lines)


def sniff_format(path: str | os.PathLike[str], max_lines: int = SAMPLE_LINES) -> FormatSpec:
    """Detect a file's format from its first lines."""
    return detect_format(read_sample(path, max_lines))


def _seek(stream: BinaryIO, source: str, start_offset: int) -> None:
    if start_offset < 0:
        raise InvalidInput(f"{source}: resume offset {start_offset} is negative")
    if start_offset == 0:
        return
    if not stream.seekable():
        raise InvalidInput(f"{source}: cannot resume a stream that is not seekable")
    size = stream.seek(0, io.SEEK_END)
    if start_offset > size:
        raise InvalidInput(
            f"{source}: resume offset {start_offset} is past the end ({size} bytes); was the file truncated or rotated?"
        )
    stream.seek(start_offset - 1)
    # the end of a file whose last line has no newline is a valid place to stop (nothing is left)
    if stream.read(1) != b"\n" and start_offset != size:
        raise InvalidInput(f"{source}: resume offset {start_offset} is not at the start of a line")


def _items(stream: BinaryIO, lines: Iterator[bytes], **kw: object) -> Iterator[Item]:
    try:
        yield from assemble(lines, **kw)  # type: ignore[arg-type]
    finally:
        stream.close()


def open_stream(
    stream: BinaryIO,
    fmt: FormatSpec | str | None = None,
    *,
    source: str = "stdin",
    service: str | None = None,
    default_year: int | YearHint | None = None,
    start_offset: int = 0,
    start_line: int = 1,
    rows: bool = False,
) -> LogReader:
    """Read a binary stream (e.g. ``sys.stdin.buffer``). ``fmt=None`` detects the format from the first
    lines (buffered, then replayed). ``default_year`` (for year-less stamps) defaults to placing them no
    later than now (see :class:`~triage.ingest.normalise.YearHint`).
    ``rows``: records come as plain ``Row`` tuples (``triage.ingest.schemas.ROW_FIELDS``; timestamps in
    microseconds since 1970), for bulk consumers such as the ingest job."""
    if isinstance(stream, io.TextIOBase):
        raise TypeError("open_stream needs a binary stream (e.g. sys.stdin.buffer), not a text stream")
    spec = None if fmt is None else format_spec(fmt)
    _seek(stream, source, start_offset)
    lines: Iterator[bytes] = iter(stream)
    if spec is None:
        head = _sample(stream, SAMPLE_LINES)
        spec = detect_format(head)
        lines = itertools.chain(head, stream)
    year = default_year or YearHint.written_at(time.time())
    items = _items(
        stream, lines, fmt=compile_format(spec), source=source, service=service, default_year=year,
        start_offset=start_offset, start_line=start_line, rows=rows,
    )
    return LogReader(items, spec=spec, source=source, stream=stream)


def open_log(
    path: str | os.PathLike[str],
    fmt: FormatSpec | str | None = None,
    *,
    source: str | None = None,
    service: str | None = None,
    default_year: int | YearHint | None = None,
    start_offset: int = 0,
    start_line: int = 1,
    rows: bool = False,
) -> LogReader:
    """Open a log file. ``fmt``: a FormatSpec, a ``--format`` string, or None to detect it from the
    file's first lines. ``source`` defaults to the path as given; ``default_year`` (for year-less
    stamps) to placing them no later than the file's last modification. ``rows``: see :func:`open_stream`."""
    path = Path(path)
    spec = None if fmt is None else format_spec(fmt)  # a bad format fails before the file is opened
    stream = _open(path)
    try:
        if spec is None:
            spec = detect_format(_sample(stream, SAMPLE_LINES))
            stream.seek(0)
        if default_year is None:
            default_year = YearHint.written_at(os.fstat(stream.fileno()).st_mtime)
        label = str(path) if source is None else source
        return open_stream(
            stream, spec, source=label, service=service, default_year=default_year,
            start_offset=start_offset, start_line=start_line, rows=rows,
        )
    except BaseException:
        stream.close()
        raise


def read_log(path: str | os.PathLike[str], fmt: FormatSpec | str | None = None, **kw: object) -> Iterator[Item]:
    """Iterate a file's items (``open_log`` in a ``with``); same keyword arguments as :func:`open_log`."""
    with open_log(path, fmt, **kw) as reader:  # type: ignore[arg-type]
        yield from reader

"""Raw log bytes -> LogRecord: header formats, presets, detection, multi-line joining.

Public API (stable names; import them from ``triage.ingest``):

Formats (``formats.py``, ``presets.py``)
    ``FormatSpec``            pydantic, frozen: ``FormatSpec(preset="hdfs")`` or
                              ``FormatSpec(log_format="<Date> <Time> <Level> <Component>: <Content>")``,
                              optional ``json_keys=JsonKeys(...)`` for the ``json`` preset; ``.label``;
                              serialise with ``model_dump_json()`` to record what an ingest used.
    ``resolve_format(text)``  a ``--format`` value -> FormatSpec: a preset name/alias, ``json:ROLE=key|key,...``
                              (ROLE in timestamp, level, message, service, host, component) or a Loghub-style
                              string. Raises ``InvalidLogFormat`` (an ``InvalidInput``) with one line.
    ``compile_format(spec)``  -> ``CompiledFormat`` (cached): ``.name``, ``.field_names`` (header fields in
                              order, without Content -- the parse CSV's columns), ``.match(line)`` -> dict of
                              fields incl. ``"Content"`` or None, ``.builder(service=, default_year=)``.
    ``LogFormat.compile(fmt, field_types=None)``  a Loghub-style header format alone (``.match``, ``.fields``).
    ``JsonKeys``              candidate key names per role for JSON lines.
    ``PRESETS`` / ``preset_names()`` / ``get_preset(name)``  the named formats (``Preset``): the 16 Loghub
                              systems, rfc3164, rfc5424, syslog-iso, json, log4j, logback, spring-boot, python,
                              python-basic, klog, nginx-error, plain.
    ``InvalidLogFormat``      raised for malformed format strings and unknown preset names.

Detection (``detect.py``)
    ``detect_format(lines) -> FormatSpec``   lines: str or raw bytes; best preset by matches, then
                              specificity; ``plain`` when nothing fits half the candidate lines.
    ``rank_formats(lines) -> list[FormatScore]``  the full ranking (for messages / debugging).

Reading (``readers.py``; the only I/O)
    ``open_log(path, fmt=None, *, source=None, service=None, default_year=None, start_offset=0,
    start_line=1, rows=False) -> LogReader``  ``fmt``: FormatSpec, a ``--format`` string or None (detect
                              from the file's first 1000 lines). Iterate the reader for ``LogRecord |
                              QuarantinedLine`` items; ``reader.spec`` is the format used. Use it in a ``with``.
                              ``rows=True``: records come as plain tuples (``schemas.ROW_FIELDS`` order, no
                              ``source``/``fields``, the timestamp in microseconds since 1970), for bulk
                              consumers such as the ingest job.
    ``open_stream(binary_stream, fmt=None, *, source="stdin", ...)``  the same for stdin / any byte stream.
    ``read_log(path, fmt=None, **kw)``  generator over items (``open_log`` in a ``with``).
    ``read_sample(path)`` / ``sniff_format(path)``  first lines of a file / its detected FormatSpec.

Records (``schemas.py``)
    ``LogRecord``      source, line_no (1-based, first physical line), content (continuation lines joined
                       with ``\\n``; NOT redacted), timestamp (naive; offsets/epochs converted to UTC), level
                       (TRACE/DEBUG/INFO/WARN/ERROR/FATAL or None), component, host, service, fields (every
                       header field by name, format order, Content excluded), n_lines, end_offset.
    ``QuarantinedLine``  source, line_no, raw (the physical line's bytes incl. its newline), reason,
                       end_offset, n_lines (=1).
    ``Row`` / ``ROW_FIELDS``  a record as a tuple: line_no, content, timestamp, level, component, host,
                       service, n_lines, end_offset (``schemas.py``; what ``rows=True`` yields).
    Resume: items come in file order with strictly increasing ``end_offset`` (the byte offset just after
    the item). ``open_log(path, spec, start_offset=item.end_offset, start_line=item.line_no + item.n_lines)``
    yields exactly the items after ``item``. Invariant: the ``n_lines`` of all items sum to the number of
    physical lines read (records = "events", ``n_lines - 1`` per record = "merged", quarantined lines).

Batches for the ingest job (``batches.py``, ``reader_process.py``)
    ``read_batches(ReadJob) -> Iterator[ReadBatch]``  a file from a resume point in batches: records as one
                       Arrow record batch (``batches.row_schema()``), quarantined lines, start/end offset and
                       line. ``reader_process.ReaderPool(n)`` reads them in ``n`` child processes (JSON jobs
                       in, Arrow IPC frames out, no pickle); ``InlineReader`` in this process; the ingest job
                       picks with ``reader_processes(mode, sizes)``.

Lower-level pieces (``multiline.assemble``, ``normalise.normalise_level``, ``normalise.TimestampParser``,
``normalise.RecordBuilder``) are importable from their modules for tests and benchmarks.
"""

from triage.ingest.detect import FormatScore, detect_format, rank_formats
from triage.ingest.formats import InvalidLogFormat, JsonKeys, LogFormat
from triage.ingest.presets import (
    PRESETS,
    CompiledFormat,
    FormatSpec,
    Preset,
    compile_format,
    get_preset,
    preset_names,
    resolve_format,
)
from triage.ingest.readers import LogReader, open_log, open_stream, read_log, read_sample, sniff_format
from triage.ingest.schemas import LogRecord, QuarantinedLine

__all__ = [
    "PRESETS",
    "CompiledFormat",
    "FormatScore",
    "FormatSpec",
    "InvalidLogFormat",
    "JsonKeys",
    "LogFormat",
    "LogReader",
    "LogRecord",
    "Preset",
    "QuarantinedLine",
    "compile_format",
    "detect_format",
    "get_preset",
    "open_log",
    "open_stream",
    "preset_names",
    "rank_formats",
    "read_log",
    "read_sample",
    "resolve_format",
    "sniff_format",
]

"""Typed records leaving the ingest layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log record: a header line plus any continuation lines merged into it.

    ``content`` is the message body (continuation lines joined with ``\\n``), *not yet redacted*:
    it must pass through ``triage.parsing`` before anything stores it.
    """

    source: str  # the source's name (file path as given, or a label such as "stdin" / a service)
    line_no: int  # 1-based number of the record's first physical line in the source
    content: str
    timestamp: datetime | None = None
    level: str | None = None  # normalised severity word (DEBUG, INFO, WARN, ERROR, FATAL, ...) when known
    component: str | None = None
    host: str | None = None
    service: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)  # every header field as captured, by name
    n_lines: int = 1  # physical lines in this record: 1 + continuation lines merged into it
    # byte offset in the source just after the record's last physical line (its newline included);
    # reading again from (end_offset, line_no + n_lines) yields exactly the items that follow
    end_offset: int = 0


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A line triage could not turn into a record; kept byte for byte with the reason."""

    source: str
    line_no: int
    raw: bytes  # the physical line exactly as read, its trailing newline (if any) included
    reason: str
    # byte offset just after this line; the line started at end_offset - len(raw)
    end_offset: int = 0
    n_lines: int = 1  # always 1: a quarantined item is one physical line


#: What a reader yields per record in row mode (``open_log(..., rows=True)``): a plain tuple, in this
#: order, holding the LogRecord's values but its ``source`` (the reader's) and ``fields`` (header fields
#: by name, which bulk consumers do not need). Building a tuple costs a fraction of a frozen dataclass.
#: The timestamp is in microseconds since 1970-01-01 (``normalise.to_micros`` of the record's), the
#: integer an Arrow ``timestamp("us")`` column holds: cheaper to make than a datetime, and to convert.
ROW_FIELDS = ("line_no", "content", "timestamp", "level", "component", "host", "service", "n_lines", "end_offset")  # fmt: skip
Row = tuple[int, str, int | None, str | None, str | None, str | None, str | None, int, int]


def fast_constructor(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen, slotted dataclass that is equal in effect to ``cls(...)`` with
    every field given, but about twice as fast.

    A frozen dataclass's ``__init__`` assigns each field through ``object.__setattr__``; this sets the
    slots through their descriptors instead (what ``__init__`` ends up doing), in a function generated
    once, the way ``dataclasses`` itself generates ``__init__``.
    """
    names = [f.name for f in dataclass_fields(cls)]
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    namespace.update({f"set_{n}": cls.__dict__[n].__set__ for n in names})
    body = "".join(f"    set_{n}(obj, {n})\n" for n in names)
    exec(f"def make({', '.join(names)}):\n    obj = new(cls)\n{body}    return obj\n", namespace)
    return namespace["make"]

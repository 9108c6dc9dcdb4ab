"""Typed records leaving the ingest layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


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

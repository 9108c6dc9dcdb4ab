"""Typed records leaving the parsing layer. Everything here is already redacted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """A LogRecord after redaction and template mining; safe to store."""

    source: str
    line_no: int
    template_id: str
    template: str  # the cluster's template text at the time of parsing, ``<*>`` for variables
    params: tuple[str, ...]  # values of the template's variables, redacted
    content: str  # the redacted message body
    timestamp: datetime | None = None
    level: str | None = None
    component: str | None = None
    host: str | None = None
    service: str | None = None
    n_lines: int = 1


@dataclass(frozen=True, slots=True)
class Template:
    """One template (a Drain cluster) and where it stands."""

    template_id: str
    text: str
    version: int  # 1 for the first text; +1 each time the miner generalises it
    count: int
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    merged_into: str | None = None  # set when this template was merged into another (same text since)


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One text a template has had. Version 1 is the text it was created with."""

    template_id: str
    version: int
    text: str
    first_seen: datetime | None  # timestamp of the first record that produced this text (None if unknown)
    observed_at: datetime  # wall-clock time (UTC) the parser produced this text

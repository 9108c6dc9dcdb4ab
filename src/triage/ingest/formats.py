"""Header formats: Loghub-style format strings and JSON lines. Pure: strings in, field dicts out.

A Loghub-style format string names the header fields in angle brackets; everything between them is a
regular-expression fragment, exactly as in the Loghub / logparser benchmark
(``generate_logformat_regex``): every run of spaces matches ``\\s+``, a field matches ``.*?``, the whole
line must match. So ``<Date> <Time> <Level> <Component>: <Content>``, ``\\[<Pid>\\]`` and
``(\\[<PID>\\])?`` behave here as they do there, field for field. ``<Content>`` (the message body) is
required; field names must be identifiers and unique.

Presets may narrow a field with a :class:`FieldType` (for example ``INT`` for a pid). Narrow fields make a
format *specific*: it rejects lines of other shapes, which is what format detection and multi-line
joining need; the loose Loghub default is kept for format strings a user types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

from triage.errors import InvalidInput

CONTENT = "Content"

_FIELD_TOKEN = re.compile(r"(<[^<>]+>)")  # Loghub's splitter
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CLASS_ESCAPES = frozenset({"\\s", "\\S", "\\d", "\\D", "\\w", "\\W", "\\b", "\\B"})


class InvalidLogFormat(InvalidInput):
    """A format string (or a preset name) triage cannot use."""


@dataclass(frozen=True, slots=True)
class FieldType:
    """What one header field may contain: a regex fragment and how much it says about a line."""

    regex: str
    weight: int  # 0 = anything; higher = narrower (used to rank formats that match equally well)


ANY = FieldType(r".*?", 0)  # Loghub's own field pattern
TOKEN = FieldType(r"\S+?", 1)  # one run of non-blanks
WORD = FieldType(r"[A-Za-z]+", 2)
INT = FieldType(r"\d+", 3)
DAY = FieldType(r"\d{1,2}", 3)
MONTH = FieldType(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)", 4)
TIME = FieldType(r"\d{1,2}:\d{2}:\d{2}(?:[.,:]\d{1,9})?", 4)
ISO_DATE = FieldType(r"\d{4}-\d{2}-\d{2}", 4)
# an ISO-8601 / RFC 3339 instant: date, 'T' or space, time, optional fraction and offset
ISO_TIMESTAMP = FieldType(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?", 6
)


def _specificity(parts: list[str], weights: Mapping[str, int]) -> int:
    """Twice the field weights plus literal characters that every matching line must contain, plus
    once what an optional group ``(...)?`` / ``(...)*`` holds (optional structure is weaker evidence)."""
    stack = [0]
    for k, part in enumerate(parts):
        if k % 2:
            stack[-1] += 2 * weights.get(part[1:-1], 0)
            continue
        i = 0
        while i < len(part):
            c = part[i]
            if c == "\\":  # an escape: a literal unless it is a class such as \s or \d
                stack[-1] += 2 * (part[i : i + 2] not in _CLASS_ESCAPES)
                i += 2
                continue
            if c == "[":  # a character class counts as one character
                end = part.find("]", i + 2)
                i = len(part) if end < 0 else end + 1
                stack[-1] += 2
                continue
            if c == "(":
                stack.append(0)
            elif c == ")" and len(stack) > 1:
                inner = stack.pop()
                optional = part[i + 1 : i + 2] in ("?", "*")
                stack[-1] += inner // 2 if optional else inner
            elif c not in " ?*+|^$.{}":
                stack[-1] += 2
            i += 1
    return sum(stack)


def _regex_error(fmt: str, why: str) -> InvalidLogFormat:
    return InvalidLogFormat(f"malformed log format {fmt!r}: {why}")


@dataclass(frozen=True, slots=True, eq=False)
class LogFormat:
    """A compiled Loghub-style header format. Build it with :meth:`compile`."""

    format: str  # the format string as given
    fields: tuple[str, ...]  # field names in order of appearance, Content included
    regex: re.Pattern[str]
    specificity: int  # field weights + literal characters (optional parts count half); ranks formats in detection

    @classmethod
    def compile(cls, fmt: str, field_types: Mapping[str, FieldType] | None = None) -> LogFormat:
        """Compile ``fmt``; raise :class:`InvalidLogFormat` (one line) when it is malformed.

        ``field_types`` narrows named fields (default :data:`ANY`, Loghub's ``.*?``). ``Content``
        always takes the rest of the line.
        """
        if not isinstance(fmt, str) or not fmt.strip():
            raise InvalidLogFormat("empty log format: give a preset name or a string such as '<Date> <Level> <Content>'")
        if "\n" in fmt or "\r" in fmt:
            raise _regex_error(fmt, "a header format is one line")
        types = dict(field_types or {})
        parts = _FIELD_TOKEN.split(fmt)
        names: list[str] = []
        regex_parts: list[str] = []
        weights: dict[str, int] = {}
        for k, part in enumerate(parts):
            if k % 2 == 0:  # literal text between fields
                if "<" in part or ">" in part:
                    unescaped = re.sub(r"\\[<>]", "", part)
                    if "<" in unescaped or ">" in unescaped:
                        raise _regex_error(fmt, f"stray '<' or '>' in {part!r} (write \\< or \\> for a literal)")
                regex_parts.append(re.sub(" +", r"\\s+", part))
                continue
            name = part[1:-1]
            if not _FIELD_NAME.match(name):
                raise _regex_error(fmt, f"field name {name!r} must be letters, digits or '_'")
            if name in names:
                raise _regex_error(fmt, f"field <{name}> appears twice")
            names.append(name)
            if name == CONTENT:
                last = all(not p for p in parts[k + 1 :])
                regex_parts.append(f"(?P<{name}>.*)" if last else f"(?P<{name}>.*?)")
            else:
                ftype = types.pop(name, ANY)
                field_regex = ftype.regex
                if field_regex == TOKEN.regex and parts[k + 1][:1] == " ":
                    # A run of non-blanks right before blanks ends at the first blank, whether it is taken
                    # lazily or greedily (\S and \s share no character): the same matches, but greedy costs
                    # the regex engine no attempt to end the field at every character (BGL: 40% less).
                    field_regex = r"\S+"
                regex_parts.append(f"(?P<{name}>{field_regex})")
                weights[name] = ftype.weight
        if CONTENT not in names:
            raise _regex_error(fmt, "it has no <Content> field (the message body)")
        if types:
            raise _regex_error(fmt, f"typed fields not in the format: {sorted(types)}")
        try:
            regex = re.compile("".join(regex_parts))
        except re.error as exc:
            raise _regex_error(fmt, f"invalid regex fragment ({exc.msg})") from None
        if regex.groups and set(regex.groupindex) != set(names):
            raise _regex_error(fmt, "named groups other than <Field> are not allowed")
        return cls(format=fmt, fields=tuple(names), regex=regex, specificity=_specificity(parts, weights))

    def match(self, line: str) -> dict[str, str] | None:
        """The header fields of ``line`` by name (Content included), or None when it does not match.

        A field inside an optional group that did not take part is ``""``.
        """
        m = self.regex.fullmatch(line)
        if m is None:
            return None
        return m.groupdict("")


class JsonKeys(BaseModel):
    """Where a JSON-lines record keeps its parts. Each entry lists candidate keys, first found wins.

    A key with dots (``log.level``) is looked up as a literal key first, then as a path into nested
    objects (``{"log": {"level": ...}}``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp: tuple[str, ...] = ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "asctime")
    level: tuple[str, ...] = ("level", "severity", "log.level", "levelname", "loglevel", "lvl")
    message: tuple[str, ...] = ("message", "msg", "log", "text", "event")
    service: tuple[str, ...] = ("service", "service.name", "app", "application")
    host: tuple[str, ...] = ("host", "hostname", "host.name", "node")
    component: tuple[str, ...] = ("logger", "logger_name", "log.logger", "component", "module", "name")

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(k.strip() for k in value.split("|"))
        if isinstance(value, (list, tuple)) and not all(isinstance(k, str) and k for k in value):
            raise ValueError("keys must be non-empty strings")
        return value


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _flatten(obj: Mapping[str, object], prefix: str, out: dict[str, str]) -> None:
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _flatten(value, f"{name}.", out)
        else:
            out[name] = _scalar(value)


@dataclass(frozen=True, slots=True, eq=False)
class JsonFormat:
    """JSON lines: one JSON object per line. Fields are the object's scalars, nested keys dotted."""

    keys: JsonKeys
    specificity: int = 50
    fields: tuple[str, ...] = (CONTENT,)  # field names vary per line; Content is always there

    def match(self, line: str) -> dict[str, str] | None:
        """The flattened object with its message under ``Content`` (the whole line when it has none)."""
        if not line.startswith("{"):
            return None
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        out: dict[str, str] = {}
        _flatten(obj, "", out)
        for key in self.keys.message:  # the message moves to Content (not kept twice)
            if key in out:
                out[CONTENT] = out.pop(key)
                break
        else:
            out[CONTENT] = line
        return out

    @staticmethod
    def lookup(fields: Mapping[str, str], candidates: tuple[str, ...]) -> str | None:
        """The first candidate key present in the flattened ``fields`` (dotted keys are paths)."""
        for key in candidates:
            value = fields.get(key)
            if value is not None:
                return value
        return None

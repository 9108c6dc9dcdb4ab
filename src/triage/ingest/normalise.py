"""Header fields -> the normalised parts of a LogRecord: timestamp, level, component, host, service. Pure.

Best effort and never fatal: a value that cannot be understood becomes ``None`` and the raw text stays in
``LogRecord.fields``.

Timestamps are naive ``datetime`` objects. Text written with an offset (``Z``, ``+02:00``) and epoch
numbers are converted to UTC; text without an offset is kept as written (local time of the source).
Year-less stamps (syslog ``Jun 14 15:16:01``, Android ``03-17 16:13:38.811``) take their year from the
caller's ``default_year``: a fixed year, or a :class:`YearHint` made from when the log was last written.
Bulk readers (row mode) take the same instants as integers: microseconds since 1970-01-01
(:func:`to_micros`), what an Arrow ``timestamp("us")`` column holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from triage.ingest.formats import JsonFormat, JsonKeys
from triage.ingest.schemas import LogRecord, Row, fast_constructor

_new_record = fast_constructor(LogRecord)

# ---------------------------------------------------------------------------------------------- levels

_LEVEL_WORDS = {
    "TRACE": ("trace", "finest", "finer", "verbose", "v", "trc"),
    "DEBUG": ("debug", "dbg", "fine", "config", "d", "dbug"),
    "INFO": ("info", "information", "informational", "i", "notice", "inf", "informative"),
    "WARN": ("warn", "warning", "w", "wrn", "warnings"),
    "ERROR": ("error", "err", "e", "severe", "failure", "fail", "failed", "erro", "eror"),
    "FATAL": ("fatal", "critical", "crit", "emerg", "emergency", "alert", "panic", "f", "a", "c", "ftl", "crt"),
}
_LEVELS: dict[str, str] = {w: canon for canon, words in _LEVEL_WORDS.items() for w in words}
# syslog severities 0..7 (RFC 5424 table 2) and bunyan/pino numeric levels
_SYSLOG_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
_NUMERIC_LEVELS = {"10": "TRACE", "20": "DEBUG", "30": "INFO", "40": "WARN", "50": "ERROR", "60": "FATAL"}

#: The normalised level words, least to most severe.
LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")


def normalise_level(raw: str | None) -> str | None:
    """``'warning'`` -> ``'WARN'``, ``'E'`` -> ``'ERROR'``, ``'3'`` (syslog) -> ``'ERROR'``; None if unknown."""
    if not raw:
        return None
    word = raw.strip().strip("[]<>").strip().lower()
    if ":" in word:  # Apache 2.4 "core:error"
        word = word.rpartition(":")[2]
    level = _LEVELS.get(word)
    if level is not None:
        return level
    if word.isdigit():
        if len(word) == 1 and word < "8":
            return _SYSLOG_SEVERITY[int(word)]
        return _NUMERIC_LEVELS.get(word)
    return None


def level_from_priority(raw: str | None) -> str | None:
    """The level of a syslog ``<PRI>`` value (facility * 8 + severity)."""
    if not raw or not raw.isdigit():
        return None
    return _SYSLOG_SEVERITY[int(raw) % 8]


# ------------------------------------------------------------------------------------------ timestamps

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_EPOCH = datetime(1970, 1, 1)

_T = r"(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})(?:[.,:](?P<f>\d{1,9}))?"
_Z = r"(?:\s*(?P<z>Z|UTC|GMT|[+-]\d{2}:?\d{2}))?"
_B = r"(?P<b>[A-Za-z]{3})[a-z]*\.?"
_DOW = r"(?:[A-Za-z]{3}[a-z]*,?\s+)?"

#: Timestamp shapes by name. Each regex must fullmatch the (joined) timestamp text.
SHAPES: dict[str, str] = {
    "iso": rf"(?P<Y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})(?:T|\s+){_T}{_Z}",
    "ymd_slash": rf"(?P<Y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}})(?:T|\s+|:){_T}{_Z}",
    "ymd_dot": rf"(?P<Y>\d{{4}})\.(?P<m>\d{{1,2}})\.(?P<d>\d{{1,2}})[\s-]+{_T}{_Z}",
    "bgl": r"(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})-(?P<H>\d{2})\.(?P<M>\d{2})\.(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?",
    "compact": rf"(?P<Y>\d{{4}})(?P<m>\d{{2}})(?P<d>\d{{2}})[-T\s]{_T}{_Z}",
    "compact_all": r"(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})[-T\s]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?",
    "month_name": rf"{_DOW}{_B}\s+(?P<d>\d{{1,2}}),?\s+(?:(?P<Y>\d{{4}})\s+)?{_T}(?:\s+(?P<Y2>\d{{4}}))?{_Z}",
    "day_month_name": rf"{_DOW}(?P<d>\d{{1,2}})[\s/-]+{_B}[\s/-]+(?P<Y>\d{{4}})(?:\s+|:){_T}{_Z}",
    "epoch": r"(?P<e>\d{9,10}(?:\.\d{1,9})?|\d{13}|\d{16}|\d{19})",
    "date": r"(?P<Y>\d{4})[-./](?P<m>\d{1,2})[-./](?P<d>\d{1,2})",
    # year-less numeric month/day: Android logcat (03-17 16:13:38.811), Proxifier (10.30 16:49:06), klog (1127)
    "md": rf"(?P<m>\d{{2}})[-./]?(?P<d>\d{{2}})\s+{_T}",
    # two-digit years, only when a preset asks for them (which of y/m/d comes first is not guessable)
    "yymmdd": r"(?P<y>\d{2})(?P<m>\d{2})(?P<d>\d{2})\s+(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})",
    "yy_mm_dd": rf"(?P<y>\d{{2}})[/-](?P<m>\d{{2}})[/-](?P<d>\d{{2}})\s+{_T}",
}
#: Shapes tried, in order, when a format does not name its own.
GENERIC_SHAPES: tuple[str, ...] = (
    "iso", "ymd_slash", "ymd_dot", "bgl", "compact", "compact_all", "month_name", "day_month_name",
    "epoch", "date", "md",
)
# maps a timestamp to its "shape key" (digits -> 9, letters -> a) so each distinct layout is searched once
_SHAPE_KEY = str.maketrans(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "9" * 10 + "a" * 52
)
_MEMO_LIMIT = 512
_UTC_NAMES = frozenset({"Z", "UTC", "GMT"})

#: A YearHint as the builders take it: (year, latest month, latest day), a key hashed in C (per stamp).
YearKey = tuple[int, int, int]
Builder = Callable[["re.Match[str]", YearKey], datetime | None]
MicrosBuilder = Callable[["re.Match[str]", YearKey], int | None]

_MISSING: Any = object()
_ONE_US = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MIN_US = (datetime.min - _EPOCH) // _ONE_US
_MAX_US = (datetime.max - _EPOCH) // _ONE_US
_DAY_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class YearHint:
    """The year of year-less stamps: ``year``, except that a month and day after ``latest`` (of that year)
    falls in the year before. A bare year is ``YearHint(year)``: nothing falls back.

    :meth:`written_at` makes one from when a log was last written (a file's modification time): no line
    can be later than that, so ``Dec 31 23:59:01`` in a file written on 2 January belongs to the old year,
    not to the December eleven months ahead, and a log spanning New Year stays in order.
    """

    year: int
    latest: tuple[int, int] = (12, 31)

    @classmethod
    def written_at(cls, seconds: float) -> YearHint:
        """Each stamp on its latest date no later than a day after ``seconds`` (since the epoch: a file's
        ``st_mtime``, or now); the day allows for local time up to 14 hours ahead of UTC."""
        bound = datetime.fromtimestamp(seconds, UTC) + timedelta(days=1)
        return cls(bound.year, (bound.month, bound.day))


def to_micros(value: datetime | None) -> int | None:
    """A naive datetime as microseconds since 1970-01-01: the integer an Arrow ``timestamp("us")`` holds."""
    return None if value is None else (value - _EPOCH) // _ONE_US


def _make_builders(regex: re.Pattern[str]) -> tuple[Builder, MicrosBuilder]:
    """Fast builders for one shape, reading groups by position (no dict per call): one makes a datetime, the
    other the same instant in microseconds (:func:`to_micros` of it, None exactly when it gives None)."""
    gi = {name: idx - 1 for name, idx in regex.groupindex.items()}
    i_e, i_Y, i_Y2, i_y, i_b, i_m = (gi.get(k) for k in ("e", "Y", "Y2", "y", "b", "m"))
    i_d, i_H, i_M, i_S, i_f, i_z = (gi.get(k) for k in ("d", "H", "M", "S", "f", "z"))

    if i_e is not None:
        def epoch(m: re.Match[str], hint: YearKey) -> datetime | None:
            e = m.group(1)
            # seconds (with or without a fraction), else ms / us / ns by digit count
            seconds = float(e) if "." in e or len(e) <= 10 else int(e) / 10 ** (len(e) - 10)
            return _EPOCH + timedelta(seconds=seconds)

        return epoch, lambda m, hint: to_micros(epoch(m, hint))

    def ymd(g: tuple[str, ...], hint: YearKey) -> tuple[int, int, int] | None:
        """Year, month and day of the groups; None for an unknown month name."""
        if i_b is not None:
            month = _MONTHS.get(g[i_b].lower())
            if month is None:
                return None
        else:
            month = int(g[i_m])  # type: ignore[index]
        day = int(g[i_d])  # type: ignore[index]
        if i_Y is not None and g[i_Y]:
            year = int(g[i_Y])
        elif i_Y2 is not None and g[i_Y2]:
            year = int(g[i_Y2])
        elif i_y is not None:
            yy = int(g[i_y])
            year = 2000 + yy if yy < 69 else 1900 + yy  # POSIX %y pivot
        else:  # the hint's year, or the one before for a date after its latest (see YearHint)
            year = hint[0] - 1 if month > hint[1] or (month == hint[1] and day > hint[2]) else hint[0]
        return year, month, day

    def offset_seconds(z: str) -> int:
        digits = z[1:].replace(":", "")
        return (int(digits[:2]) * 60 + int(digits[2:4])) * 60

    def build(m: re.Match[str], hint: YearKey) -> datetime | None:
        g = m.groups()
        day = ymd(g, hint)
        if day is None:
            return None
        if i_H is None:  # a date alone
            return datetime(*day)
        f = g[i_f] if i_f is not None else None
        dt = datetime(*day, int(g[i_H]), int(g[i_M]), int(g[i_S]), int(f[:6].ljust(6, "0")) if f else 0)  # type: ignore[index]
        z = g[i_z] if i_z is not None else None
        if z and z not in _UTC_NAMES:
            offset = timedelta(seconds=offset_seconds(z))
            dt = dt + offset if z[0] == "-" else dt - offset
        return dt

    if i_H is None:
        return build, lambda m, hint: to_micros(build(m, hint))

    # Microseconds without a datetime per stamp: a stream has few distinct dates, so each date's first
    # microsecond is looked up (made once with date(), which rejects the same dates datetime() does) and
    # the time of day added, checked as datetime() checks it. Cheaper to make, and Arrow takes integers
    # for a timestamp column at a fraction of the cost of datetimes.
    date_key = itemgetter(*(i for i in (i_Y, i_Y2, i_y, i_b, i_m, i_d) if i is not None))
    days: dict[tuple[Any, YearKey], int | None] = {}

    def day_micros(g: tuple[str, ...], hint: YearKey) -> int | None:
        parts = ymd(g, hint)
        if parts is None:
            return None
        try:
            return (date(*parts).toordinal() - _EPOCH_ORDINAL) * 86_400 * _US_PER_S
        except ValueError:  # no such date
            return None

    def build_micros(m: re.Match[str], hint: YearKey) -> int | None:
        g = m.groups()
        key = (date_key(g), hint)
        day = days.get(key, _MISSING)
        if day is _MISSING:
            if len(days) >= _DAY_CACHE_LIMIT:
                days.clear()
            day = days[key] = day_micros(g, hint)
        if day is None:
            return None
        hour, minute, second = int(g[i_H]), int(g[i_M]), int(g[i_S])  # type: ignore[index]
        if hour > 23 or minute > 59 or second > 59:  # datetime() refuses these
            return None
        f = g[i_f] if i_f is not None else None
        us: int = day + ((hour * 60 + minute) * 60 + second) * _US_PER_S + (int(f[:6].ljust(6, "0")) if f else 0)  # type: ignore[operator]
        z = g[i_z] if i_z is not None else None
        if z and z not in _UTC_NAMES:
            offset = offset_seconds(z) * _US_PER_S
            us = us + offset if z[0] == "-" else us - offset
            if not _MIN_US <= us <= _MAX_US:  # out of datetime's range: the datetime builder overflows
                return None
        return us

    return build, build_micros


_COMPILED: dict[str, tuple[re.Pattern[str], Builder, MicrosBuilder]] = {}
for _name, _rx in SHAPES.items():
    _pattern = re.compile(_rx)
    _COMPILED[_name] = (_pattern, *_make_builders(_pattern))


class TimestampParser:
    """Parses timestamp text of any known shape, remembering which shape each layout of text has.

    Stateful (a memo) but deterministic; make one per stream. Never raises on bad text. With ``micros``,
    :meth:`parse` gives microseconds since 1970-01-01 instead of a datetime (:func:`to_micros` of it).
    """

    __slots__ = ("_last_dt", "_last_text", "_memo", "_shapes", "_sticky", "_year_key")

    def __init__(
        self, shapes: Sequence[str] | None = None, *, default_year: int | YearHint = 1970, micros: bool = False
    ) -> None:
        names = tuple(shapes) if shapes else GENERIC_SHAPES
        unknown = [n for n in names if n not in _COMPILED]
        if unknown:
            raise ValueError(f"unknown timestamp shapes {unknown}")
        self._shapes = tuple((_COMPILED[n][0], _COMPILED[n][2 if micros else 1]) for n in names)
        hint = default_year if isinstance(default_year, YearHint) else YearHint(default_year)
        self._year_key: YearKey = (hint.year, *hint.latest)
        self._memo: dict[str, tuple[re.Pattern[str], Any] | None] = {}
        self._sticky = self._shapes[0]  # the shape that parsed the last text: tried first
        self._last_text = ""
        self._last_dt: Any = None

    def parse(self, text: str) -> Any:  # datetime | None, or int | None with ``micros``
        if text == self._last_text:  # consecutive lines often share a stamp
            return self._last_dt
        if not text:
            return None
        shape = self._sticky
        m = shape[0].fullmatch(text)
        if m is None:
            key = text.translate(_SHAPE_KEY)
            try:
                found = self._memo[key]
            except KeyError:
                found = next((sh for sh in self._shapes if sh[0].fullmatch(text)), None)
                if len(self._memo) < _MEMO_LIMIT:
                    self._memo[key] = found
            if found is None:
                return None
            m = found[0].fullmatch(text)
            if m is None:
                return None
            shape = self._sticky = found
        try:
            dt = shape[1](m, self._year_key)
        except (ValueError, OverflowError):
            dt = None
        self._last_text = text
        self._last_dt = dt
        return dt


# ------------------------------------------------------------------------------------------------ roles

_TIME_NAMES = frozenset(
    {"timestamp", "datetime", "date", "time", "ts", "month", "day", "year", "dow", "weekday", "asctime", "@timestamp"}
)
_ROLE_NAMES: dict[str, frozenset[str]] = {
    "level": frozenset({"level", "severity", "loglevel", "levelname", "lvl", "log_level"}),
    "component": frozenset({"component", "logger", "module", "class", "category", "tag", "program", "loggername"}),
    "host": frozenset({"host", "hostname", "node", "server", "machine"}),
    "service": frozenset({"service", "app", "application", "appname", "service_name"}),
    "priority": frozenset({"pri", "priority"}),
}


@dataclass(frozen=True, slots=True)
class Roles:
    """Which header fields carry which part of a record (field names, or None)."""

    timestamp: tuple[str, ...] = ()  # joined with a space, in this order, then parsed
    level: str | None = None
    priority: str | None = None  # a syslog PRI number, used when there is no level field
    component: str | None = None
    host: str | None = None
    service: str | None = None
    default_component: str | None = None  # when the format implies one (OpenSSH lines are all sshd's)

    @classmethod
    def infer(cls, field_names: Sequence[str]) -> Roles:
        """Roles guessed from conventional field names (case-insensitive), for custom formats."""
        found: dict[str, str] = {}
        for name in field_names:
            low = name.lower()
            for role, names in _ROLE_NAMES.items():
                if low in names and role not in found:
                    found[role] = name
        ts = tuple(n for n in field_names if n.lower() in _TIME_NAMES)
        return cls(timestamp=ts, **found)


def _nil(value: str | None) -> str | None:
    """Empty and ``-`` (syslog's NILVALUE, Loghub's "no label") mean "not given"."""
    return value if value and value != "-" else None


class RecordBuilder:
    """Turns matched header fields into LogRecords for one stream (owns that stream's timestamp memo).

    ``build(fields, content, source, line_no, n_lines=1, end_offset=0) -> LogRecord`` takes the header
    fields without Content. It is a closure made once per stream: this is the per-line hot path.
    """

    __slots__ = ("_level_of", "_levels", "_micros_parser", "_parse_ts", "_roles", "_service", "build", "timestamp")

    def __init__(
        self,
        roles: Roles | None,
        *,
        json_keys: JsonKeys | None = None,
        timestamp_shapes: Sequence[str] | None = None,
        service: str | None = None,
        default_year: int | YearHint = 1970,
    ) -> None:
        if (roles is None) == (json_keys is None):
            raise ValueError("give exactly one of roles (header formats) or json_keys (JSON lines)")
        parse_ts = TimestampParser(timestamp_shapes, default_year=default_year).parse
        # rows carry timestamps as microseconds (see ``schemas.Row``), parsed by a parser of their own
        self._micros_parser = lambda: TimestampParser(timestamp_shapes, default_year=default_year, micros=True)
        levels: dict[str | None, str | None] = {}  # raw level text -> normalised (few distinct values)

        def level_of(raw: str | None) -> str | None:
            level = levels.get(raw, _MISSING)
            if level is _MISSING:
                level = normalise_level(raw)
                if len(levels) < 1024:
                    levels[raw] = level
            return level  # type: ignore[return-value]

        if json_keys is not None:
            lookup = JsonFormat.lookup
            k = json_keys

            def timestamp(fields: Mapping[str, str]) -> datetime | None:
                return parse_ts(lookup(fields, k.timestamp) or "")

            def parts(fields: Mapping[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
                return (level_of(lookup(fields, k.level)), _nil(lookup(fields, k.component)),
                        _nil(lookup(fields, k.host)), service or _nil(lookup(fields, k.service)))

            def build(
                fields: dict[str, str], content: str, source: str, line_no: int, n_lines: int = 1,
                end_offset: int = 0,
            ) -> LogRecord:
                level, component, host, svc = parts(fields)
                return LogRecord(source, line_no, content, timestamp(fields), level, component, host, svc, fields,
                                 n_lines, end_offset)
        else:
            timestamp = _header_timestamp(roles.timestamp, parse_ts)  # type: ignore[union-attr]
            build = _header_build(roles, parse_ts, level_of, levels, service)  # type: ignore[arg-type]

        self.timestamp = timestamp
        self.build = build
        self._roles = roles
        self._parse_ts = parse_ts
        self._level_of = level_of
        self._levels = levels
        self._service = service

    def from_groups(self, group_index: Mapping[str, int], source: str, *, rows: bool = False) -> Maker:
        """For header formats: ``make(groups, content, line_no, n_lines, end_offset)`` where ``groups`` is
        the header regex's ``match.groups("")`` (``group_index``: the regex's ``groupindex``). Makes a
        :data:`~triage.ingest.schemas.Row` tuple with ``rows``, else a LogRecord (``fields`` by name,
        Content excluded). Equal in effect to :attr:`build` over ``match.groupdict("")``, without a dict
        per line; this is the reader's hot path."""
        if self._roles is None:
            raise ValueError("from_groups is for header formats; JSON lines carry their fields by name")
        index = {n: i - 1 for n, i in group_index.items()}
        if rows:
            parse_micros = self._micros_parser().parse
            return _header_row(self._roles, index, parse_micros, self._level_of, self._levels, self._service)
        row = _header_row(self._roles, index, self._parse_ts, self._level_of, self._levels, self._service)
        pairs = [(n, i - 1) for n, i in sorted(group_index.items(), key=lambda kv: kv[1]) if n != "Content"]

        def record(
            groups: tuple[str, ...], content: str, line_no: int, n_lines: int, end_offset: int
        ) -> LogRecord:
            _, _, ts, level, component, host, svc, _, _ = row(groups, content, line_no, n_lines, end_offset)
            fields = {name: groups[i] for name, i in pairs}
            return _new_record(
                source, line_no, content, ts, level, component, host, svc, fields, n_lines, end_offset
            )

        return record

    def from_fields(self, source: str, *, rows: bool = False) -> Maker:
        """``make(fields, content, line_no, n_lines, end_offset)`` over a header's fields by name (what
        ``match`` of a JSON-lines format gives, Content included: it is removed here)."""
        build = self.build

        def record(
            fields: dict[str, str], content: str, line_no: int, n_lines: int, end_offset: int
        ) -> LogRecord:
            del fields["Content"]  # LogRecord.fields holds the header fields; the message is its content
            return build(fields, content, source, line_no, n_lines, end_offset)

        if not rows:
            return record

        def row(fields: dict[str, str], content: str, line_no: int, n_lines: int, end_offset: int) -> Row:
            r = record(fields, content, line_no, n_lines, end_offset)
            return (r.line_no, r.content, to_micros(r.timestamp), r.level, r.component, r.host, r.service,
                    r.n_lines, r.end_offset)  # fmt: skip

        return row


#: ``make(header, content, line_no, n_lines, end_offset) -> LogRecord | Row`` (see RecordBuilder).
Maker = Callable[[Any, str, int, int, int], Any]


def _header_timestamp(names: tuple[str, ...], parse_ts: Callable[[str], datetime | None]) -> Callable[..., datetime | None]:
    """:func:`_groups_timestamp` over fields by name (a field may be missing: JSON lines)."""
    if not names:
        return lambda fields: None
    by_position = _groups_timestamp(tuple(range(len(names))), parse_ts)
    return lambda fields: by_position(tuple([fields.get(n, "") for n in names]))


def _header_build(
    roles: Roles,
    parse_ts: Callable[[str], Any],
    level_of: Callable[[str | None], str | None],
    levels: dict[str | None, str | None],
    service: str | None,
) -> Callable[..., LogRecord]:
    """:func:`_header_row` over fields by name (a missing field reads as empty), making a LogRecord."""
    names = tuple(dict.fromkeys(n for n in (*roles.timestamp, roles.level, roles.priority, roles.component,
                                            roles.host, roles.service) if n))  # fmt: skip
    row = _header_row(roles, {n: i for i, n in enumerate(names)}, parse_ts, level_of, levels, service)

    def build(
        fields: dict[str, str], content: str, source: str, line_no: int, n_lines: int = 1, end_offset: int = 0
    ) -> LogRecord:
        _, _, ts, level, component, host, svc, _, _ = row(
            tuple([fields.get(n, "") for n in names]), content, line_no, n_lines, end_offset
        )
        return LogRecord(source, line_no, content, ts, level, component, host, svc, fields, n_lines, end_offset)

    return build


def _groups_timestamp(idx: tuple[int, ...], parse_ts: Callable[[str], Any]) -> Callable[..., Any]:
    """The timestamp reader for header formats over a groups tuple (``idx``: positions of the fields that
    make the stamp), specialised on how many there are. ``parse_ts``: a TimestampParser's ``parse``
    (datetimes, or microseconds)."""
    if not idx:
        return lambda groups: None
    if len(idx) == 1:
        (only,) = idx
        return lambda groups: parse_ts(groups[only])
    values_of = itemgetter(*idx)

    def several(groups: tuple[str, ...]) -> datetime | None:
        values = values_of(groups)
        dt = parse_ts(" ".join(values) if "" not in values else " ".join([v for v in values if v]))
        if dt is None:  # e.g. an epoch field beside a date field
            for value in values:
                dt = parse_ts(value)
                if dt is not None:
                    break
        return dt

    return several


def _header_row(
    roles: Roles,
    index: Mapping[str, int],
    parse_ts: Callable[[str], Any],
    level_of: Callable[[str | None], str | None],
    levels: dict[str | None, str | None],
    service: str | None,
) -> Callable[..., Row]:
    """The parts of a record from a header's groups tuple (``index``: field name -> position), as a Row
    (its timestamp is what ``parse_ts`` gives: microseconds for rows, a datetime for
    :meth:`RecordBuilder.from_groups`'s records and :func:`_header_build`'s). A role naming a field the
    format does not have acts as absent."""

    def at(name: str | None) -> int | None:
        return None if not name else index.get(name)

    timestamp = _groups_timestamp(tuple(i for n in roles.timestamp if (i := at(n)) is not None), parse_ts)
    level_i, pri_i, comp_i, host_i, svc_i = map(at, (roles.level, roles.priority, roles.component, roles.host,
                                                     roles.service))  # fmt: skip
    default_component = roles.default_component

    def row(groups: tuple[str, ...], content: str, line_no: int, n_lines: int, end_offset: int) -> Row:
        level = None
        if level_i is not None:
            raw = groups[level_i]
            level = levels.get(raw, _MISSING)
            if level is _MISSING:
                level = level_of(raw)
        if level is None and pri_i is not None:
            level = level_from_priority(groups[pri_i])
        component = groups[comp_i] if comp_i is not None else None
        if not component or component == "-":
            component = default_component
        host = groups[host_i] if host_i is not None else None
        if host == "-" or host == "":
            host = None
        svc = service
        if not svc and svc_i is not None:
            svc = groups[svc_i]
            if svc == "-" or svc == "":
                svc = None
        return (line_no, content, timestamp(groups), level, component, host, svc, n_lines, end_offset)

    return row

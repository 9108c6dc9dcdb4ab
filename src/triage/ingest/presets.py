"""Named log formats and the ``--format`` value: a preset name, ``json:...`` or a Loghub format string.

The Loghub presets use the exact ``log_format`` strings of the logpai/logparser benchmark, so their
field names and values match Loghub's ``*_structured.csv``; each narrows some fields (``Pid`` is digits,
``Month`` is a month name) so that detection can tell formats apart. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from triage.ingest.formats import (
    CONTENT,
    DAY,
    INT,
    ISO_DATE,
    ISO_TIMESTAMP,
    MONTH,
    TIME,
    TOKEN,
    WORD,
    FieldType,
    InvalidLogFormat,
    JsonFormat,
    JsonKeys,
    LogFormat,
)
from triage.ingest.normalise import RecordBuilder, Roles, YearHint


@dataclass(frozen=True, slots=True)
class Preset:
    """A named format: the format string, narrowed fields, and which fields carry which role."""

    name: str
    description: str
    log_format: str  # Loghub-style; "" for JSON lines
    field_types: Mapping[str, FieldType] = field(default_factory=dict)
    roles: Roles = field(default_factory=Roles)
    timestamp_shapes: tuple[str, ...] = ()  # () = try the generic shapes
    json: bool = False


_TIME_TZ = FieldType(r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?", 4)
_SYSLOG_TAG = FieldType(r"[\w.\-/@]+?", 2)  # RFC 3164 TAG: alphanumerics (and the usual . - / @)
_SD = FieldType(r'-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+', 3)  # RFC 5424 STRUCTURED-DATA
_NIL_OR_ISO = FieldType(rf"-|{ISO_TIMESTAMP.regex}", 6)


def _p(name: str, description: str, log_format: str, types: Mapping[str, FieldType] | None = None, **kw) -> Preset:
    return Preset(name, description, log_format, dict(types or {}), **kw)


_PRESET_LIST: tuple[Preset, ...] = (
    # --- the Loghub systems (format strings of logpai/logparser's benchmark settings) ---
    _p("hdfs", "Loghub HDFS (Hadoop DFS daemons)", "<Date> <Time> <Pid> <Level> <Component>: <Content>",
       {"Date": FieldType(r"\d{6}", 4), "Time": FieldType(r"\d{6}", 4), "Pid": INT, "Level": WORD, "Component": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("yymmdd",)),
    _p("hadoop", "Loghub Hadoop MapReduce", r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Level": WORD, "Component": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("iso",)),
    _p("spark", "Loghub Spark", "<Date> <Time> <Level> <Component>: <Content>",
       {"Date": FieldType(r"\d{2}/\d{2}/\d{2}", 4), "Time": TIME, "Level": WORD, "Component": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("yy_mm_dd",)),
    _p("zookeeper", "Loghub ZooKeeper", r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Level": WORD, "Id": INT},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("iso",)),
    _p("bgl", "Loghub BGL (Blue Gene/L RAS log)",
       "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
       {"Label": TOKEN, "Timestamp": INT, "Date": FieldType(r"\d{4}\.\d{2}\.\d{2}", 4), "Node": TOKEN,
        "Time": FieldType(r"\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}\.\d+", 6), "NodeRepeat": TOKEN,
        "Type": WORD, "Component": TOKEN, "Level": WORD},
       roles=Roles(("Time",), level="Level", component="Component", host="Node"), timestamp_shapes=("bgl",)),
    _p("hpc", "Loghub HPC (LANL cluster)", "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
       {"LogId": INT, "Node": TOKEN, "Component": TOKEN, "State": TOKEN, "Time": INT, "Flag": FieldType(r"-?\d+", 3)},
       roles=Roles(("Time",), component="Component", host="Node"), timestamp_shapes=("epoch",)),
    _p("linux", "Loghub Linux (syslog; <Level> is the host name)",
       r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
       {"Month": MONTH, "Date": DAY, "Time": TIME, "Level": TOKEN, "PID": INT},
       roles=Roles(("Month", "Date", "Time"), component="Component", host="Level"),
       timestamp_shapes=("month_name",)),
    _p("openssh", "Loghub OpenSSH (sshd via syslog; <Component> is the host name)",
       r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
       {"Date": MONTH, "Day": DAY, "Time": TIME, "Component": TOKEN, "Pid": INT},
       roles=Roles(("Date", "Day", "Time"), host="Component", default_component="sshd"),
       timestamp_shapes=("month_name",)),
    _p("thunderbird", "Loghub Thunderbird (Sandia supercomputer syslog)",
       r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
       {"Label": TOKEN, "Timestamp": INT, "Date": FieldType(r"\d{4}\.\d{2}\.\d{2}", 4), "User": TOKEN,
        "Month": MONTH, "Day": DAY, "Time": TIME, "Location": TOKEN, "PID": INT},
       roles=Roles(("Date", "Time"), component="Component", host="User"), timestamp_shapes=("ymd_dot",)),
    _p("windows", "Loghub Windows (CBS log)", "<Date> <Time>, <Level>                  <Component>    <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Level": WORD, "Component": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("iso",)),
    _p("mac", "Loghub Mac (macOS system log)",
       r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
       {"Month": MONTH, "Date": DAY, "Time": TIME, "User": TOKEN, "PID": INT},
       roles=Roles(("Month", "Date", "Time"), component="Component", host="User"),
       timestamp_shapes=("month_name",)),
    _p("android", "Loghub Android (logcat threadtime)", "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
       {"Date": FieldType(r"\d{2}-\d{2}", 4), "Time": TIME, "Pid": INT, "Tid": INT,
        "Level": FieldType(r"[VDIWEFA]", 3)},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("md",)),
    _p("healthapp", "Loghub HealthApp", r"<Time>\|<Component>\|<Pid>\|<Content>",
       {"Time": FieldType(r"\d{8}-\d{1,2}:\d{1,2}:\d{1,2}:\d{1,3}", 6), "Pid": INT},
       roles=Roles(("Time",), component="Component"), timestamp_shapes=("compact",)),
    _p("apache", "Loghub Apache (httpd error log)", r"\[<Time>\] \[<Level>\] <Content>",
       {"Time": FieldType(r"[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4}", 6),
        "Level": FieldType(r"[A-Za-z_]+(?::[A-Za-z]+)?", 2)},
       roles=Roles(("Time",), level="Level"), timestamp_shapes=("month_name",)),
    _p("openstack", "Loghub OpenStack (nova)",
       r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
       {"Logrecord": TOKEN, "Date": ISO_DATE, "Time": TIME, "Pid": INT, "Level": WORD, "Component": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Component"), timestamp_shapes=("iso",)),
    _p("proxifier", "Loghub Proxifier", r"\[<Time>\] <Program> - <Content>",
       {"Time": FieldType(r"\d{2}\.\d{2} \d{2}:\d{2}:\d{2}", 5)},
       roles=Roles(("Time",), component="Program"), timestamp_shapes=("md",)),
    # --- syslog ---
    _p("rfc3164", "syslog, BSD style (RFC 3164): [<PRI>]Mmm dd hh:mm:ss host tag[pid]: msg",
       r"(\<<Pri>\>)?<Month> <Day> <Time> <Host> <Tag>(\[<Pid>\])?: <Content>",
       {"Pri": INT, "Month": MONTH, "Day": DAY, "Time": TIME, "Host": TOKEN, "Tag": _SYSLOG_TAG, "Pid": INT},
       roles=Roles(("Month", "Day", "Time"), priority="Pri", component="Tag", host="Host"),
       timestamp_shapes=("month_name",)),
    _p("rfc5424", "syslog, IETF style (RFC 5424): <PRI>1 timestamp host app procid msgid [sd] msg",
       r"\<<Pri>\><Version> <Timestamp> <Host> <App> <ProcId> <MsgId> <StructuredData>( <Content>)?",
       {"Pri": INT, "Version": FieldType(r"\d{1,2}", 3), "Timestamp": _NIL_OR_ISO, "Host": TOKEN,
        "App": TOKEN, "ProcId": TOKEN, "MsgId": TOKEN, "StructuredData": _SD},
       roles=Roles(("Timestamp",), priority="Pri", component="App", host="Host", service="App"),
       timestamp_shapes=("iso",)),
    _p("syslog-iso", "syslog with RFC 3339 stamps (rsyslog file format): timestamp host tag[pid]: msg",
       r"<Timestamp> <Host> <Tag>(\[<Pid>\])?: <Content>",
       {"Timestamp": ISO_TIMESTAMP, "Host": TOKEN, "Tag": _SYSLOG_TAG, "Pid": INT},
       roles=Roles(("Timestamp",), component="Tag", host="Host"), timestamp_shapes=("iso",)),
    # --- structured ---
    Preset("json", "JSON lines (keys configurable: json:message=msg,level=severity,...)", "", json=True),
    # --- application frameworks ---
    _p("log4j", "log4j / logback: yyyy-MM-dd HH:mm:ss,SSS LEVEL [thread] logger - msg",
       r"<Date> <Time> <Level> \[<Thread>\] <Logger> - <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Level": WORD, "Logger": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Logger"), timestamp_shapes=("iso",)),
    _p("logback", "logback default / log4j TTCC: [date] HH:mm:ss.SSS [thread] LEVEL logger - msg",
       r"(<Date> )?<Time> \[<Thread>\] <Level> <Logger> - <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Level": WORD, "Logger": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Logger"), timestamp_shapes=("iso",)),
    _p("spring-boot", "Spring Boot: timestamp LEVEL pid --- [thread] logger : msg",
       r"<Date>(T| )<Time> <Level> <Pid> --- (\[<App>\] )?\[\s*<Thread>\] <Logger> : <Content>",
       {"Date": ISO_DATE, "Time": _TIME_TZ, "Level": WORD, "Pid": INT, "App": FieldType(r"[^\]]*", 1),
        "Logger": TOKEN},
       roles=Roles(("Date", "Time"), level="Level", component="Logger", service="App"),
       timestamp_shapes=("iso",)),
    _p("python", "Python logging: %(asctime)s - %(name)s - %(levelname)s - %(message)s",
       "<Date> <Time> - <Logger> - <Level> - <Content>",
       {"Date": ISO_DATE, "Time": TIME, "Logger": TOKEN, "Level": WORD},
       roles=Roles(("Date", "Time"), level="Level", component="Logger"), timestamp_shapes=("iso",)),
    _p("python-basic", "Python logging.basicConfig default: LEVEL:name:message", "<Level>:<Logger>:<Content>",
       {"Level": FieldType(r"DEBUG|INFO|WARNING|ERROR|CRITICAL", 5), "Logger": FieldType(r"[^:\s]+", 1)},
       roles=Roles((), level="Level", component="Logger")),
    _p("klog", "Go glog / Kubernetes klog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg",
       r"<Level><Date> <Time> <Thread> <File>:<Line>\] <Content>",
       {"Level": FieldType(r"[IWEF]", 3), "Date": FieldType(r"\d{4}", 3), "Time": TIME, "Thread": INT,
        "File": FieldType(r"[^:\s]+", 1), "Line": INT},
       roles=Roles(("Date", "Time"), level="Level", component="File"), timestamp_shapes=("md",)),
    _p("nginx-error", "nginx error log: yyyy/mm/dd hh:mm:ss [level] pid#tid: msg",
       r"<Date> <Time> \[<Level>\] <Pid>#<Tid>: <Content>",
       {"Date": FieldType(r"\d{4}/\d{2}/\d{2}", 4), "Time": TIME, "Level": WORD, "Pid": INT, "Tid": INT},
       roles=Roles(("Date", "Time"), level="Level"), timestamp_shapes=("ymd_slash",)),
    # --- no structure ---
    _p("plain", "plain text: the whole line is the message", "<Content>", roles=Roles()),
)

#: Every preset by name.
PRESETS: Mapping[str, Preset] = {p.name: p for p in _PRESET_LIST}
#: Other names accepted for presets.
ALIASES: Mapping[str, str] = {
    "syslog": "rfc3164", "bsd-syslog": "rfc3164", "ietf-syslog": "rfc5424", "jsonl": "json", "ndjson": "json",
    "ssh": "openssh", "text": "plain", "logback-classic": "log4j",
}


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (case-insensitive, aliases allowed); InvalidLogFormat if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    try:
        return PRESETS[key]
    except KeyError:
        raise InvalidLogFormat(
            f"unknown log format {name!r}: use one of {', '.join(PRESETS)} or a format string with <Content>"
        ) from None


class FormatSpec(BaseModel):
    """What to parse a source with: a preset (``preset``) or a Loghub-style string (``log_format``).

    ``json_keys`` overrides the key names of the ``json`` preset. Serialisable (``model_dump_json``), so
    an ingest run can record the exact format it used and resume with it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str | None = None
    log_format: str | None = None
    json_keys: JsonKeys | None = None

    @model_validator(mode="after")
    def _check(self) -> FormatSpec:
        if (self.preset is None) == (self.log_format is None):
            raise ValueError("give exactly one of preset or log_format")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}")
        if self.json_keys is not None and self.preset != "json":
            raise ValueError("json_keys only applies to the json preset")
        return self

    @property
    def label(self) -> str:
        """The preset's name, or the format string."""
        return self.preset if self.preset is not None else self.log_format  # type: ignore[return-value]


_JSON_ROLES = frozenset(JsonKeys.model_fields)


def _json_spec(options: str) -> FormatSpec:
    keys: dict[str, tuple[str, ...]] = {}
    for item in filter(None, (o.strip() for o in options.split(","))):
        role, sep, value = item.partition("=")
        role = role.strip()
        if not sep or role not in _JSON_ROLES or not value.strip():
            raise InvalidLogFormat(
                f"bad json option {item!r}: write json:ROLE=key[|key...] with ROLE one of {', '.join(sorted(_JSON_ROLES))}"
            )
        keys[role] = tuple(k.strip() for k in value.split("|") if k.strip())
    try:
        return FormatSpec(preset="json", json_keys=JsonKeys(**keys) if keys else None)
    except ValidationError as exc:
        raise InvalidLogFormat(f"bad json options {options!r}: {exc.errors()[0]['msg']}") from None


def resolve_format(text: str) -> FormatSpec:
    """The FormatSpec for a ``--format`` value: a preset name or alias, ``json:message=msg,...``, or a
    Loghub-style format string (must contain ``<Content>``). Raises InvalidLogFormat, one line."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidLogFormat("empty log format: give a preset name or a string such as '<Level> <Content>'")
    stripped = text.strip()
    low = stripped.lower()
    if low.startswith("json:"):
        return _json_spec(stripped[5:])
    if "<" not in stripped:
        return FormatSpec(preset=get_preset(stripped).name)
    LogFormat.compile(text)  # raises a one-line InvalidLogFormat when malformed
    return FormatSpec(log_format=text)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledFormat:
    """A FormatSpec ready to use: ``match`` a line's header, then ``builder()`` makes LogRecords."""

    spec: FormatSpec
    matcher: LogFormat | JsonFormat
    roles: Roles | None  # None for JSON lines (roles come from json keys)
    timestamp_shapes: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.label

    @property
    def field_names(self) -> tuple[str, ...]:
        """Header field names in format order, without Content (JSON: () since keys vary per line)."""
        return tuple(n for n in self.matcher.fields if n != CONTENT)

    @property
    def specificity(self) -> int:
        return self.matcher.specificity

    def match(self, line: str) -> dict[str, str] | None:
        """Header fields by name with the message under ``"Content"``, or None if ``line`` is no header."""
        return self.matcher.match(line)

    def builder(self, *, service: str | None = None, default_year: int | YearHint = 1970) -> RecordBuilder:
        """A fresh RecordBuilder (one per stream: it keeps that stream's timestamp memo)."""
        json_keys = self.matcher.keys if isinstance(self.matcher, JsonFormat) else None
        return RecordBuilder(
            self.roles,
            json_keys=json_keys,
            timestamp_shapes=self.timestamp_shapes or None,
            service=service,
            default_year=default_year,
        )


@lru_cache(maxsize=128)
def compile_format(spec: FormatSpec) -> CompiledFormat:
    """Compile a FormatSpec (cached). Raises InvalidLogFormat for a malformed format string."""
    if spec.preset is not None:
        preset = PRESETS[spec.preset]
        if preset.json:
            return CompiledFormat(spec, JsonFormat(spec.json_keys or JsonKeys()), None, ())
        matcher = LogFormat.compile(preset.log_format, preset.field_types)
        return CompiledFormat(spec, matcher, preset.roles, preset.timestamp_shapes)
    matcher = LogFormat.compile(spec.log_format or "")
    return CompiledFormat(spec, matcher, Roles.infer(matcher.fields), ())


def format_spec(value: str | FormatSpec) -> FormatSpec:
    """Accept either a FormatSpec or a ``--format`` string."""
    if isinstance(value, FormatSpec):
        return value
    return resolve_format(value)


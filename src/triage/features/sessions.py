"""Session feature views: events grouped by a key, with ordered template sequences and template counts.

A *session* is the ordered list of events that share a key: an HDFS block id, a request or trace id, a
YARN container id, the value of any events column, or a (service, time window). Pure functions over
an events DataFrame (the store's columns, see :mod:`triage.features.windows`), plus a parser for
session files (one session per line, optionally ``ID,`` before space-separated event ids) so that
benchmarks and ``triage bench anomaly`` feed the same models as the store does.

Views (versioned; the tag goes into ``df.attrs["view"]``):

* :data:`SESSIONS` — one row per session: ``session_id, start, end, n_events, n_errors, services,
  sequence`` (``sequence`` is a tuple of template ids in event order, ``services`` the distinct services
  in order of appearance).
* :data:`SESSION_TEMPLATE_COUNTS` — the same sessions as long-format template counts.

An id key may name several sessions on one line (an HDFS line that mentions two blocks belongs to
both, as in loglizer). Events that name no session are counted in ``df.attrs["n_unkeyed"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.errors import InvalidInput
from triage.features.windows import (
    ERROR_LEVELS,
    FeatureViewError,
    ViewSchema,
    as_window,
    error_mask,
    normalise_events,
)

SESSIONS = ViewSchema(
    "sessions",
    1,
    {
        "session_id": "string",
        "start": "datetime",
        "end": "datetime",
        "n_events": "int",
        "n_errors": "int",
        "services": "object",
        "sequence": "object",
    },
    not_null=("session_id",),
)
SESSION_TEMPLATE_COUNTS = ViewSchema(
    "session_template_counts",
    1,
    {"session_id": "string", "template_id": "string", "count": "int"},
    not_null=("session_id", "template_id"),
)


class SessionKey(StrEnum):
    """What groups events into a session."""

    BLOCK_ID = "block_id"
    REQUEST_ID = "request_id"
    TRACE_ID = "trace_id"
    CONTAINER_ID = "container_id"
    COLUMN = "column"  # the value of an events column (host, component, a trace-id column, ...)
    TIME_WINDOW = "time_window"  # (partition columns, window start)


#: Regexes that find a session id in an event's content/params. A pattern with groups yields its first
#: non-empty group, one without groups the whole match. Override per config with ``pattern``.
DEFAULT_ID_PATTERNS: dict[SessionKey, str] = {
    SessionKey.BLOCK_ID: r"blk_-?\d+",
    SessionKey.CONTAINER_ID: r"container_(?:e\d+_)?\d+_\d+_\d+_\d+",
    SessionKey.REQUEST_ID: (
        r"\b(req-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
        r"|(?i:\brequest[-_ ]?id|\breq[-_]?id)[\"']?\s*[=:]\s*[\"']?([A-Za-z0-9][A-Za-z0-9._:-]*)"
    ),
    SessionKey.TRACE_ID: (
        r"\b00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b"
        r"|(?i:\btrace[-_ ]?id)[\"']?\s*[=:]\s*[\"']?([0-9A-Fa-f][0-9A-Fa-f-]{7,})"
    ),
}


class SessionConfig(BaseModel):
    """How to cut events into sessions. Defaults suit HDFS (block ids)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: SessionKey = SessionKey.BLOCK_ID
    pattern: str | None = Field(default=None, description="Regex overriding the key's default id pattern.")
    column: str | None = Field(default=None, description="Events column holding the id (key=column).")
    fields: tuple[str, ...] = Field(
        default=("content", "params"), description="Columns searched by the id pattern, in order."
    )
    window: timedelta = Field(default=timedelta(minutes=5), description="Window length (key=time_window).")
    partition_by: tuple[str, ...] = Field(
        default=("service",), description="Columns that split time windows (key=time_window)."
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from exc
        return value

    @field_validator("window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):  # accept "5min", "1h", "30s" as well as ISO 8601
            try:
                return pd.Timedelta(value).to_pytimedelta()
            except ValueError:
                return value
        return value

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("window must be positive")
        return value

    @model_validator(mode="after")
    def _key_needs(self) -> SessionConfig:
        if self.key is SessionKey.COLUMN and not self.column:
            raise ValueError("key=column needs column=<events column>")
        if self.key in (SessionKey.COLUMN, SessionKey.TIME_WINDOW) and self.pattern is not None:
            raise ValueError(f"key={self.key.value} takes no pattern")
        return self

    @property
    def id_pattern(self) -> re.Pattern[str] | None:
        if self.key in (SessionKey.COLUMN, SessionKey.TIME_WINDOW):
            return None
        return re.compile(self.pattern or DEFAULT_ID_PATTERNS[self.key])

    @property
    def tag(self) -> str:
        """A short description logged with models (key and its parameters)."""
        if self.key is SessionKey.COLUMN:
            return f"column:{self.column}"
        if self.key is SessionKey.TIME_WINDOW:
            return f"time_window:{pd.Timedelta(self.window)}:{'+'.join(self.partition_by)}"
        return self.key.value if self.pattern is None else f"{self.key.value}:{self.pattern}"


# --------------------------------------------------------------------------------------- from events
def _text_of(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(v) for v in value)
    return str(value)


def _ids_in(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Distinct ids in ``text`` in order: whole matches, or each match's first non-empty group."""
    if not text:
        return []
    found = pattern.findall(text)  # C speed; strings when the pattern has 0 or 1 group, tuples when more
    if pattern.groups > 1:
        found = [next((g for g in groups if g), "") for groups in found]
    return [v for v in dict.fromkeys(found) if v]


def session_ids(events: pd.DataFrame, config: SessionConfig) -> pd.Series:
    """Per event, the session id(s) it belongs to, index-aligned with ``events``.

    Id patterns give a list per event (empty: none): the ids found in the first of ``config.fields``
    that has any (params are usually a subset of the content, so they are searched only when the
    content names no session, e.g. because redaction masked it). Column and time-window keys give one
    id per event, or None.
    """
    if config.key is SessionKey.COLUMN:
        if config.column not in events.columns:
            raise FeatureViewError(f"events lack column {config.column} (the session key)")
        values = events[config.column]
        text = values.astype(str)
        return text.where(values.notna() & (text != ""), None).astype(object)
    if config.key is SessionKey.TIME_WINDOW:
        missing = [c for c in ("ts", *config.partition_by) if c not in events.columns]
        if missing:
            raise FeatureViewError(f"events lack column(s) {', '.join(missing)} for time-window sessions")
        start = pd.to_datetime(events["ts"]).dt.floor(as_window(config.window))
        codes, uniques = pd.factorize(start)  # format each window once, not once per event
        labels = np.asarray([ts.isoformat() for ts in uniques] + [""], dtype=object)
        ids = pd.Series(labels[codes], index=events.index, dtype=object)
        for column in reversed(config.partition_by):
            ids = events[column].astype(str).astype(object) + "|" + ids
        return ids.where(start.notna(), None)
    pattern = config.id_pattern
    assert pattern is not None
    fields = [f for f in config.fields if f in events.columns]
    if not fields:
        raise FeatureViewError(f"events lack every column searched for session ids ({', '.join(config.fields)})")
    columns = [events[f].astype(object).to_numpy() for f in fields]
    ids: list[list[str]] = []
    for values in zip(*columns, strict=True):
        found: list[str] = []
        for value in values:
            found = _ids_in(_text_of(value), pattern)
            if found:
                break
        ids.append(found)
    return pd.Series(ids, index=events.index, dtype=object)


def build_sessions(
    events: pd.DataFrame, config: SessionConfig | None = None, *, error_levels: Iterable[str] = ERROR_LEVELS
) -> pd.DataFrame:
    """Group events into sessions: the :data:`SESSIONS` view, ordered by start time then id.

    Events are ordered by ``ts`` (then source and line number) before grouping, so each ``sequence``
    is the session's templates in the order they happened.
    """
    config = config or SessionConfig()
    df = normalise_events(events, need=("template_id",))
    ids = session_ids(df, config)
    keyed = df.assign(session_id=ids).explode("session_id")  # a line naming two blocks joins both
    keyed = keyed[keyed["session_id"].notna()]
    n_unkeyed = len(df) - int(keyed.index.nunique())
    if "ts" not in keyed.columns:
        keyed = keyed.assign(ts=pd.NaT)
    has_level = "level" in keyed.columns
    is_error = error_mask(keyed["level"], error_levels) if has_level else np.zeros(len(keyed), dtype=bool)
    if keyed.empty:
        out = _empty_sessions()
    else:
        # One pass in plain Python for the ordered parts (pandas' per-group aggregation is ~50x slower).
        position: dict[str, int] = {}
        sequences: list[list[str]] = []
        services: list[dict[str, None]] = []
        codes = np.empty(len(keyed), dtype=np.int64)
        rows = zip(keyed["session_id"].to_numpy(object), keyed["template_id"].to_numpy(object),
                   keyed["service"].to_numpy(object), strict=True)
        for row, (sid, template, service) in enumerate(rows):
            i = position.get(sid)
            if i is None:
                i = position[sid] = len(sequences)
                sequences.append([])
                services.append({})
            sequences[i].append(template)
            services[i][service] = None
            codes[row] = i
        times = pd.DataFrame({"code": codes, "ts": keyed["ts"].to_numpy(), "err": is_error})
        grouped = times.groupby("code", sort=True)
        out = pd.DataFrame(
            {
                "session_id": list(position),
                "start": pd.to_datetime(grouped["ts"].min().to_numpy()),
                "end": pd.to_datetime(grouped["ts"].max().to_numpy()),
                "n_events": np.fromiter((len(q) for q in sequences), dtype=np.int64, count=len(sequences)),
                "n_errors": grouped["err"].sum().to_numpy().astype(np.int64),
                "services": [tuple(d) for d in services],
                "sequence": [tuple(q) for q in sequences],
            }
        )
        out = out.sort_values(["start", "session_id"], kind="stable", na_position="last").reset_index(drop=True)
    out = SESSIONS.validate(out[list(SESSIONS.columns)])
    out.attrs.update(key=config.tag, n_unkeyed=n_unkeyed)
    return out


def _empty_sessions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": pd.Series(dtype=object),
            "start": pd.Series(dtype="datetime64[ns]"),
            "end": pd.Series(dtype="datetime64[ns]"),
            "n_events": pd.Series(dtype="int64"),
            "n_errors": pd.Series(dtype="int64"),
            "services": pd.Series(dtype=object),
            "sequence": pd.Series(dtype=object),
        }
    )


def session_template_counts(sessions: pd.DataFrame) -> pd.DataFrame:
    """Long-format template counts of a :data:`SESSIONS` frame: :data:`SESSION_TEMPLATE_COUNTS`."""
    SESSIONS.validate(sessions)
    rows = sessions[["session_id", "sequence"]].explode("sequence").dropna(subset=["sequence"])
    out = rows.groupby(["session_id", "sequence"], sort=True).size().rename("count").reset_index()
    out = out.rename(columns={"sequence": "template_id"})
    out["template_id"] = out["template_id"].astype(str)
    out["count"] = out["count"].astype("int64")
    return SESSION_TEMPLATE_COUNTS.validate(out)


# ------------------------------------------------------------------------------------- session files
_TOKEN = re.compile(r"[^\s,]+")


@dataclass(frozen=True, slots=True)
class SessionFile:
    """Sessions read from a session file: ids (``None`` where a line had none) and event-id sequences."""

    ids: tuple[str | None, ...]
    sequences: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.sequences)


def parse_session_lines(lines: Iterable[str], *, source: str = "<input>") -> SessionFile:
    """Parse session lines: ``[ID,]E1 E2 E3 ...`` (event ids separated by whitespace; blank lines skipped).

    Raises :class:`InvalidInput` naming the line for anything else (a second comma, an ID without events,
    no session at all), so a CSV with a label column is refused rather than half-read.
    """
    ids: list[str | None] = []
    sequences: list[tuple[str, ...]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        session_id: str | None = None
        body = line
        if "," in line:
            head, body = line.split(",", 1)
            session_id = head.strip()
            if not session_id or any(ch.isspace() for ch in session_id):
                raise InvalidInput(f"{source}:{number}: session id before ',' must be one non-empty token")
            if "," in body:
                raise InvalidInput(f"{source}:{number}: more than one ','; expected [ID,]E1 E2 ...")
        tokens = tuple(body.split())
        if not tokens:
            raise InvalidInput(f"{source}:{number}: session {session_id} has no events")
        if not all(_TOKEN.fullmatch(t) for t in tokens):
            raise InvalidInput(f"{source}:{number}: event ids must be tokens without commas")
        ids.append(session_id)
        sequences.append(tokens)
    if not sequences:
        raise InvalidInput(f"{source}: no sessions found")
    return SessionFile(tuple(ids), tuple(sequences))


def sessions_from_sequences(
    sequences: Sequence[Sequence[str]], ids: Sequence[str | None] | None = None
) -> pd.DataFrame:
    """A :data:`SESSIONS` frame for sequences without events (session files): no times, no services."""
    if ids is None:
        ids = [None] * len(sequences)
    if len(ids) != len(sequences):
        raise InvalidInput("sessions_from_sequences: ids and sequences differ in length")
    out = pd.DataFrame(
        {
            "session_id": [sid if sid is not None else f"#{i + 1}" for i, sid in enumerate(ids)],
            "start": pd.Series(pd.NaT, index=range(len(sequences)), dtype="datetime64[ns]"),
            "end": pd.Series(pd.NaT, index=range(len(sequences)), dtype="datetime64[ns]"),
            "n_events": pd.Series([len(s) for s in sequences], dtype="int64"),
            "n_errors": pd.Series(0, index=range(len(sequences)), dtype="int64"),
            "services": [()] * len(sequences),
            "sequence": [tuple(map(str, s)) for s in sequences],
        }
    )
    out = SESSIONS.validate(out)
    out.attrs.update(key="file", n_unkeyed=0)
    return out

"""Replay a recorded incident as its services would have posted it: a time-ordered list of error events.

A case's logs (a Nezha case folder, or a triage incident bundle) become :class:`ReplayEvent` records, one
per log line at the chosen levels (``ERROR`` by default: what services post for diagnosis), ordered by
their original time. Time is compressed by ``speed`` and shifted so the first event happens at ``start``:
an event that was logged ``d`` seconds after the first one is posted ``d / speed`` seconds after
``start``, stamped with that moment. Each event keeps its service, level, message, host (the pod) and
trace id; a leading ``HH:MM:SS.mmm LEVEL`` prefix in the message (the logger's own clock, which would
contradict the shifted time) is removed.

Pure apart from :func:`read_case_logs`, which reads the logs table of a case folder. Posting the events
to a running server is the caller's job (``triage.cli.replay``). Lines without a usable time are not
replayed and are counted in :attr:`ReplayPlan.skipped`, never dropped silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from triage.errors import InvalidInput, NotFound

#: The levels services post for diagnosis unless told otherwise.
DEFAULT_LEVELS: tuple[str, ...] = ("ERROR",)
#: ``POST /v1/diagnose`` accepts messages up to this many characters.
MAX_MESSAGE_CHARS = 8192
_LEVEL_WORDS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRITICAL|FATAL"
_CLOCK_PREFIX = re.compile(rf"^\s*\d{{1,2}}:\d{{2}}:\d{{2}}(?:[.,]\d+)?\s+(?:{_LEVEL_WORDS})\b\s*")
_EARLIEST, _LATEST = 365 * 86400.0, 95_617_584_000.0  # 1971-01-01 .. 5000-01-01, unix seconds
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")  # what POST /v1/diagnose accepts as a service name


class ReplayError(InvalidInput):
    """A case cannot be replayed (no logs, no usable lines, bad parameters)."""


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One error as its service posts it, ``offset`` seconds after the replay starts."""

    offset: float
    timestamp: datetime
    service: str
    level: str
    message: str
    host: str | None = None
    trace_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /v1/diagnose`` (one element of ``/v1/errors:batch``)."""
        body: dict[str, Any] = {
            "service": self.service,
            "timestamp": self.timestamp.isoformat(),
            "level": self.level,
            "message": self.message,
        }
        if self.host:
            body["host"] = self.host
        if self.trace_id:
            body["traceId"] = self.trace_id
        if self.attributes:
            body["attributes"] = dict(self.attributes)
        return body


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """The events of one case, ready to post, and what was left out (reason -> line count)."""

    case_id: str
    events: tuple[ReplayEvent, ...]
    speed: float
    source_seconds: float  # first to last replayed line, on the original clock
    skipped: Mapping[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """How long posting takes at ``speed``."""
        return self.events[-1].offset if self.events else 0.0

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({e.service for e in self.events}))


def plan_replay(
    logs: pd.DataFrame,
    *,
    start: datetime,
    speed: float = 10.0,
    levels: Iterable[str] = DEFAULT_LEVELS,
    case_id: str = "",
    max_events: int | None = None,
) -> ReplayPlan:
    """Turn a logs table (columns ``ts`` in unix seconds, ``service``, ``level``, ``message``; optional
    ``instance``/``host`` and ``trace_id``) into the events its services would post, starting at ``start``.

    ``max_events`` keeps the first N events in time order (a shorter replay of the same story).
    """
    if start.tzinfo is None:
        raise ReplayError("the replay start time needs a timezone")
    if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
        raise ReplayError(f"speed must be a positive number, not {speed!r}")
    if max_events is not None and max_events < 1:
        raise ReplayError("max_events must be at least 1")
    wanted = {lvl.strip().upper() for lvl in levels if lvl and lvl.strip()}
    if not wanted:
        raise ReplayError("name at least one log level to replay")
    missing = [c for c in ("ts", "service", "level", "message") if c not in logs.columns]
    if missing:
        raise ReplayError(f"the logs table lacks column(s) {', '.join(missing)}")

    chosen = logs.reset_index(drop=True)
    level = chosen["level"].fillna("").astype(str).str.strip().str.upper()
    chosen, level = chosen[level.isin(wanted)], level[level.isin(wanted)]
    skipped: dict[str, int] = {}

    def skip(mask: pd.Series, reason: str) -> pd.Series:
        count = int(mask.sum())
        if count:
            skipped[reason] = skipped.get(reason, 0) + count
        return mask

    ts = pd.to_numeric(chosen["ts"], errors="coerce")
    # a unix time before 1971 or past year 5000 is no time a service logged (the Nezha data has a few
    # overflowed stamps); NaN and infinities fail the same test
    bad_time = skip(~ts.between(_EARLIEST, _LATEST), "no usable timestamp")
    service = chosen["service"].fillna("").astype(str).str.strip()
    bad_service = skip(~bad_time & ~(service.str.match(_SERVICE) & (service.str.len() <= 128)), "no usable service name")
    message = chosen["message"].fillna("").astype(str).map(_strip_clock)
    empty = skip(~bad_time & ~bad_service & (message == ""), "empty message")
    keep = (~bad_time & ~bad_service & ~empty).to_numpy()

    host_column = "instance" if "instance" in chosen.columns else "host" if "host" in chosen.columns else None
    frame = pd.DataFrame({
        "ts": ts[keep].astype(float),
        "service": service[keep],
        "level": level[keep],
        "message": message[keep],
        "host": _optional_text(chosen[host_column])[keep] if host_column else None,
        "trace_id": _optional_text(chosen["trace_id"])[keep] if "trace_id" in chosen.columns else None,
    })
    frame = frame.sort_values("ts", kind="stable")
    if max_events is not None and len(frame) > max_events:
        skipped["beyond max_events"] = len(frame) - max_events
        frame = frame.iloc[:max_events]
    if frame.empty:
        raise ReplayError(f"no {'/'.join(sorted(wanted))} lines with a usable time to replay"
                          + (f" ({_reasons(skipped)})" if skipped else ""))  # fmt: skip

    first = float(frame["ts"].iloc[0])
    attributes = {"replayOf": case_id} if case_id else {}
    events = []
    for row in frame.itertuples(index=False):
        offset = (float(row.ts) - first) / speed
        events.append(ReplayEvent(
            offset=offset,
            timestamp=start + timedelta(seconds=offset),
            service=row.service,
            level=row.level,
            message=row.message[:MAX_MESSAGE_CHARS],
            host=row.host or None,
            trace_id=row.trace_id or None,
            attributes=attributes,
        ))  # fmt: skip
    return ReplayPlan(case_id=case_id, events=tuple(events), speed=float(speed),
                      source_seconds=float(frame["ts"].iloc[-1]) - first, skipped=skipped)  # fmt: skip


def read_case_logs(folder: Path) -> pd.DataFrame:
    """The logs of a case folder as (ts, service, instance, level, message, trace_id).

    Reads a Nezha-style ``logs.csv[.gz]`` (``unix_nano``) or the logs table of a triage incident bundle;
    nothing else of the case (metrics, traces, labels) is needed to replay it.
    """
    from triage.rca.bundle_io import is_bundle_dir, load_bundle
    from triage.rca.importers._files import find_table, read_csv

    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"{folder}: no such case directory")
    if is_bundle_dir(folder):
        logs = load_bundle(folder).logs
        if logs is None or logs.empty:
            raise ReplayError(f"{folder}: the bundle holds no logs to replay")
        return logs
    path = find_table(folder, "logs")
    if path is None:
        raise ReplayError(f"{folder}: no logs.csv or logs.csv.gz to replay")
    raw = read_csv(path)
    if "unix_nano" in raw.columns:
        ts = pd.to_numeric(raw["unix_nano"], errors="coerce") / 1e9
    elif "ts" in raw.columns:
        ts = pd.to_numeric(raw["ts"], errors="coerce")
    else:
        raise ReplayError(f"{path}: expected a unix_nano or ts column")
    missing = [c for c in ("service", "message") if c not in raw.columns]
    if missing:
        raise ReplayError(f"{path}: missing column(s) {', '.join(missing)}")
    return pd.DataFrame({
        "ts": ts,
        "service": raw["service"],
        "instance": raw["pod"] if "pod" in raw.columns else None,
        "level": raw["level"] if "level" in raw.columns else "ERROR",
        "message": raw["message"],
        "trace_id": raw["trace_id"] if "trace_id" in raw.columns else None,
    })  # fmt: skip


def case_facts(folder: Path) -> dict[str, Any]:
    """What the case's ``label.json`` records (system, injection time, and the dataset's answer when the
    label carries it), for telling the user afterwards; the replay itself never reads it."""
    path = Path(folder) / "label.json"
    try:
        label = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(label, dict):
        return {}
    keys = ("system", "inject_time_utc", "root_cause_service", "fault_type")
    return {k: label[k] for k in keys if isinstance(label.get(k), str | int | float)}


def load_replay(
    folder: Path,
    *,
    start: datetime,
    speed: float = 10.0,
    levels: Iterable[str] = DEFAULT_LEVELS,
    max_events: int | None = None,
) -> ReplayPlan:
    """:func:`read_case_logs` + :func:`plan_replay`, with the folder's name as the case id."""
    folder = Path(folder)
    return plan_replay(read_case_logs(folder), start=start, speed=speed, levels=levels, case_id=folder.name,
                       max_events=max_events)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IncidentSeen:
    """One incident as the replay's diagnoses described it (the latest diagnosis wins)."""

    incident_id: str
    diagnoses: int
    severity: str
    category: str
    root_cause_service: str | None
    root_cause_issue: str | None
    confidence: float | None
    affected_services: tuple[str, ...]


def incidents_seen(diagnoses: Sequence[Mapping[str, Any]]) -> list[IncidentSeen]:
    """Group the diagnoses the server returned by incident (largest first). Diagnoses without an incident
    (low severity, nobody paged) are not counted."""
    by_incident: dict[str, list[Mapping[str, Any]]] = {}
    for diagnosis in diagnoses:
        incident = diagnosis.get("incidentId")
        if incident:
            by_incident.setdefault(str(incident), []).append(diagnosis)
    out = []
    for incident, items in by_incident.items():
        last = items[-1]
        root = last.get("rootCause") or {}
        ranks = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}
        severity = max((str(d.get("severity", "")) for d in items), key=lambda s: ranks.get(s, -1))
        out.append(IncidentSeen(
            incident_id=incident, diagnoses=len(items), severity=severity, category=str(last.get("category", "")),
            root_cause_service=root.get("service"), root_cause_issue=root.get("issue"),
            confidence=root.get("confidence"), affected_services=tuple(last.get("affectedServices") or ()),
        ))  # fmt: skip
    return sorted(out, key=lambda i: -i.diagnoses)


def _strip_clock(message: str) -> str:
    return _CLOCK_PREFIX.sub("", message, count=1).strip()


def _optional_text(column: pd.Series) -> pd.Series:
    text = column.astype(object).where(column.notna(), "")
    return text.astype(str).str.strip().replace({"nan": "", "None": ""})


def _reasons(skipped: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items())

"""Which snapshots to keep: the newest few, one per hour for a day, one per day for a month. Pure.

Each rule keeps the newest snapshot of every bucket (UTC hour, day, ISO week, month) that starts within
its window before ``now``; a snapshot is kept if any rule keeps it, and the reasons are reported. Snapshots
are self-contained (each manifest lists all its chunks), so dropping any of them never breaks another.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field


class RetentionPolicy(BaseModel):
    """How many of the newest snapshots, and how many hours/days/weeks/months back one per bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep_last: int = Field(default=3, ge=1, description="Always keep this many newest snapshots.")
    hourly: int = Field(default=24, ge=0, description="One per hour for this many hours.")
    daily: int = Field(default=30, ge=0, description="One per day for this many days.")
    weekly: int = Field(default=0, ge=0, description="One per ISO week for this many weeks.")
    monthly: int = Field(default=0, ge=0, description="One per month for this many months.")


@dataclass(frozen=True, slots=True)
class SnapshotStamp:
    id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    keep: dict[str, tuple[str, ...]]  # id -> reasons
    drop: tuple[str, ...]


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _week(t: datetime) -> datetime:
    return _day(t) - timedelta(days=t.weekday())


def _month(t: datetime) -> datetime:
    return _day(t).replace(day=1)


def _months_back(now: datetime, months: int) -> datetime:
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    return _month(now).replace(year=year, month=month + 1)


def select(snapshots: Sequence[SnapshotStamp], policy: RetentionPolicy, now: datetime) -> RetentionDecision:
    newest_first = sorted(snapshots, key=lambda s: (s.created_at, s.id), reverse=True)
    reasons: dict[str, list[str]] = {s.id: [] for s in newest_first}
    for snap in newest_first[: policy.keep_last]:
        reasons[snap.id].append("last")
    rules: list[tuple[str, int, Callable[[datetime], datetime], datetime]] = [
        ("hourly", policy.hourly, _hour, _hour(now) - timedelta(hours=policy.hourly - 1)),
        ("daily", policy.daily, _day, _day(now) - timedelta(days=policy.daily - 1)),
        ("weekly", policy.weekly, _week, _week(now) - timedelta(weeks=policy.weekly - 1)),
        ("monthly", policy.monthly, _month, _months_back(now, policy.monthly - 1)),
    ]
    for name, count, bucket_of, oldest_bucket in rules:
        if count <= 0:
            continue
        seen: set[datetime] = set()
        for snap in newest_first:
            bucket = bucket_of(snap.created_at)
            if bucket < oldest_bucket:
                break
            if bucket not in seen:
                seen.add(bucket)
                reasons[snap.id].append(name)
    keep = {i: tuple(r) for i, r in reasons.items() if r}
    drop = tuple(s.id for s in reversed(newest_first) if s.id not in keep)
    return RetentionDecision(keep, drop)

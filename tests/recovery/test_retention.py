from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage.recovery.retention import RetentionPolicy, SnapshotStamp, select

NOW = datetime(2026, 5, 27, 12, 30, tzinfo=UTC)


def stamps(times: list[datetime]) -> list[SnapshotStamp]:
    return [SnapshotStamp(f"s{i:03d}", t) for i, t in enumerate(times)]


def test_hourly_for_a_day_then_daily_for_a_month() -> None:
    # one snapshot every 30 minutes for 40 days
    times = [NOW - timedelta(minutes=30 * i) for i in range(40 * 48)]
    decision = select(stamps(times), RetentionPolicy(keep_last=1, hourly=24, daily=30), NOW)
    kept_times = sorted(t.created_at for t in stamps(times) if t.id in decision.keep)
    recent = [t for t in kept_times if t > NOW - timedelta(hours=24)]
    assert len(recent) == 24  # the newest of each of the last 24 hours
    assert len({t.date() for t in kept_times}) == 30  # one per day, 30 days
    assert min(kept_times).date() == (NOW - timedelta(days=29)).date()
    assert len(decision.keep) + len(decision.drop) == len(times)
    assert set(decision.keep).isdisjoint(decision.drop)


def test_keep_last_and_newest_per_bucket() -> None:
    times = [NOW - timedelta(minutes=m) for m in (1, 10, 20, 70, 75)]
    decision = select(stamps(times), RetentionPolicy(keep_last=1, hourly=2, daily=0), NOW)
    # hour 12:00 → s000 (newest, also "last"); hour 11:00 → s003 (11:20), s004 (11:15) dropped
    assert set(decision.keep) == {"s000", "s003"}
    assert decision.keep["s000"] == ("last", "hourly")
    assert decision.drop == ("s004", "s002", "s001")


def test_old_snapshots_beyond_every_window_go_but_keep_last_stays() -> None:
    times = [NOW - timedelta(days=400), NOW - timedelta(days=300)]
    decision = select(stamps(times), RetentionPolicy(keep_last=1, hourly=24, daily=30, monthly=6), NOW)
    assert set(decision.keep) == {"s001"}
    assert decision.drop == ("s000",)


def test_weekly_and_monthly_buckets() -> None:
    times = [NOW - timedelta(days=d) for d in range(0, 120, 3)]
    decision = select(
        stamps(times), RetentionPolicy(keep_last=1, hourly=0, daily=0, weekly=4, monthly=3), NOW
    )
    weekly = [i for i, r in decision.keep.items() if "weekly" in r]
    monthly = [i for i, r in decision.keep.items() if "monthly" in r]
    assert len(weekly) == 4
    assert len(monthly) == 3

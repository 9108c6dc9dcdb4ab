"""Turning a recorded incident's logs into the error events its services would post (pure), on the
bundled Nezha TrainTicket case and on small tables whose answers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from triage.diagnosis.schemas import ErrorEvent
from triage.errors import NotFound
from triage.rca.replay import (
    ReplayError,
    case_facts,
    incidents_seen,
    load_replay,
    plan_replay,
    read_case_logs,
)
from triage.settings import CHECKOUT_DIR

CASE = CHECKOUT_DIR / "data" / "samples" / "incidents" / "tt-20230129-0912-ts-basic-service-return"
START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def logs(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "service", "instance", "level", "message", "trace_id"])


def test_the_bundled_case_is_there_with_its_licence_and_attribution() -> None:
    readme = (CASE.parent / "README.md").read_text()
    assert "IntelligentDDS/Nezha" in readme and "MIT" in readme and "ESEC/FSE 2023" in readme
    assert "Copyright (c) 2023 IntelligentDDS" in (CASE.parent / "LICENSE").read_text()
    assert sum(p.stat().st_size for p in CASE.iterdir()) < 500_000


def test_the_bundled_case_replays_every_error_line_in_time_order() -> None:
    plan = load_replay(CASE, start=START, speed=10)
    raw = pd.read_csv(CASE / "logs.csv.gz")
    errors = raw[raw["level"] == "ERROR"]
    assert len(plan.events) == len(errors) == 116 and dict(plan.skipped) == {}
    assert plan.case_id == CASE.name
    assert set(plan.services) == set(errors["service"])
    offsets = [e.offset for e in plan.events]
    assert offsets == sorted(offsets) and offsets[0] == 0.0
    span = (errors["unix_nano"].max() - errors["unix_nano"].min()) / 1e9
    assert plan.source_seconds == pytest.approx(span, abs=1e-3)
    assert plan.seconds == pytest.approx(span / 10, abs=1e-3)
    first = errors.loc[errors["unix_nano"].idxmin()]
    assert (plan.events[0].service, plan.events[0].host, plan.events[0].trace_id) == (
        first["service"], first["pod"], first["trace_id"])
    # the logger's own clock (UTC+8 in this dataset) and level are not part of the posted message
    assert first["message"].startswith(("17:", "16:")) and first["message"].endswith(plan.events[0].message)
    assert not plan.events[0].message[:1].isdigit()
    # every event is a valid POST /v1/diagnose body, stamped at its posting moment
    for event in plan.events:
        body = ErrorEvent.model_validate(event.payload())
        assert body.timestamp == START + timedelta(seconds=event.offset)
        assert body.attributes == {"replayOf": CASE.name}


def test_speed_compresses_time_and_max_events_keeps_the_first_ones() -> None:
    table = logs(
        (1_700_000_100.0, "b", "b-1", "ERROR", "later", "t2"),
        (1_700_000_000.0, "a", "a-1", "ERROR", "first", None),
        (1_700_000_300.0, "c", None, "error", "last", ""),
    )
    plan = plan_replay(table, start=START, speed=100)
    assert [(e.service, e.offset) for e in plan.events] == [("a", 0.0), ("b", 1.0), ("c", 3.0)]
    assert [e.timestamp for e in plan.events] == [START, START + timedelta(seconds=1), START + timedelta(seconds=3)]
    assert plan.events[0].trace_id is None and plan.events[1].trace_id == "t2" and plan.events[2].trace_id is None
    assert plan.events[2].host is None and plan.events[2].level == "ERROR"
    assert "traceId" not in plan.events[0].payload() and plan.events[1].payload()["traceId"] == "t2"
    short = plan_replay(table, start=START, speed=1, max_events=2)
    assert [e.message for e in short.events] == ["first", "later"]
    assert short.skipped == {"beyond max_events": 1}


def test_levels_choose_the_lines_and_unusable_lines_are_counted_not_hidden() -> None:
    table = logs(
        (1_700_000_000.0, "api", "p", "ERROR", "12:00:01.5 ERROR  c.Foo#1 boom", "x"),
        (1_700_000_001.0, "api", "p", "WARN", "slow", "y"),
        (1_700_000_002.0, "api", "p", "INFO", "fine", "z"),
        (-6_795_364_578.0, "api", "p", "ERROR", "overflowed stamp", "w"),  # as in two Nezha cases
        (float("nan"), "api", "p", "ERROR", "no stamp", "v"),
        (1_700_000_003.0, "bad service!", "p", "ERROR", "x", "u"),
        (1_700_000_004.0, "api", "p", "ERROR", "   ", "t"),
    )
    plan = plan_replay(table, start=START)
    assert [e.message for e in plan.events] == ["c.Foo#1 boom"]
    assert plan.skipped == {"no usable timestamp": 2, "no usable service name": 1, "empty message": 1}
    both = plan_replay(table, start=START, levels=["warn", "Error"])
    assert [e.message for e in both.events] == ["c.Foo#1 boom", "slow"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"speed": 0}, "speed must be a positive number"),
        ({"speed": float("inf")}, "speed must be a positive number"),
        ({"levels": []}, "at least one log level"),
        ({"max_events": 0}, "max_events"),
        ({"levels": ["DEBUG"]}, "no DEBUG lines"),
        ({"start": datetime(2026, 1, 1)}, "timezone"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs: dict, message: str) -> None:
    table = logs((1_700_000_000.0, "a", "a-1", "ERROR", "x", None))
    with pytest.raises(ReplayError, match=message):
        plan_replay(table, **{"start": START, **kwargs})


def test_case_folders_without_replayable_logs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_case_logs(tmp_path / "missing")
    with pytest.raises(ReplayError, match=r"no logs\.csv"):
        read_case_logs(tmp_path)
    (tmp_path / "logs.csv").write_text("when,service,message\n1,a,b\n")
    with pytest.raises(ReplayError, match="unix_nano or ts"):
        read_case_logs(tmp_path)
    (tmp_path / "logs.csv").write_text("ts,service,level,message\n1700000000,a,INFO,b\n")
    with pytest.raises(ReplayError, match="no ERROR lines"):
        load_replay(tmp_path, start=START)


def test_case_facts_report_the_label_and_incidents_are_summarised_from_diagnoses() -> None:
    facts = case_facts(CASE)
    assert facts["system"] == "trainticket" and facts["root_cause_service"] == "ts-basic-service"
    diagnoses = [
        {"incidentId": "INC-1", "severity": "MEDIUM", "category": "NETWORK",
         "rootCause": {"service": "a", "issue": "x", "confidence": 0.4}, "affectedServices": ["a"]},
        {"incidentId": None, "severity": "LOW", "category": "UNKNOWN", "rootCause": {"service": "z"}},
        {"incidentId": "INC-2", "severity": "HIGH", "category": "TIMEOUT", "rootCause": {"service": "c"}},
        {"incidentId": "INC-1", "severity": "HIGH", "category": "NETWORK",
         "rootCause": {"service": "b", "issue": "y", "confidence": 0.8}, "affectedServices": ["b", "a"]},
    ]
    first, second = incidents_seen(diagnoses)
    assert (first.incident_id, first.diagnoses, first.severity, first.root_cause_service) == ("INC-1", 2, "HIGH", "b")
    assert first.affected_services == ("b", "a") and first.confidence == 0.8
    assert (second.incident_id, second.diagnoses) == ("INC-2", 1)

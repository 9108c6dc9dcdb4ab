"""Every preset against a real (Loghub) or realistic (handwritten) slice; ``--format`` resolution."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
from pydantic import ValidationError

from triage.ingest import (
    PRESETS,
    FormatSpec,
    InvalidLogFormat,
    JsonKeys,
    LogRecord,
    compile_format,
    get_preset,
    read_log,
    resolve_format,
)

from ._support import HANDWRITTEN, HANDWRITTEN_PRESETS, LOGHUB, LOGHUB_SYSTEMS


def records(path, fmt, **kw) -> list[LogRecord]:
    items = list(read_log(path, fmt, default_year=2019, **kw))
    assert all(isinstance(i, LogRecord) for i in items), [i for i in items if not isinstance(i, LogRecord)]
    return items  # type: ignore[return-value]


def test_every_preset_has_a_fixture() -> None:
    covered = set(LOGHUB_SYSTEMS.values()) | set(HANDWRITTEN_PRESETS.values()) | {"plain"}
    assert covered == set(PRESETS)


@pytest.mark.parametrize("system", sorted(LOGHUB_SYSTEMS))
def test_loghub_presets_extract_the_same_fields_as_loghub(system: str) -> None:
    """Oracle: Loghub's own structured CSV for the same lines (header fields and Content)."""
    with open(LOGHUB / f"{system}_100.log_structured.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    got = records(LOGHUB / f"{system}_100.log", LOGHUB_SYSTEMS[system])
    assert len(got) == len(rows) == 100
    for position, (record, row) in enumerate(zip(got, rows, strict=True)):
        expected = {k: v for k, v in row.items() if k not in ("LineId", "Content")}
        assert record.line_no == position + 1
        assert dict(record.fields) == expected
        assert record.content == row["Content"]
        assert record.timestamp is not None


# (fixture, line index, expected normalised parts, expected raw fields subset)
HANDWRITTEN_EXPECTATIONS = [
    ("rfc3164.log", 0, dict(timestamp=datetime(2019, 11, 27, 6, 25, 1), level=None, component="CRON", host="web-01"),
     {"Tag": "CRON", "Pid": "23811"}),
    ("rfc3164.log", 3, dict(component="kernel", host="web-01"), {"Pid": ""}),
    ("rfc3164.log", 10, dict(timestamp=datetime(2019, 12, 1, 0, 0, 3), component="rsyslogd"), {"Day": "1"}),
    ("rfc3164_pri.log", 0, dict(level="FATAL", component="su", host="mymachine"), {"Pri": "34"}),
    ("rfc3164_pri.log", 4, dict(level="ERROR", component="billing-worker"), {"Pid": "9001"}),
    ("rfc5424.log", 1, dict(timestamp=datetime(2003, 8, 24, 12, 14, 15, 3), level="INFO", component="myproc",
                            host="192.0.2.1", service="myproc"), {"ProcId": "8710", "MsgId": "-"}),
    ("rfc5424.log", 2, dict(content="An application event log entry..."),
     {"StructuredData": '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'}),
    ("rfc5424.log", 3, dict(content=""), {"MsgId": "ID47"}),
    ("syslog_iso.log", 2, dict(timestamp=datetime(2024, 11, 27, 6, 25, 15, 402001), component="kernel"), {}),
    ("app.jsonl", 0, dict(level="INFO", component="app.http", host="api-2", service="scheduling-api",
                          content="GET /v1/appointments 200 in 35ms"), {"request_id": "r-0001"}),
    ("app.jsonl", 2, dict(timestamp=datetime(2024, 11, 27, 5, 30, 1, 1000), level="ERROR", host="db-1",
                          service="billing"), {"event.duration": "1200000000"}),
    ("app.jsonl", 3, dict(timestamp=datetime(2024, 11, 27, 6, 30, 2, 123000), level="ERROR", component="notify",
                          host="worker-3", content="upstream timeout"), {"ok": "false"}),
    ("app.jsonl", 4, dict(level="DEBUG", component="cache", content="cache miss"), {"ts": "1732689003.5"}),
    ("log4j.log", 2, dict(level="ERROR", component="com.example.scheduling.db.Pool", n_lines=8), {"Thread": "http-nio-8080-exec-3"}),
    ("logback.log", 0, dict(timestamp=None, level="INFO", component="c.e.notify.NotifyApplication"), {"Date": ""}),
    ("logback.log", 2, dict(timestamp=datetime(2024, 11, 27, 6, 32, 2, 3000), level="ERROR"), {}),
    ("spring_boot.log", 0, dict(level="INFO", component="c.e.ehr.EhrGatewayApplication"), {"Thread": "main", "Pid": "4242"}),
    ("spring_boot.log", 2, dict(timestamp=datetime(2024, 11, 27, 5, 33, 9, 789000), level="ERROR",
                                service="ehr-gateway"), {"Thread": "nio-8080-exec-7"}),
    ("python.log", 1, dict(level="ERROR", component="triage.worker", n_lines=7), {}),
    ("python_basic.log", 3, dict(level="FATAL", component="root", content="out of disk space"), {}),
    ("klog.log", 1, dict(timestamp=datetime(2019, 11, 27, 6, 50, 1, 1), level="WARN", component="reflector.go"),
     {"Line": "324"}),
    ("nginx_error.log", 0, dict(level="ERROR", timestamp=datetime(2024, 11, 27, 6, 55)), {"Pid": "1501", "Tid": "1501"}),
    ("thunderbird.log", 0, dict(timestamp=datetime(2005, 11, 9, 12, 1, 1), host="dn228", component="crond(pam_unix)"),
     {"Location": "dn228/dn228", "PID": "2915"}),
    ("thunderbird.log", 4, dict(component="kernel"), {"Label": "-", "PID": ""}),
    ("windows.log", 3, dict(level="WARN", component="CBS"), {"Level": "Warning"}),
    ("mac.log", 3, dict(component="Google Chrome Helper", host="calvisitor-10-105-160-95"), {"PID": "24385"}),
    ("mac.log", 5, dict(component="corecaptured"), {"Address": "CCFile::captureLog"}),
    ("android.log", 4, dict(timestamp=datetime(2019, 3, 17, 16, 13, 40, 1000), level="ERROR",
                            component="ActivityManager"), {"Tid": "1820"}),
    ("healthapp.log", 2, dict(timestamp=datetime(2017, 12, 23, 22, 15, 29, 633000), component="Step_StandReportReceiver"),
     {"Pid": "30002312"}),
    ("apache.log", 1, dict(level="ERROR", timestamp=datetime(2005, 12, 4, 4, 47, 44)), {}),
    ("apache.log", 4, dict(level="ERROR", timestamp=datetime(2000, 10, 11, 14, 32, 52, 123456)), {"Level": "core:error"}),
    ("openstack.log", 3, dict(level="WARN", component="nova.compute.manager"), {"ADDR": "-", "Pid": "2931"}),
    ("proxifier.log", 3, dict(component="Google Chrome Helper", timestamp=datetime(2019, 10, 30, 16, 50, 11)), {}),
]


@pytest.mark.parametrize(("fixture", "index", "parts", "raw"), HANDWRITTEN_EXPECTATIONS)
def test_handwritten_presets(fixture: str, index: int, parts: dict, raw: dict) -> None:
    got = records(HANDWRITTEN / fixture, HANDWRITTEN_PRESETS[fixture])
    record = got[index]
    for name, value in parts.items():
        assert getattr(record, name) == value, name
    for name, value in raw.items():
        assert record.fields[name] == value, name


@pytest.mark.parametrize("fixture", sorted(HANDWRITTEN_PRESETS))
def test_handwritten_fixtures_parse_without_quarantine(fixture: str) -> None:
    got = records(HANDWRITTEN / fixture, HANDWRITTEN_PRESETS[fixture])
    physical = (HANDWRITTEN / fixture).read_bytes().count(b"\n")
    assert sum(r.n_lines for r in got) == physical
    assert all("Content" not in r.fields for r in got)


def test_service_given_by_the_caller_wins() -> None:
    got = records(HANDWRITTEN / "app.jsonl", "json", service="front-desk")
    assert {r.service for r in got} == {"front-desk"}


class TestResolveFormat:
    @pytest.mark.parametrize(("text", "preset"), [
        ("hdfs", "hdfs"), ("HDFS", "hdfs"), (" OpenSSH ", "openssh"), ("syslog", "rfc3164"), ("ndjson", "json"),
        ("plain", "plain"), ("spring-boot", "spring-boot"),
    ])
    def test_preset_names_and_aliases(self, text: str, preset: str) -> None:
        assert resolve_format(text) == FormatSpec(preset=preset)

    def test_format_strings(self) -> None:
        spec = resolve_format(r"<Date> <Time> \[<Level>\] <Content>")
        assert spec.log_format == r"<Date> <Time> \[<Level>\] <Content>" and spec.preset is None
        assert spec.label == spec.log_format
        fmt = compile_format(spec)
        assert fmt.field_names == ("Date", "Time", "Level")
        line = "2024-11-27 06:30:00 [warning] disk almost full"
        record = compile_format(spec).builder().build(
            {k: v for k, v in fmt.match(line).items() if k != "Content"}, "disk almost full", source="s", line_no=1)
        assert record.level == "WARN" and record.timestamp == datetime(2024, 11, 27, 6, 30)

    def test_json_options(self) -> None:
        spec = resolve_format("json:message=body|text, level=sev")
        assert spec.preset == "json"
        assert spec.json_keys == JsonKeys(message=("body", "text"), level=("sev",))
        assert resolve_format("json:") == FormatSpec(preset="json")

    @pytest.mark.parametrize(("text", "why"), [
        ("nosuchformat", "unknown log format 'nosuchformat': use one of hdfs, hadoop"),
        ("", "empty log format"),
        ("json:colour=x", "bad json option"),
        ("json:message", "bad json option"),
        ("json:message=", "bad json option"),
        ("<Date> <Level>", "no <Content>"),
        ("<Date> (<Content>", "invalid regex fragment"),
    ])
    def test_errors_are_one_line(self, text: str, why: str) -> None:
        with pytest.raises(InvalidLogFormat) as info:
            resolve_format(text)
        assert why in str(info.value) and "\n" not in str(info.value)

    def test_get_preset(self) -> None:
        assert get_preset("Syslog").name == "rfc3164"
        with pytest.raises(InvalidLogFormat):
            get_preset("nope")


class TestFormatSpec:
    def test_exactly_one_of_preset_or_format(self) -> None:
        for kwargs in ({}, {"preset": "hdfs", "log_format": "<Content>"}, {"preset": "nope"},
                       {"preset": "hdfs", "json_keys": JsonKeys()}, {"preset": "hdfs", "colour": 1}):
            with pytest.raises(ValidationError):
                FormatSpec(**kwargs)

    def test_round_trips_through_json_and_is_hashable(self) -> None:
        spec = FormatSpec(preset="json", json_keys=JsonKeys(message=("body",)))
        again = FormatSpec.model_validate_json(spec.model_dump_json())
        assert again == spec and hash(again) == hash(spec)
        assert compile_format(again) is compile_format(spec)

    def test_frozen(self) -> None:
        spec = FormatSpec(preset="hdfs")
        with pytest.raises(ValidationError):
            spec.preset = "bgl"  # type: ignore[misc]

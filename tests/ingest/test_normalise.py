"""Levels, timestamps and roles: best effort, never fatal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triage.ingest.normalise import (
    GENERIC_SHAPES,
    SHAPES,
    RecordBuilder,
    Roles,
    TimestampParser,
    YearHint,
    level_from_priority,
    normalise_level,
    to_micros,
)


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("INFO", "INFO"), ("info", "INFO"), ("Information", "INFO"), ("notice", "INFO"), (" [INFO] ", "INFO"),
        ("WARN", "WARN"), ("WARNING", "WARN"), ("Warning", "WARN"), ("W", "WARN"),
        ("ERROR", "ERROR"), ("err", "ERROR"), ("SEVERE", "ERROR"), ("FAILURE", "ERROR"), ("E", "ERROR"),
        ("FATAL", "FATAL"), ("CRITICAL", "FATAL"), ("crit", "FATAL"), ("emerg", "FATAL"), ("alert", "FATAL"),
        ("DEBUG", "DEBUG"), ("D", "DEBUG"), ("FINE", "DEBUG"), ("TRACE", "TRACE"), ("V", "TRACE"),
        ("core:error", "ERROR"),  # Apache 2.4 module:level
        ("3", "ERROR"), ("4", "WARN"), ("6", "INFO"), ("7", "DEBUG"), ("0", "FATAL"),  # syslog severities
        ("30", "INFO"), ("50", "ERROR"), ("60", "FATAL"),  # bunyan / pino
        ("combo", None), ("", None), (None, None), ("8", None), ("35", None),
    ],
)
def test_normalise_level(raw: str | None, level: str | None) -> None:
    assert normalise_level(raw) == level


def test_level_from_syslog_priority() -> None:
    assert level_from_priority("34") == "FATAL"  # auth.crit (4 * 8 + 2)
    assert level_from_priority("165") == "INFO"  # local4.notice
    assert level_from_priority("11") == "ERROR"
    assert level_from_priority("") is None and level_from_priority("x") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-10-18 18:01:47,978", datetime(2015, 10, 18, 18, 1, 47, 978000)),
        ("2024-11-27T06:30:00.123Z", datetime(2024, 11, 27, 6, 30, 0, 123000)),
        ("2024-11-27T06:30:01.001+01:00", datetime(2024, 11, 27, 5, 30, 1, 1000)),  # to UTC
        ("2003-08-24T05:14:15.000003-07:00", datetime(2003, 8, 24, 12, 14, 15, 3)),
        ("2024-11-27T06:30:00.123456789", datetime(2024, 11, 27, 6, 30, 0, 123456)),
        ("2024/11/27 06:55:00", datetime(2024, 11, 27, 6, 55)),
        ("2005.11.09 12:01:01", datetime(2005, 11, 9, 12, 1, 1)),
        ("2005-06-03-15.42.50.675872", datetime(2005, 6, 3, 15, 42, 50, 675872)),  # BGL
        ("20171223-22:15:29:606", datetime(2017, 12, 23, 22, 15, 29, 606000)),  # HealthApp
        ("20171224-0:0:0:3", datetime(2017, 12, 24, 0, 0, 0, 300000)),
        ("Jun 14 15:16:01", datetime(2019, 6, 14, 15, 16, 1)),  # syslog: year-less
        ("Jul  1 09:00:55", datetime(2019, 7, 1, 9, 0, 55)),
        ("Sun Dec 04 04:47:44 2005", datetime(2005, 12, 4, 4, 47, 44)),  # ctime / Apache
        ("27/Nov/2024:06:30:00 +0000", datetime(2024, 11, 27, 6, 30)),  # CLF
        ("Wed, 27 Nov 2024 06:30:00 GMT", datetime(2024, 11, 27, 6, 30)),
        ("1117838570", datetime(2005, 6, 3, 22, 42, 50)),  # epoch seconds (BGL, HPC): UTC
        ("1732689002123", datetime(2024, 11, 27, 6, 30, 2, 123000)),  # epoch ms
        ("1732689003.5", datetime(2024, 11, 27, 6, 30, 3, 500000)),
        ("2024-11-27", datetime(2024, 11, 27)),
        ("03-17 16:13:38.811", datetime(2019, 3, 17, 16, 13, 38, 811000)),  # Android: year-less
        ("10.30 16:49:06", datetime(2019, 10, 30, 16, 49, 6)),  # Proxifier
        ("1127 06:50:00.123456", datetime(2019, 11, 27, 6, 50, 0, 123456)),  # klog
    ],
)
def test_generic_timestamp_shapes(text: str, expected: datetime) -> None:
    assert TimestampParser(default_year=2019).parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "not a time", "2024-02-30 10:00:00", "Foo 14 15:16:01", "25:61:61", "2024-13-01T00:00:00", "12345"]
)
def test_unparseable_timestamps_are_none(text: str) -> None:
    assert TimestampParser().parse(text) is None


def test_year_less_stamps_take_the_latest_year_that_keeps_them_before_the_hint() -> None:
    hint = YearHint.written_at(datetime(2026, 1, 1, 0, 5, tzinfo=UTC).timestamp())  # written just after New Year
    parser = TimestampParser(default_year=hint)
    assert [parser.parse(t) for t in ["Dec 31 23:59:01", "Jan  1 00:00:02", "Jan  2 00:00:00", "Jan  3 00:00:00"]] == [
        datetime(2025, 12, 31, 23, 59, 1), datetime(2026, 1, 1, 0, 0, 2), datetime(2026, 1, 2), datetime(2025, 1, 3)]
    # stamps that carry a year keep it, whatever the hint
    assert parser.parse("2027-06-01 00:00:00") == datetime(2027, 6, 1)
    assert TimestampParser(default_year=YearHint(2025, (1, 5))).parse("Feb 29 12:00:00") == datetime(2024, 2, 29, 12)
    assert TimestampParser(default_year=YearHint(2019)).parse("Dec 31 23:00:00") == datetime(2019, 12, 31, 23)


def test_two_digit_years_only_when_a_format_asks() -> None:
    assert TimestampParser().parse("081109 203615") is None
    assert TimestampParser(["yymmdd"]).parse("081109 203615") == datetime(2008, 11, 9, 20, 36, 15)
    assert TimestampParser(["yy_mm_dd"]).parse("17/06/09 20:10:40") == datetime(2017, 6, 9, 20, 10, 40)
    assert TimestampParser(["yy_mm_dd"]).parse("99/06/09 20:10:40") == datetime(1999, 6, 9, 20, 10, 40)
    with pytest.raises(ValueError, match="unknown timestamp shapes"):
        TimestampParser(["nope"])
    assert "yymmdd" not in GENERIC_SHAPES


def test_parser_switches_between_shapes_and_remembers_failures() -> None:
    parser = TimestampParser(default_year=2020)
    texts = ["2024-11-27 06:30:00", "Jun 14 15:16:01", "garbage 1", "2024-11-27 06:30:01", "garbage 2",
             "Jun 14 15:16:02", "Jun 31 15:16:02", "1117838570"]
    got = [parser.parse(t) for t in texts]
    assert got == [
        datetime(2024, 11, 27, 6, 30), datetime(2020, 6, 14, 15, 16, 1), None, datetime(2024, 11, 27, 6, 30, 1),
        None, datetime(2020, 6, 14, 15, 16, 2), None, datetime(2005, 6, 3, 22, 42, 50),
    ]


#: Stamps of every shape, good and bad: leap days, out-of-range fields (datetime refuses them), offsets that
#: leave datetime's range, month names, two-digit and missing years, epochs, fractions of any length.
EDGE_STAMPS = [
    "2024-11-27 06:30:00", "2024-11-27T06:30:00.5", "2024-11-27 06:30:00,123456789", "2024-1-2 3:04:05",
    "2024-02-29 23:59:59.999999", "2023-02-29 10:00:00", "2024-04-31 10:00:00", "2024-13-01 00:00:00",
    "2024-00-10 00:00:00", "2024-11-00 00:00:00", "0000-01-01 00:00:00", "0001-01-01 00:00:00",
    "9999-12-31 23:59:59.999999", "2024-11-27 24:00:00", "2024-11-27 23:60:00", "2024-11-27 23:59:60",
    "2024-11-27 06:30:00Z", "2024-11-27 06:30:00 UTC", "2024-11-27 06:30:00+05:30", "2024-11-27 06:30:00-0800",
    "2024-12-31 23:30:00-02:00", "0001-01-01 00:30:00+01:00", "0001-01-01 01:30:00+01:00",
    "9999-12-31 23:30:00-01:00", "9999-12-31 22:30:00-01:00", "2024-11-27 06:30:00+99:99",
    "2024/11/27 06:30:00", "2024/11/27:06:30:00.25", "2024.11.27 06:30:00", "2024.11.27-06:30:00",
    "2005-06-03-15.42.50.675872", "2005-02-30-15.42.50", "20241127 063000", "20241127-06:30:00.1",
    "20241127063000", "20241127T063000.123", "Jun 14 15:16:01", "Jun 31 15:16:01", "Feb 29 12:00:00",
    "Foo 14 15:16:01", "Sept 14 15:16:01", "Mon Jun 14 15:16:01 2021", "Jun 14, 2021 15:16:01", "jun 14 25:00:00",
    "Tue, 14 Jun 2021 15:16:01 +0200", "14/Jun/2021:15:16:01 -0700", "1117838570", "1117838570.123456789",
    "1117838570123", "1117838570123456", "1117838570123456789", "2024-11-27", "2024-02-30", "03-17 16:13:38.811",
    "02-29 00:00:00", "1127 10:00:00", "081109 203615", "691231 235959", "681231 235959", "991301 000000",
    "17/06/09 20:10:40", "99/02/29 00:00:00", "00/02/29 00:00:00", "", "garbage",
]


@pytest.mark.parametrize("default_year", [2019, 2020, 1970, YearHint(2021, (2, 28)), YearHint(2024, (3, 1))])
def test_micros_parser_gives_the_datetime_parsers_instants(default_year: int | YearHint) -> None:
    """``micros=True`` (what row mode uses) is ``to_micros`` of the datetime parser, None exactly where it is
    None, for every shape, and stays so as its caches (last text, dates, shapes) fill."""
    for shapes in [None, *[[name] for name in SHAPES]]:
        dates = TimestampParser(shapes, default_year=default_year)
        micros = TimestampParser(shapes, default_year=default_year, micros=True)
        for text in EDGE_STAMPS * 2:
            expected = to_micros(dates.parse(text))
            got = micros.parse(text)
            assert got == expected and type(got) is type(expected), (shapes, text, got, expected)
    assert TimestampParser(["iso"], micros=True).parse("1970-01-01 00:00:00.000001") == 1
    assert TimestampParser(["iso"], micros=True).parse("1969-12-31 23:59:59") == -1_000_000


def test_roles_inferred_from_conventional_names() -> None:
    roles = Roles.infer(("Date", "Time", "Severity", "Logger", "Hostname", "App", "Pid"))
    assert roles == Roles(("Date", "Time"), level="Severity", component="Logger", host="Hostname", service="App")
    assert Roles.infer(("Foo", "Bar")) == Roles()


def test_record_builder_uses_roles_service_override_and_nil_values() -> None:
    roles = Roles(("Date", "Time"), level="Level", component="Component", host="Host", service="Svc")
    fields = {"Date": "2024-11-27", "Time": "06:30:00,5", "Level": "warning", "Component": "-", "Host": "h1",
              "Svc": "billing"}
    record = RecordBuilder(roles).build(dict(fields), "msg", source="s", line_no=3, n_lines=2, end_offset=99)
    assert (record.timestamp, record.level, record.component, record.host, record.service) == (
        datetime(2024, 11, 27, 6, 30, 0, 500000), "WARN", None, "h1", "billing")
    assert (record.source, record.line_no, record.n_lines, record.end_offset, record.content) == ("s", 3, 2, 99, "msg")
    assert dict(record.fields) == fields  # raw values kept, by name
    override = RecordBuilder(roles, service="given").build(dict(fields), "m", source="s", line_no=1)
    assert override.service == "given"


def test_record_builder_falls_back_to_single_time_fields() -> None:
    # a BGL-like custom format: the joined text is no timestamp, the epoch field alone is
    roles = Roles(("Timestamp", "Date"))
    record = RecordBuilder(roles).build({"Timestamp": "1117838570", "Date": "2005.06.03"}, "x", source="s", line_no=1)
    assert record.timestamp == datetime(2005, 6, 3, 22, 42, 50)


def test_record_builder_needs_roles_or_json_keys() -> None:
    with pytest.raises(ValueError):
        RecordBuilder(None)

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from triage.errors import IntegrityError, NotFound
from triage.ingest.schemas import LogRecord
from triage.parsing import ParserConfig, TemplateParser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parsing"


def records(system: str) -> list[LogRecord]:
    import csv

    with (FIXTURES / f"{system}_150.truth.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [LogRecord(system, int(row["LineId"]), row["Content"]) for row in rows]


ALL = records("HDFS") + records("OpenSSH") + records("Hadoop") + records("Linux")


def test_ids_are_stable_across_fresh_parsers() -> None:
    first = [e.template_id for e in TemplateParser().parse_batch(ALL)]
    second = [e.template_id for e in TemplateParser().parse_batch(ALL)]
    assert first == second
    assert all(t.startswith("T") and len(t) >= 13 for t in first)
    assert len(set(first)) > 50  # Drain's sequential ints would also be "stable"; these are hashes
    assert "1" not in set(first)


def test_parser_reloaded_from_state_continues_identically(tmp_path: Path) -> None:
    half = len(ALL) // 2
    straight = TemplateParser()
    expected = straight.parse_batch(ALL)

    interrupted = TemplateParser()
    before = interrupted.parse_batch(ALL[:half])
    interrupted.save_state(tmp_path / "state.json")
    resumed = TemplateParser.load_state(tmp_path / "state.json")
    after = resumed.parse_batch(ALL[half:])

    assert [(e.template_id, e.template, e.params) for e in before + after] == [
        (e.template_id, e.template, e.params) for e in expected
    ]
    assert {(t.template_id, t.text, t.version, t.count) for t in resumed.templates()} == {
        (t.template_id, t.text, t.version, t.count) for t in straight.templates()
    }


def test_tampered_state_is_refused(tmp_path: Path) -> None:
    parser = TemplateParser()
    parser.parse_batch(ALL[:50])
    path = tmp_path / "state.json"
    parser.save_state(path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["body"]["templates"][0]["template_id"] = "Tforged"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(IntegrityError):
        TemplateParser.load_state(path)


def test_state_uses_no_pickle_format(tmp_path: Path) -> None:
    parser = TemplateParser()
    parser.parse_batch(ALL[:100])
    text = json.dumps(parser.to_state())
    assert "py/object" not in text and "py/tuple" not in text


def test_versions_record_generalisation() -> None:
    parser = TemplateParser()
    t0 = datetime(2024, 1, 1, 10, 0, 0)
    t1 = datetime(2024, 1, 1, 11, 0, 0)
    first = parser.parse(LogRecord("s", 1, "the job 1-a finished cleanly in stage one", timestamp=t0))
    second = parser.parse(LogRecord("s", 2, "the job 2-b finished cleanly in stage one", timestamp=t1))
    assert first.template_id == second.template_id
    assert first.template == "the job <*>-a finished cleanly in stage one"
    assert second.template == "the job <*> finished cleanly in stage one"
    versions = parser.template_versions(first.template_id)
    assert [(v.version, v.text, v.first_seen) for v in versions] == [
        (1, "the job <*>-a finished cleanly in stage one", t0),
        (2, "the job <*> finished cleanly in stage one", t1),
    ]
    (template,) = parser.templates()
    assert (template.version, template.count, template.first_seen, template.last_seen) == (2, 2, t0, t1)
    # the id keeps naming the template after it changed
    assert parser.template_text(first.template_id) == "the job <*> finished cleanly in stage one"


def test_a_few_plain_words_split_templates_until_the_slot_proves_variable() -> None:
    parser = TemplateParser(ParserConfig(enum_max_values=2))
    bytes_ = parser.parse(LogRecord("s", 1, "Block 7 stored as bytes in memory"))
    values = parser.parse(LogRecord("s", 2, "Block 8 stored as values in memory"))
    again = parser.parse(LogRecord("s", 3, "Block 9 stored as bytes in memory"))
    assert values.template_id != bytes_.template_id == again.template_id
    assert (again.template, values.template) == (
        "Block <*> stored as bytes in memory",
        "Block <*> stored as values in memory",
    )

    third = parser.parse(LogRecord("s", 4, "Block 10 stored as blobs in memory"))  # a third word: a variable
    assert third.template_id == bytes_.template_id  # the oldest template survives
    assert third.template == "Block <*> stored as <*> in memory"
    assert parser.template_text(values.template_id) == third.template
    merged = {t.template_id: t for t in parser.templates()}
    assert merged[values.template_id].merged_into == bytes_.template_id
    assert merged[bytes_.template_id].merged_into is None
    assert merged[bytes_.template_id].count == 3 and merged[values.template_id].count == 1
    # a cached message of the merged template now reports the survivor
    assert (
        parser.parse(LogRecord("s", 5, "Block 8 stored as values in memory")).template_id
        == bytes_.template_id
    )


def test_numbers_and_ids_never_split_templates() -> None:
    parser = TemplateParser()
    a = parser.parse(LogRecord("s", 1, "session for user alice logged in on tty1"))
    b = parser.parse(LogRecord("s", 2, "session for user bob-2 logged in on tty1"))
    assert a.template_id == b.template_id
    assert parser.template_text(a.template_id) == "session for user <*> logged in on tty1"


def test_cache_does_not_change_results() -> None:
    repeated = ALL + ALL[::3] + ALL
    cached = TemplateParser().parse_batch(repeated)
    uncached = TemplateParser(ParserConfig(cache_size=0)).parse_batch(repeated)
    assert cached == uncached


def test_params_follow_the_current_template_for_cached_messages() -> None:
    parser = TemplateParser()
    first = parser.parse(LogRecord("s", 1, "the disk sd-a failed on rack one"))
    assert first.params == ()
    parser.parse(LogRecord("s", 2, "the disk sd-b failed on rack one"))
    again = parser.parse(LogRecord("s", 3, "the disk sd-a failed on rack one"))  # served from the cache
    assert again.template == "the disk <*> failed on rack one"
    assert again.params == ("sd-a",)


def test_params_are_the_variable_values_in_order() -> None:
    parser = TemplateParser()
    event = parser.parse(LogRecord("s", 1, "Served block blk_-42 to /10.0.0.1 from 10.0.0.2:50010"))
    assert event.template == "Served block <*> to <*> from <*>:<*>"
    assert event.params == ("blk_-42", "/10.0.0.1", "10.0.0.2", "50010")


def test_record_fields_are_carried_over() -> None:
    ts = datetime(2024, 5, 1, 12, 0, 0)
    record = LogRecord(
        "app.log",
        7,
        "boom\n\tat x.Y(Y.java:1)",
        timestamp=ts,
        level="ERROR",
        component="c",
        host="h",
        service="svc",
        n_lines=2,
    )
    event = TemplateParser().parse(record)
    assert (event.source, event.line_no, event.timestamp, event.level, event.component, event.host) == (
        "app.log",
        7,
        ts,
        "ERROR",
        "c",
        "h",
    )
    assert (event.service, event.n_lines, event.content) == ("svc", 2, "boom\n\tat x.Y(Y.java:1)")
    assert event.template == "boom"


def test_unknown_template_id_is_not_found() -> None:
    with pytest.raises(NotFound):
        TemplateParser().template_text("Tnope")


def test_fast_event_constructor_equals_the_dataclass() -> None:
    from triage.parsing.parser import _new_event
    from triage.parsing.schemas import ParsedEvent

    values = ("s", 3, "T1", "a <*>", ("x",), "a x", datetime(2024, 1, 1), "INFO", "c", "h", "svc", 2)
    fast = _new_event(*values)
    assert fast == ParsedEvent(*values)
    assert type(fast) is ParsedEvent
    with pytest.raises(AttributeError):
        fast.level = "ERROR"  # type: ignore[misc]  # still frozen


def test_user_rules_file_extends_redaction_and_masking(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "redaction:\n"
        "  - name: member_id\n"
        "    pattern: '\\bMBR[0-9]{6}\\b'\n"
        "    replacement: '<MEMBER>'\n"
        "masking:\n"
        "  - name: ticket\n"
        "    pattern: '\\bTCK-[A-Z]+\\b'\n"
        "    replacement: '<TICKET>'\n",
        encoding="utf-8",
    )
    parser = TemplateParser(ParserConfig(rules_path=rules))
    event = parser.parse(LogRecord("s", 1, "eligibility check for MBR123456 under TCK-ABC failed"))
    assert event.content == "eligibility check for <MEMBER> under TCK-ABC failed"
    assert event.template == "eligibility check for <*> under <*> failed"
    assert event.params == ("<MEMBER>", "TCK-ABC")
    # the rules travel with the state, so a reloaded parser masks the same way
    parser.save_state(tmp_path / "state.json")
    again = TemplateParser.load_state(tmp_path / "state.json")
    assert again.rules.fingerprint() == parser.rules.fingerprint()
    assert again.redact("MBR654321") == "<MEMBER>"


@pytest.mark.parametrize("max_clusters", [None, 40])
def test_parse_columns_equals_parse_batch(max_clusters: int | None) -> None:
    """The ingest job's columnar entry point has exactly the effect of parse_batch: same ids, params and
    redacted contents, and the same parser state afterwards (cluster sizes counted per batch included)."""
    from datetime import timedelta

    base = datetime(2024, 5, 1)
    repeated = [
        LogRecord(r.source, i, r.content, timestamp=base + timedelta(seconds=i % 97) if i % 5 else None)
        for i, r in enumerate(ALL + ALL[::3] + ALL, 1)
    ]
    config = ParserConfig(miner={"max_clusters": max_clusters})
    by_records, by_columns = TemplateParser(config), TemplateParser(config)
    for start in range(0, len(repeated), 250):
        chunk = repeated[start : start + 250]
        events = by_records.parse_batch(chunk)
        ids, params, contents = by_columns.parse_columns(
            [r.content for r in chunk], [r.timestamp for r in chunk]
        )
        assert ids == [e.template_id for e in events]
        assert params == [e.params for e in events]
        assert contents == [e.content for e in events]
        assert by_columns.to_state()["miner"] == by_records.to_state()["miner"]  # cluster sizes too
    assert _state_without_clock(by_records) == _state_without_clock(by_columns)


def test_state_is_rebuilt_as_templates_gain_versions() -> None:
    parser = TemplateParser()
    parser.parse(LogRecord("s", 1, "the disk sd-a failed on rack one"))
    first = parser.to_state()["templates"][0]["versions"]
    first[0]["text"] = "changed by the caller"  # the returned state is the caller's to change
    parser.parse(LogRecord("s", 2, "the disk sd-b failed on rack one"))
    versions = parser.to_state()["templates"][0]["versions"]
    assert [v["text"] for v in versions] == [
        "the disk sd-a failed on rack one",
        "the disk <*> failed on rack one",
    ]
    assert [v["version"] for v in versions] == [1, 2]


@pytest.mark.parametrize("max_clusters", [None, 40])
def test_state_json_is_the_state_as_json_after_every_batch(max_clusters: int | None) -> None:
    """``state_json`` (what the ingest job stores after each batch) keeps the text of templates that did not
    change since its last call; it must always be exactly the JSON of ``to_state()``: counts, first/last
    seen, new versions, merges (enumerated words that stop splitting templates), Drain's new clusters and
    evictions (``max_clusters``) and a reload included."""
    from datetime import timedelta

    base = datetime(2024, 5, 1)
    stream = [
        LogRecord(r.source, i, r.content, timestamp=base + timedelta(seconds=i * 37 % 1000) if i % 7 else None)
        for i, r in enumerate(ALL + ALL[::2], 1)
    ]
    stream += [
        LogRecord("s", 1, "the job finished as SUCCEEDED"),
        LogRecord("s", 2, "the job finished as FAILED"),
        LogRecord("s", 3, "the job finished as KILLED"),  # a third word: the split templates merge
        LogRecord("s", 4, "the job finished as 42", timestamp=base - timedelta(days=1)),
    ]

    def expected(parser: TemplateParser) -> str:
        return json.dumps(parser.to_state(), separators=(",", ":"), ensure_ascii=False)

    parser = TemplateParser(ParserConfig(miner={"max_clusters": max_clusters}))
    assert parser.state_json() == expected(parser)
    for start in range(0, len(stream), 97):
        parser.parse_batch(stream[start : start + 97])
        assert parser.state_json() == expected(parser)
    assert any(t.merged_into for t in parser.templates())
    again = TemplateParser.from_state(json.loads(parser.state_json()))
    assert again.state_json() == expected(again)
    again.parse_batch(stream[:50])
    assert again.state_json() == expected(again)


@pytest.mark.parametrize("max_clusters", [None, 40])
def test_parse_micros_with_note_seen_equals_parse_columns(max_clusters: int | None) -> None:
    """The ingest job's Arrow-side entry point: timestamps as microseconds (NO_TIME for none) and first/last
    seen reported per template afterwards have exactly the effect of parse_columns."""
    from datetime import timedelta

    from triage.parsing.parser import NO_TIME

    base = datetime(2024, 5, 1)
    records = [
        (r.content, base + timedelta(seconds=(i * 7919) % 997, microseconds=i) if i % 5 else None)
        for i, r in enumerate(ALL + ALL[::3] + ALL, 1)
    ]
    epoch = datetime(1970, 1, 1)
    config = ParserConfig(miner={"max_clusters": max_clusters})
    by_columns, by_micros = TemplateParser(config), TemplateParser(config)
    for start in range(0, len(records), 250):
        chunk = records[start : start + 250]
        contents = [c for c, _ in chunk]
        stamps = [ts for _, ts in chunk]
        expected = by_columns.parse_columns(contents, stamps)
        micros = [NO_TIME if ts is None else (ts - epoch) // timedelta(microseconds=1) for ts in stamps]
        got = by_micros.parse_micros(contents, micros)
        assert got == expected
        seen: dict[str, list[datetime]] = {}
        for template_id, ts in zip(got[0], stamps, strict=True):
            if ts is not None:
                seen.setdefault(template_id, []).append(ts)
        for template_id, values in seen.items():
            by_micros.note_seen(template_id, min(values), max(values))
    assert _state_without_clock(by_columns) == _state_without_clock(by_micros)


def _state_without_clock(parser: TemplateParser) -> dict:
    """The parser's state without the wall-clock time each template version was observed at."""
    state = parser.to_state()
    for template in state["templates"]:
        for version in template["versions"]:
            version["observed_at"] = None
    return state

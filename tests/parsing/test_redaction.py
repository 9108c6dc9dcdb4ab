"""No PHI or secret reaches content, params, templates or miner state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.ingest.schemas import LogRecord
from triage.parsing import TemplateParser
from triage.parsing.redaction import card_number, luhn_valid

# (message, the sensitive value, the placeholder it must become)
CASES = [
    ("notify sent to jane.doe@example.org for ticket 44", "jane.doe@example.org", "<EMAIL>"),
    ("patient ssn 123-45-6789 verified", "123-45-6789", "<SSN>"),
    ("lookup SSN: 123456789 failed", "123456789", "<SSN>"),
    ("chart opened MRN: A1234567 by nurse", "A1234567", "<MRN>"),
    ("medical record number 00982211 merged", "00982211", "<MRN>"),
    ("admission for patient id 778812 done", "778812", "<MRN>"),
    ("callback to (555) 123-4567 failed", "555) 123-4567", "<PHONE>"),
    ("sms to +1 555 010 9999 queued", "555 010 9999", "<PHONE>"),
    ("pager 555-010-4477 paged", "555-010-4477", "<PHONE>"),
    ("auth header Bearer abcDEF123456789xyz rejected", "abcDEF123456789xyz", "<TOKEN>"),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "<JWT>",
    ),
    ("db login password=hunter2! for svc", "hunter2!", "<SECRET>"),
    ("retry with pwd: S3cr3t#x", "S3cr3t#x", "<SECRET>"),
    ('config {"api_key": "AbCdEf0123456789"} loaded', "AbCdEf0123456789", "<SECRET>"),
    ("using key AKIAIOSFODNN7EXAMPLE now", "AKIAIOSFODNN7EXAMPLE", "<TOKEN>"),
    ("dsn postgres://app:pa55word@db.internal:5432/x", "pa55word", "<SECRET>"),
    ("charge card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "<CARD>"),
    ("charge card 5500005555555559 declined", "5500005555555559", "<CARD>"),
    ("dob=1984-03-07 mismatch", "1984-03-07", "<DOB>"),
    ("record for patient John Smith updated", "John Smith", "<NAME>"),
]


@pytest.mark.parametrize(("message", "secret", "placeholder"), CASES)
def test_redactor_replaces_each_kind(message: str, secret: str, placeholder: str) -> None:
    parser = TemplateParser()
    redacted = parser.redact(message)
    assert secret not in redacted
    assert placeholder in redacted


def test_nothing_sensitive_leaves_the_parser(tmp_path: Path) -> None:
    parser = TemplateParser()
    records = [LogRecord("app", i + 1, message) for i, (message, _, _) in enumerate(CASES * 3)]
    events = parser.parse_batch(records)
    state_path = tmp_path / "state.json"
    parser.save_state(state_path)
    stored = state_path.read_text(encoding="utf-8")
    for event, (_, secret, placeholder) in zip(events, CASES * 3, strict=True):
        visible = [event.content, event.template, *event.params]
        assert not any(secret in text for text in visible), event
        assert placeholder in event.content
        assert any(placeholder in p for p in event.params)  # the redacted value is a variable
        assert secret not in parser.template_text(event.template_id)
        assert secret not in stored
    for version in parser.template_versions():
        assert not any(secret in version.text for _, secret, _ in CASES)
    assert json.loads(stored)["sha256"]


def test_luhn_and_card_checks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert card_number("4111-1111-1111-1111")
    assert not card_number("1445144423722")  # a millisecond timestamp is not a card


def test_ids_and_counters_are_not_redacted() -> None:
    parser = TemplateParser()
    for message in [
        "PacketResponder 1 for block blk_-1608999687919862906 terminating",
        "Received block blk_3587508140051953248 of size 67108864 from /10.251.42.84",
        "session 0x14f05578bd80013 closed at 1445144423722",
        "took 4111111111111112 ns",  # 16 digits, fails Luhn
    ]:
        assert parser.redact(message) == message

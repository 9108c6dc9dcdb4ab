from __future__ import annotations

import pytest

from triage.parsing.masking import Masker, mining_text
from triage.parsing.rules import RuleSet


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker(RuleSet.defaults().masking)


@pytest.mark.parametrize(
    ("message", "tokens", "values"),
    [
        ("to /10.251.43.21:50010", ["to", "<PATH>:<NUM>"], ["/10.251.43.21", "50010"]),
        ("from 10.0.0.7 port 22", ["from", "<IP>", "port", "<NUM>"], ["10.0.0.7", "22"]),
        ("peer [fe80::1:2] left", ["peer", "[<IP>]", "left"], ["fe80::1:2"]),
        ("block blk_-1608999687919862906 done", ["block", "<BLK>", "done"], ["blk_-1608999687919862906"]),
        (
            "req 123e4567-e89b-12d3-a456-426614174000 ok",
            ["req", "<UUID>", "ok"],
            ["123e4567-e89b-12d3-a456-426614174000"],
        ),
        ("session 0x14f05578bd80013", ["session", "<HEX>"], ["0x14f05578bd80013"]),
        ("reading /var/log/app.log", ["reading", "<PATH>"], ["/var/log/app.log"]),
        ("at 12:04:59 sharp", ["at", "<TIME>", "sharp"], ["12:04:59"]),
        (
            "at Fri Jun 17 07:07:00 2005 ok",
            ["at", "<TIMESTAMP>", "ok"],
            ["Fri Jun 17 07:07:00 2005"],
        ),
        ("at 2024-01-02T03:04:05Z", ["at", "<TIMESTAMP>"], ["2024-01-02T03:04:05Z"]),
        (
            "(estimated size 16.0 B, free 2.4 GB)",
            ["(estimated", "size", "<SIZE>,", "free", "<SIZE>)"],
            ["16.0 B", "2.4 GB"],
        ),
        ("took 15ms", ["took", "<DURATION>"], ["15ms"]),
        ("uid=0 euid=500 tty=ssh", ["uid=<NUM>", "euid=<NUM>", "tty=ssh"], ["0", "500"]),
        (
            "Input split: hdfs://10.10.34.11:9000/pjhe/test/1/",
            ["Input", "split:", "hdfs://<URL>"],
            ["10.10.34.11:9000/pjhe/test/1/"],
        ),
        ("connect to msra-sa-41:8030 now", ["connect", "to", "<HOST>:<NUM>", "now"], ["msra-sa-41", "8030"]),
        ("from host-7.example.com", ["from", "<HOST>"], ["host-7.example.com"]),
        (
            "attempt_1445144423722_0020_m_000001_0 done",
            ["<ID>", "done"],
            ["attempt_1445144423722_0020_m_000001_0"],
        ),
        (
            "Security Scaffold v1.0.0 initialized",
            ["Security", "Scaffold", "<VERSION>", "initialized"],
            ["v1.0.0"],
        ),
        ("generating core.2275", ["generating", "core.<NUM>"], ["2275"]),
        ("user <EMAIL> in", ["user", "<EMAIL>", "in"], ["<EMAIL>"]),
        ("via interface eth0 and ssh2", ["via", "interface", "eth0", "and", "ssh2"], []),
    ],
)
def test_masks_and_values(masker: Masker, message: str, tokens: list[str], values: list[str]) -> None:
    masked = masker.mask(message)
    assert list(masked.tokens) == tokens
    assert [v for word_values in masked.values for v in word_values] == values
    assert len(masked.words) == len(masked.tokens)


def test_cached_and_fresh_maskers_agree(masker: Masker) -> None:
    messages = [f"Served block blk_{n} to /10.0.{n % 7}.{n % 250}:{50000 + n}" for n in range(300)]
    first = [masker.mask(m) for m in messages]
    again = [masker.mask(m) for m in messages]  # word cache hits
    fresh = [Masker(RuleSet.defaults().masking).mask(m) for m in messages[::37]]
    assert first == again
    assert fresh == first[::37]


def test_stack_frames_are_not_mined_but_exception_lines_are() -> None:
    content = "Request failed\njava.lang.IllegalStateException: boom\n\tat a.b.C.d(C.java:10)\n\t... 3 more\nCaused by: x"
    assert mining_text(content) == "Request failed java.lang.IllegalStateException: boom Caused by: x"
    assert mining_text("one line") == "one line"


def test_lists_of_ids_are_one_variable_but_lists_of_numbers_are_not(masker: Masker) -> None:
    ids = masker.mask("ask 10.0.0.1:50010 to delete blk_1 blk_-2 blk_3 now")
    assert ids.tokens == ("ask", "<IP>:<NUM>", "to", "delete", "<BLK>", "now")
    assert ids.words[4] == "blk_1 blk_-2 blk_3"
    assert ids.values[4] == ("blk_1", "blk_-2", "blk_3")
    commas = masker.mask("peers 10.0.0.1, 10.0.0.2, 10.0.0.3 joined")
    assert commas.tokens == ("peers", "<IP>", "joined")
    numbers = masker.mask("Fan speeds ( 3552 3534 3375 )")
    assert numbers.tokens == ("Fan", "speeds", "(", "<NUM>", "<NUM>", "<NUM>", ")")

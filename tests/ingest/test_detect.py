"""Format detection from a sample of lines; never from file names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from triage.ingest import FormatSpec, detect_format, rank_formats, read_sample, sniff_format

from ._support import HANDWRITTEN, HANDWRITTEN_PRESETS, LOGHUB, LOGHUB_SYSTEMS


@pytest.mark.parametrize("system", sorted(LOGHUB_SYSTEMS))
def test_each_loghub_system_is_detected(system: str, tmp_path: Path) -> None:
    # copied under a neutral name: detection must come from the content alone
    copy = tmp_path / "data.txt"
    shutil.copyfile(LOGHUB / f"{system}_100.log", copy)
    assert sniff_format(copy) == FormatSpec(preset=LOGHUB_SYSTEMS[system])


@pytest.mark.parametrize("fixture", sorted(HANDWRITTEN_PRESETS))
def test_each_handwritten_sample_is_detected(fixture: str) -> None:
    lines = (HANDWRITTEN / fixture).read_text(encoding="utf-8").splitlines()
    assert detect_format(lines).preset == HANDWRITTEN_PRESETS[fixture]


@pytest.mark.parametrize("system", sorted(LOGHUB_SYSTEMS))
def test_five_lines_are_enough_unless_they_are_ambiguous(system: str) -> None:
    lines = (LOGHUB / f"{system}_100.log").read_bytes().splitlines()[:5]
    expected = LOGHUB_SYSTEMS[system]
    if system == "Linux":
        # these five lines all carry a [pid], so Loghub Mac's format (pid required) fits them as well and,
        # being stricter, wins; one pid-less line in the sample settles it (the whole slice: linux)
        expected = "mac"
        assert detect_format([*lines, b"Jun 14 15:16:01 combo kernel: Linux version 2.6.5"]).preset == "linux"
    assert detect_format(lines).preset == expected


def test_stack_traces_do_not_drown_the_header_lines() -> None:
    head = "2024-11-27 06:31:06,003 ERROR [exec-3] com.example.db.Pool - Connection checkout failed"
    trace = ["java.lang.IllegalStateException: boom"] + [f"\tat com.example.F{i}.run(F{i}.java:{i})" for i in range(40)]
    lines = [head, *trace, "\t... 3 more", "", head]
    assert detect_format(lines).preset == "log4j"


def test_generic_syslog_beats_loghub_linux_and_mac_when_both_fit() -> None:
    lines = ["Nov 27 06:25:14 web-01 systemd[1]: Started Session 4 of user ops.",
             "Nov 27 06:25:15 web-01 sshd[24001]: Accepted publickey for deploy from 10.0.4.17 port 51522 ssh2"]
    ranked = {s.preset: s for s in rank_formats(lines)}
    assert ranked["linux"].matched == ranked["mac"].matched == ranked["rfc3164"].matched == 2
    assert detect_format(lines).preset == "rfc3164"
    # but a line only Loghub Linux accepts (a tag with a space) tips the balance
    assert detect_format([*lines, "Jun 14 15:16:01 combo syslogd 1.4.1: restart."]).preset == "linux"


@pytest.mark.parametrize("lines", [
    [],
    ["", "   "],
    ["hello world", "this is just text", "nothing structured here at all"],
    [b"\x00\x01\x02", b"\xff\xfe\x00"],
])
def test_unstructured_or_empty_samples_fall_back_to_plain(lines: list) -> None:
    assert detect_format(lines) == FormatSpec(preset="plain")


def test_a_minority_of_matching_lines_is_not_enough() -> None:
    lines = ["2024-11-27 06:40:00,001 - app - INFO - ok"] + [f"free text {i}" for i in range(5)]
    assert detect_format(lines).preset == "plain"
    assert detect_format(lines, min_share=0.1).preset == "python"


def test_rank_formats_reports_counts_best_first() -> None:
    sample = read_sample(LOGHUB / "HDFS_100.log")
    ranked = rank_formats(sample)
    assert ranked[0].preset == "hdfs" and ranked[0].matched == ranked[0].candidates == 100
    assert ranked[0].share == 1.0
    assert [s.matched for s in ranked] == sorted((s.matched for s in ranked), reverse=True)
    assert "plain" not in {s.preset for s in ranked}
    assert detect_format(sample, presets=["spark", "bgl"]) == FormatSpec(preset="plain")


def test_best_format_is_the_top_of_the_ranking() -> None:
    """``best_format`` (what detection uses) stops counting a preset once it cannot win, and still picks
    exactly the ranking's first: on every fixture, on mixtures of two (partial matches, near ties), on
    subsets and reorderings of the presets, and on nothing."""
    from itertools import combinations

    from triage.ingest.detect import best_format
    from triage.ingest.presets import PRESETS

    folders = (HANDWRITTEN, LOGHUB, LOGHUB.parent / "messy")
    logs = sorted(p for d in folders for p in d.iterdir() if p.suffix in (".log", ".jsonl"))
    samples = {p.name: read_sample(p) for p in logs}
    mixed = {f"{a}+{b}": samples[a][::2] + samples[b][1::2] for a, b in combinations(sorted(samples), 2)}
    names = list(PRESETS)
    orders = [None, names[::-1], names[::3], names[5:], ["plain"]]
    checked = 0
    for lines in [*samples.values(), *mixed.values(), []]:
        for presets in orders:
            ranked = rank_formats(lines, presets)
            assert best_format(lines, presets) == (ranked[0] if ranked else None)
            checked += bool(ranked) and ranked[0].matched > 0
    assert checked > 500

"""Which format is this? Rank every preset on a sample of lines. Pure; never looks at file names.

A preset's score is the number of sample lines whose header it matches, counting only lines that could
be headers (blank lines and continuation lines such as stack frames are left out). The best score wins;
among equal scores the most *specific* preset wins (narrow fields and literal text beat loose ones, so
``openssh`` beats generic ``rfc3164`` on sshd lines, and ``rfc3164`` beats ``linux`` on syslog that
``linux`` also accepts). When no preset matches at least ``min_share`` of the lines: ``plain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from triage.ingest.formats import LogFormat
from triage.ingest.multiline import decode_line, is_binary, is_continuation
from triage.ingest.presets import PRESETS, FormatSpec, compile_format

#: How many lines a reader samples for detection.
SAMPLE_LINES = 1000
#: The least share of candidate lines the chosen preset must match.
MIN_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class FormatScore:
    """How well one preset fits a sample."""

    preset: str
    matched: int  # candidate lines whose header it matches
    candidates: int  # lines that could be headers (not blank, continuation or binary)
    specificity: int

    @property
    def share(self) -> float:
        return self.matched / self.candidates if self.candidates else 0.0


def _candidate_lines(lines: Iterable[str | bytes]) -> list[str]:
    out = []
    for line in lines:
        if isinstance(line, bytes):
            raw, text = line, decode_line(line)
        else:
            text = line.rstrip()
            raw = b""
        if not text or is_continuation(text) or is_binary(raw, text):
            continue
        out.append(text)
    return out


def _matcher(name: str) -> tuple[Callable[[str], object], int]:
    """A preset's line test and specificity."""
    fmt = compile_format(FormatSpec(preset=name))
    # a header format matches a line when its regex fullmatches it (no need for the fields here)
    match = fmt.matcher.regex.fullmatch if isinstance(fmt.matcher, LogFormat) else fmt.match
    return match, fmt.specificity


def rank_formats(lines: Iterable[str | bytes], presets: Sequence[str] | None = None) -> list[FormatScore]:
    """Every preset (but ``plain``) scored on the sample, best first."""
    sample = _candidate_lines(lines)
    scores = []
    for name in presets or PRESETS:
        if name == "plain":
            continue
        match, specificity = _matcher(name)
        matched = sum(1 for line in sample if match(line) is not None)
        scores.append(FormatScore(name, matched, len(sample), specificity))
    scores.sort(key=lambda s: (s.matched, s.specificity), reverse=True)  # stable: preset order breaks ties
    return scores


def best_format(lines: Iterable[str | bytes], presets: Sequence[str] | None = None) -> FormatScore | None:
    """``rank_formats(lines, presets)[0]`` (None if no preset is scored), found without counting every
    preset to the end: one stops being counted once matching all the lines it has left could not beat the
    best so far (more matches, or as many and more specific; an earlier preset wins a full tie). Detection
    runs once per new file, on the job's critical path; most presets then stop within a few lines."""
    sample = _candidate_lines(lines)
    best: FormatScore | None = None
    for name in presets or PRESETS:
        if name == "plain":
            continue
        match, specificity = _matcher(name)
        need = 0 if best is None else best.matched + (specificity <= best.specificity)
        matched, left = 0, len(sample)
        for line in sample:
            if matched + left < need:
                break
            left -= 1
            matched += match(line) is not None
        if matched >= need:
            best = FormatScore(name, matched, len(sample), specificity)
    return best


def detect_format(
    lines: Iterable[str | bytes], *, presets: Sequence[str] | None = None, min_share: float = MIN_SHARE
) -> FormatSpec:
    """The preset that matches the most sample lines (the most specific one on ties), else ``plain``.

    ``lines`` are decoded lines or raw physical lines (bytes); give a few hundred for a stable answer.
    """
    best = best_format(lines, presets)
    if best is not None and best.matched > 0 and best.share >= min_share:
        return FormatSpec(preset=best.preset)
    return FormatSpec(preset="plain")

r"""Where an ordered list of rules matches in a text, computed once per *shape* of the text.

Rules apply one after another, each to the text as the earlier ones left it: a match becomes an opaque
two-character mask that later patterns cannot see into (they may swallow it whole, which nests the earlier
match inside the later one). Mask characters are letters (Yi syllables, which logs do not contain), so to
later rules a mask looks like a word: ``\w`` and ``\b`` treat it as one, ASCII classes such as
``[A-Za-z0-9]`` do not match it. A text that already contains the mark character gets no spans. The result is the list of outermost matched spans, in the original text's
coordinates, with the rule that made each.

The shape of a text is the text with every digit 1-9 written as ``1``. Rule patterns here never depend
on which digit is where (only on where digits are, and on ``0`` as in ``0x``), so spans found on the
shape are the spans of every text of that shape; the per-match validators (``check``, e.g. Luhn) run on
the real text afterwards. This lets a cache keyed by shape serve all the unique ids, counters and
addresses of a log at the cost of one ``str.translate`` and one dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_MARK = "\ua000"
_INDEX_BASE = 0xA001
MAX_SPANS = 0xA48C - _INDEX_BASE  # the Yi syllables; matches beyond this many stay unmasked
#: Mask characters: ours, and the line-level masks masking.py puts in a text first; never cut in two.
_MARKS = frozenset((_MARK, "\ue001"))
_MARK_RE = re.compile("\ua000(.)", re.S)
_SHAPE_TABLE = bytes.maketrans(b"23456789", b"11111111")


def shape_of(text: str) -> str:
    """``text`` with digits 2-9 written as 1 (0 and 1 kept): the cache key for span finding."""
    # bytes.translate is ~10x faster than str.translate; digits are ASCII, so positions survive
    return text.encode("utf-8", "surrogatepass").translate(_SHAPE_TABLE).decode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to run: regex, the group that is replaced (0 = whole match), cheap prefilters."""

    name: str
    regex: re.Pattern[str]
    replacement: str
    group: int = 0
    requires: tuple[str, ...] = ()  # lower-case substrings, one must occur
    requires_digit: bool = False
    check: Callable[[str], bool] | None = None

    def may_match(self, text: str, lowered: str, has_digit: bool) -> bool:
        if self.requires_digit and not has_digit:
            return False
        if not self.requires:
            return True
        for required in self.requires:  # noqa: SIM110 (no generator: runs for every rule on every new text)
            if required in lowered:
                return True
        return False


#: A found span: (start, end, index of the rule) in the original text.
Span = tuple[int, int, int]

_DIGIT = re.compile(r"\d")


def find_spans(text: str, rules: Sequence[CompiledRule]) -> tuple[Span, ...]:
    """Outermost spans of the rules' matches, applying the rules in order (see the module docstring)."""
    if _MARK in text:
        return ()
    current = text
    # where each character of ``current`` starts and ends in ``text``; made at the first match (until
    # then ``current`` is ``text``), as most texts match few rules or none
    starts: list[int] = []
    ends: list[int] = []
    found: list[Span] = []
    lowered = text.lower()
    has_digit = _DIGIT.search(text) is not None
    for index, rule in enumerate(rules):
        if not rule.may_match(current, lowered, has_digit):
            continue
        pieces: list[str] = []
        new_starts: list[int] = []
        new_ends: list[int] = []
        position = 0
        for match in rule.regex.finditer(current):
            a, b = match.span(rule.group)
            if a < 0 or a >= b or a < position or len(found) >= MAX_SPANS:
                continue
            if current[b - 1] in _MARKS or (a > 0 and current[a - 1] in _MARKS):
                continue  # would cut a mask in two
            if not starts:
                starts, ends = list(range(len(text))), list(range(1, len(text) + 1))
            pieces.append(current[position:a])
            new_starts.extend(starts[position:a])
            new_ends.extend(ends[position:a])
            original = (starts[a], ends[b - 1])
            found.append((original[0], original[1], index))
            pieces.append(_MARK + chr(_INDEX_BASE + len(found) - 1))
            new_starts.extend(original[:1] * 2)
            new_ends.extend(original[1:] * 2)
            position = b
        if not pieces:
            continue
        pieces.append(current[position:])
        new_starts.extend(starts[position:])
        new_ends.extend(ends[position:])
        current = "".join(pieces)
        starts, ends = new_starts, new_ends
        lowered = current.lower()
        has_digit = _DIGIT.search(current) is not None
    if not found:
        return ()
    return tuple(found[ord(m.group(1)) - _INDEX_BASE] for m in _MARK_RE.finditer(current))


class SpanCache:
    """``find_spans`` memoised by shape, bounded (cleared when full: logs have few shapes)."""

    def __init__(self, rules: Sequence[CompiledRule], size: int = 100_000) -> None:
        self.rules = tuple(rules)
        self.size = size
        self._cache: dict[str, tuple[Span, ...]] = {}

    def spans(self, text: str) -> tuple[Span, ...]:
        shape = shape_of(text)
        cached = self._cache.get(shape)
        if cached is None:
            cached = find_spans(shape, self.rules)
            if len(self._cache) >= self.size:
                self._cache.clear()
            self._cache[shape] = cached
        return cached

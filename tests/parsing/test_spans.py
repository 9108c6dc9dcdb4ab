from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from triage.parsing.spans import CompiledRule, SpanCache, find_spans, shape_of

NUM = CompiledRule("num", re.compile(r"\d+"), "<NUM>", requires_digit=True)
IP = CompiledRule("ip", re.compile(r"\d{1,3}(?:\.\d{1,3}){3}"), "<IP>", requires=(".",), requires_digit=True)
PATH = CompiledRule("path", re.compile(r"(?:/[^/\s]+)+"), "<PATH>", requires=("/",))


def test_earlier_rules_win_and_later_rules_may_swallow_them() -> None:
    text = "from /10.0.0.1 port 22"
    spans = find_spans(text, [IP, PATH, NUM])
    assert [(text[a:b], i) for a, b, i in spans] == [("/10.0.0.1", 1), ("22", 2)]


def test_a_later_rule_never_sees_inside_an_earlier_mask() -> None:
    text = "10.0.0.1"
    assert find_spans(text, [IP, NUM]) == ((0, 8, 0),)


def test_shape_keeps_positions_and_zero() -> None:
    assert shape_of("0x9f 1234 été") == "0x1f 1111 été"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789./: abx", max_size=30))
def test_cached_spans_equal_direct_spans(text: str) -> None:
    cache = SpanCache([IP, PATH, NUM])
    cache.spans(shape_of(text).replace("1", "7"))  # prime the cache with another text of the same shape
    assert cache.spans(text) == find_spans(text, [IP, PATH, NUM])

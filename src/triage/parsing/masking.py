"""Masking: turn a (redacted) message into the words the miner clusters, remembering what each mask hid.

Rules come from ``RuleSet.masking`` (see ``rules.py``): ``scope: line`` rules run over the whole message
(they may span spaces), ``scope: token`` rules inside one whitespace-separated word, each in order. A
match becomes a typed placeholder (``<IP>``, ``<NUM>``, ...); the value it hid is kept per word, so
parameters can be read back once the miner has decided which words are variables. Placeholders already
in the text (from redaction) count as masks whose value is the placeholder itself, so no redacted value
ever comes back.

Speed: a word seen before is one dict lookup; a new word of a known *shape* (digits normalised, see
``spans.py``) costs one ``translate`` and one more lookup; only new shapes run the regexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from triage.parsing.redaction import compile_rules
from triage.parsing.rules import PLACEHOLDER_RE, Rule
from triage.parsing.spans import CompiledRule, SpanCache, find_spans, shape_of

_LINE_MARK = "\ue001"  # + one char: index into the message's line-scope masks
_INDEX_BASE = 0xE100
_INDENTED = re.compile(r"^[ \t]")
_KEEP = ""  # replacement meaning "the matched text is already a placeholder: keep it"

#: How many distinct words the per-word cache holds before it starts afresh.
WORD_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class MaskedMessage:
    """A message as the miner sees it: masked words, plus what each word's masks hid."""

    tokens: tuple[str, ...]  # masked words, e.g. ("Served", "block", "<BLK>", "to", "<IP>")
    words: tuple[str, ...]  # the same words unmasked (redacted text), for parameters of wildcard words
    values: tuple[tuple[str, ...], ...]  # per word: the value behind each placeholder, in order


def mining_text(content: str) -> str:
    """The part of a (possibly multi-line) record that identifies its event.

    Continuation lines that start with whitespace (stack frames, ``... 12 more``, source lines of a
    Python traceback) are detail; unindented ones (``Caused by: ...``, ``ValueError: ...``) are kept.
    """
    if "\n" not in content:
        return content
    lines = content.split("\n")
    kept = [lines[0]] + [line for line in lines[1:] if line.strip() and not _INDENTED.match(line)]
    return " ".join(kept)


class Masker:
    """Applies the masking rules; caches results per word and per word shape."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        placeholder = CompiledRule("placeholder", PLACEHOLDER_RE, _KEEP, requires=("<",))
        self._line_rules = compile_rules([r for r in self.rules if r.scope == "line"])
        self._token_rules = (placeholder, *compile_rules([r for r in self.rules if r.scope == "token"]))
        self._line_spans = SpanCache(self._line_rules) if self._line_rules else None
        self._word_spans = SpanCache(self._token_rules)
        self._word_cache: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._list_items = frozenset(r.replacement for r in self.rules if r.collapse_runs)

    def mask(self, text: str) -> MaskedMessage:
        line_masks: list[tuple[str, str]] = []
        if self._line_spans is not None:
            spans = self._line_spans.spans(text)
            if spans:
                text = self._mark_line(text, spans, line_masks)
        tokens: list[str] = []
        words: list[str] = []
        values: list[tuple[str, ...]] = []
        cache = self._word_cache
        for word in text.split():
            if line_masks and _LINE_MARK in word:
                masked, word_values = self._mask_marked_word(word, line_masks)
                word = _expand_line_marks(word, line_masks)
            else:
                hit = cache.get(word)
                if hit is None:
                    hit = self._mask_word(word)
                    if len(cache) >= WORD_CACHE_SIZE:
                        cache.clear()
                    cache[word] = hit
                masked, word_values = hit
            if (
                tokens
                and masked.rstrip(",") in self._list_items
                and tokens[-1].rstrip(",") == masked.rstrip(",")
            ):  # the next item of a list of ids: one variable, whatever the list's length
                tokens[-1] = masked
                words[-1] = f"{words[-1]} {word}"
                values[-1] = values[-1] + word_values
                continue
            tokens.append(masked)
            words.append(word)
            values.append(word_values)
        return MaskedMessage(tuple(tokens), tuple(words), tuple(values))

    def _mark_line(
        self, text: str, spans: Sequence[tuple[int, int, int]], line_masks: list[tuple[str, str]]
    ) -> str:
        pieces: list[str] = []
        position = 0
        for start, end, index in spans:
            pieces.append(text[position:start])
            line_masks.append((self._line_rules[index].replacement, text[start:end]))
            pieces.append(_LINE_MARK + chr(_INDEX_BASE + len(line_masks) - 1))
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def _mask_word(self, word: str) -> tuple[str, tuple[str, ...]]:
        if word.isalpha():  # the common case: a plain word no rule can touch
            return word, ()
        return self._build(word, self._word_spans.spans(word), ())

    def _mask_marked_word(
        self, word: str, line_masks: Sequence[tuple[str, str]]
    ) -> tuple[str, tuple[str, ...]]:
        return self._build(word, find_spans(shape_of(word), self._token_rules), line_masks)

    def _build(
        self, word: str, spans: Sequence[tuple[int, int, int]], line_masks: Sequence[tuple[str, str]]
    ) -> tuple[str, tuple[str, ...]]:
        if not spans and not line_masks:
            return word, ()
        rules = self._token_rules
        pieces: list[str] = []
        values: list[str] = []
        position = 0
        for start, end, index in (*spans, (len(word), len(word), -1)):
            literal = word[position:start]
            if line_masks and _LINE_MARK in literal:  # line masks outside any word mask
                for part in re.split(f"({_LINE_MARK}.)", literal, flags=re.S):
                    if part.startswith(_LINE_MARK) and len(part) == 2:
                        replacement, raw = line_masks[ord(part[1]) - _INDEX_BASE]
                        pieces.append(replacement)
                        values.append(raw)
                    else:
                        pieces.append(part)
            else:
                pieces.append(literal)
            if index < 0:
                break
            raw = word[start:end]
            replacement = rules[index].replacement
            pieces.append(raw if replacement == _KEEP else replacement)
            values.append(_expand_line_marks(raw, line_masks))
            position = end
        return "".join(pieces), tuple(values)


def _expand_line_marks(text: str, line_masks: Sequence[tuple[str, str]]) -> str:
    if not line_masks or _LINE_MARK not in text:
        return text
    return re.sub(
        f"{_LINE_MARK}(.)", lambda m: line_masks[ord(m.group(1)) - _INDEX_BASE][1], text, flags=re.S
    )

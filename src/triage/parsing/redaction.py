"""PHI and secret redaction: the first thing that happens to a message, before masking, mining or storage.

Each redaction rule replaces a value (or only the value part of ``password=...``) with a typed
placeholder such as ``<EMAIL>``, ``<SSN>`` or ``<SECRET>``. The placeholder then behaves as a variable
of the template, and the original value is gone from content, parameters, templates and miner state.
Matches are found once per text shape (``spans.py``); a rule's ``check`` (Luhn for card numbers) runs on
the real value, and a value that fails it is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from triage.parsing.rules import Rule
from triage.parsing.spans import CompiledRule, SpanCache


def luhn_valid(text: str) -> bool:
    """The Luhn checksum of the digits in ``text`` (card numbers pass it; most counters do not)."""
    digits = [int(c) for c in text if c.isdigit()]
    if not 12 <= len(digits) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_number(text: str) -> bool:
    """A payment card number: a major network's leading digit (3-6) and a valid Luhn checksum."""
    digits = "".join(c for c in text if c.isdigit())
    return bool(digits) and digits[0] in "3456" and luhn_valid(digits)


CHECKS: dict[str, Callable[[str], bool]] = {"luhn": card_number}


def compile_rules(rules: Sequence[Rule]) -> tuple[CompiledRule, ...]:
    return tuple(
        CompiledRule(
            name=rule.name,
            regex=rule.regex,
            replacement=rule.replacement,
            group=rule.group or 0,
            requires=tuple(r.lower() for r in rule.requires),
            requires_digit=rule.requires_digit,
            check=CHECKS[rule.check] if rule.check else None,
        )
        for rule in rules
    )


class Redactor:
    """Applies the redaction rules, in order, to whole messages."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._compiled = compile_rules(self.rules)
        self._spans = SpanCache(self._compiled)

    def redact(self, text: str) -> str:
        spans = self._spans.spans(text)
        if not spans:
            return text
        compiled = self._compiled
        pieces: list[str] = []
        position = 0
        for start, end, index in spans:
            rule = compiled[index]
            if rule.check is not None and not rule.check(text[start:end]):
                continue
            pieces.append(text[position:start])
            pieces.append(rule.replacement)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

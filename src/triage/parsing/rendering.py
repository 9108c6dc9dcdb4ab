"""Template text: the miner's masked tokens written the way log-template ground truth writes them.

Every placeholder (``<IP>``, ``<NUM>``, redaction placeholders) and Drain's own wildcard become ``<*>``.
Then the normalisation rules of Khan et al., "Guidelines for Assessing the Accuracy of Log Message
Template Identification Techniques" (ICSE 2022) -- the conventions the corrected Loghub templates follow
-- are applied: they are statements about how variables appear in logs, not about any one system:

* a path-like string (``/a/b``, ``/<*>``) is one variable;
* booleans and pure digit runs between delimiters are variables;
* a word glued to a variable (``blk_<*>``, ``<*>ms``, ``#<*>``) is one variable (``-``, ``.``, ``:`` ... stay
  delimiters, so ``node-<*>`` and ``<*>:<*>`` keep their shape);
* variables joined only by ``.`` are one variable (a version or a float), and adjacent ones merge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from triage.parsing.rules import PLACEHOLDER_RE

WILDCARD = "<*>"

_PATH_DELIMITERS = r"""\s,!;:=|"'\[\](){}"""
_TOKEN_DELIMITERS = _PATH_DELIMITERS + r".\-+@#$%&"
_PATH_SPLIT = re.compile(f"([{_PATH_DELIMITERS}])")
_TOKEN_SPLIT = re.compile(f"([{_TOKEN_DELIMITERS}])")
_PATH_LIKE = re.compile(r"^(?:/[^/]+)+$")
_DIGITS = re.compile(r"^\d+$")
_GLUED = re.compile(r"^[^\s/]*<\*>[^\s/]*$")
# Booleans, null and the superuser name are values, never event words (Khan et al.'s BL/US rules).
VALUE_WORDS = frozenset({"true", "false", "null", "root"})
_DOT_JOINED = re.compile(r"<\*>\.<\*>")
_ADJACENT = re.compile(r"(?:<\*>){2,}")


def to_wildcards(token: str, renders: Mapping[str, str] | None = None) -> str:
    """A masked token with every placeholder written as ``<*>`` (or as its rule's ``render``)."""
    if "<" not in token:
        return token
    if not renders:
        return PLACEHOLDER_RE.sub(WILDCARD, token)
    return PLACEHOLDER_RE.sub(lambda m: renders.get(m.group(0), WILDCARD), token)


def render_template(tokens: Iterable[str], renders: Mapping[str, str] | None = None) -> str:
    """The template text of a cluster's tokens."""
    text = " ".join(to_wildcards(t, renders) for t in tokens)
    return normalise(text)


def normalise(template: str) -> str:
    """Apply the variable-shape rules to a template that already uses ``<*>``."""
    template = " ".join(template.split())
    if "/" in template:
        parts = _PATH_SPLIT.split(template)
        template = "".join(WILDCARD if _PATH_LIKE.match(p) else p for p in parts)
    parts = _TOKEN_SPLIT.split(template)
    for i, part in enumerate(parts):
        if not part or part == WILDCARD:
            continue
        if (
            _DIGITS.match(part)
            or part.lower() in VALUE_WORDS
            or ("<*>" in part and part != "<*>/<*>" and _GLUED.match(part))
        ):
            parts[i] = WILDCARD
    template = "".join(parts)
    while "<*>.<*>" in template:
        template = _DOT_JOINED.sub(WILDCARD, template)
    if "<*><*>" in template:
        template = _ADJACENT.sub(WILDCARD, template)
    return template

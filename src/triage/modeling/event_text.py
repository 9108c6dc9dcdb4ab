"""The error classifier's text and shape features in plain Python: words, levels, rule matches, shape.

Kept apart from :mod:`triage.modeling.classification` (which builds on scikit-learn) so that the portable
copy of a trained classifier (:mod:`triage.modeling.portable`) computes exactly the same features without
importing scikit-learn, SciPy or pandas.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from triage.modeling.taxonomy import normalise_level

# ------------------------------------------------------------------------------------------ tokens
_CHUNK = re.compile(r"[A-Za-z0-9_]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")


def text_tokens(text: str) -> list[str]:
    """Lower-case alphabetic words of ``text``: camelCase split (whole word kept too), no digit tokens."""
    words: list[str] = []
    for chunk in _CHUNK.findall(text or ""):
        for part in chunk.split("_"):
            if not part or any(ch.isdigit() for ch in part):
                continue
            pieces = _CAMEL.findall(part)
            lowered = [p.lower() for p in pieces if len(p) > 1]
            words.extend(lowered)
            if len(pieces) > 1 and len(part) > 1:
                words.append(part.lower())
    return words


def analyze(text: str, ngram_max: int = 2) -> list[str]:
    """Tokens plus word n-grams up to ``ngram_max`` (the TF-IDF analyzer; picklable via ``partial``)."""
    return list(_analyze_cached(text, ngram_max))


@lru_cache(maxsize=65536)
def _analyze_cached(text: str, ngram_max: int) -> tuple[str, ...]:
    # log texts repeat (templates), so most calls are cache hits
    tokens = text_tokens(text)
    out = list(tokens)
    for n in range(2, ngram_max + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return tuple(out)


def service_tokens(text: str) -> list[str]:
    return ["svc:" + t for t in text_tokens(text)]


# ------------------------------------------------------------------------------------------ features
#: Level vocabulary after folding synonyms; anything else (or a host name in the level column) is OTHER.
LEVELS = ("NONE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OTHER")
_LEVEL_FOLD = {
    "": "NONE", "TRACE": "DEBUG", "DEBUG": "DEBUG", "VERBOSE": "DEBUG", "INFO": "INFO", "NOTICE": "INFO",
    "WARN": "WARN", "ERROR": "ERROR", "ERR": "ERROR", "FAILURE": "ERROR", "FATAL": "FATAL", "CRITICAL": "FATAL",
    "CRIT": "FATAL", "SEVERE": "FATAL", "EMERG": "FATAL", "EMERGENCY": "FATAL", "ALERT": "FATAL", "PANIC": "FATAL",
}  # fmt: skip
SHAPE_FEATURES = ("log_lines", "log_variables", "log_words", "log_length")


def fold_level(level: object) -> str:
    return _LEVEL_FOLD.get(normalise_level(level), "OTHER")


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=65536)
def rule_hits(text: str, rules: tuple[tuple[str, str, str], ...]) -> tuple[int, ...]:
    """Indexes of the rules (id, category, pattern) whose pattern matches ``text``."""
    return tuple(i for i, (_, _, pattern) in enumerate(rules) if _regex(pattern).search(text))


def shape_values(template: str, message: str, n_lines: int) -> tuple[float, float, float, float]:
    """The template's shape (:data:`SHAPE_FEATURES`): lines, variables, words, message length, log-scaled."""
    shape = template or message
    return (math.log1p(n_lines), math.log1p(shape.count("<*>")), math.log1p(len(shape.split())),
            math.log1p(len(message)) / 4.0)  # fmt: skip

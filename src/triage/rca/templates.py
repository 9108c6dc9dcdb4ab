"""Template keys for log messages when the logs carry no ``template_id`` (a light stand-in for Drain).

A key keeps the words of a message and masks the values: every token holding a digit becomes ``<*>``,
except code locations such as ``TravelServiceImpl#372`` or ``handler.py:88`` — two log statements that
differ only in their line number are different statements, and a fault that skips one of them is
exactly what root-cause analysis looks for. Structured (JSON) messages are keyed on their ``message``
field. Only the first ``max_tokens`` tokens count, so long payload dumps do not split a statement.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

_SPLIT = re.compile(r"[\s,;\"'{}()\[\]=|<>]+")
_HAS_DIGIT = re.compile(r"\d")
# Class#line (Java loggers) or file.ext:line; "key:5"-style values are not code locations
_CODE_LOCATION = re.compile(r"^(?:[A-Za-z_$][\w$]*(?:\.[\w$]+)*#\d+|[\w/.-]+\.[A-Za-z]{1,5}:\d+)$")
_MESSAGE_KEYS = ("message", "msg", "log", "event")
MASK = "<*>"
_HEAD_CHARS = 240  # the statement is identified long before a payload dump ends


def template_key(message: str, *, max_tokens: int = 10) -> str:
    """The template key of one message (see the module docstring)."""
    text = _structured_message(message)[:_HEAD_CHARS]
    limit = max_tokens + 6  # split only as far as needed; the unsplit remainder is dropped
    parts = _SPLIT.split(text, maxsplit=limit)
    if len(parts) > limit:
        parts = parts[:-1]
    tokens: list[str] = []
    for token in parts:
        if not token:
            continue
        if not token.isalpha() and _HAS_DIGIT.search(token) and not _CODE_LOCATION.match(token):
            token = MASK
        tokens.append(token[:40])
        if len(tokens) >= max_tokens:
            break
    return " ".join(tokens)


def template_keys(messages: pd.Series, *, max_tokens: int = 10) -> pd.Series:
    """Template keys for a Series of messages (each distinct message is keyed once)."""
    codes, unique = pd.factorize(messages.astype(str))
    keys = np.array([template_key(m, max_tokens=max_tokens) for m in unique], dtype=object)
    return pd.Series(keys[codes], index=messages.index)


def _structured_message(message: str) -> str:
    if message[:1] != "{" and not (message[:1].isspace() and message.lstrip()[:1] == "{"):
        return message
    stripped = message.lstrip()
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return message
    if isinstance(parsed, dict):
        for key in _MESSAGE_KEYS:
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return value
    return message

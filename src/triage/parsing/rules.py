"""Redaction and masking rules as data: one ordered, named list each, loaded from YAML.

The defaults live in ``default_rules.yaml`` beside this module. A user file of the same shape
(``Settings.parsing_rules_path``) extends them: its rules run first, and a rule whose name matches a
default replaces that default. ``RuleSet.fingerprint()`` identifies the effective set, so miner state
and recovery snapshots can record exactly which rules produced their templates.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.errors import InvalidInput

#: Every replacement is a typed placeholder such as ``<EMAIL>`` or ``<IP>``.
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")

DEFAULT_RULES_RESOURCE = "default_rules.yaml"
#: The defaults are read by every ingest before its first batch: libyaml's safe loader, when PyYAML has it,
#: reads them ≈ 10x faster than the pure-Python one (the same data: both build it with SafeConstructor).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Rule(BaseModel):
    """One named regex rule: matches of ``pattern`` (or of its capture ``group``) become ``replacement``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pattern: str
    replacement: str
    scope: Literal["line", "token"] = "token"  # masking only: whole message, or one whitespace-free word
    group: int | None = Field(default=None, ge=1)  # redact only this capture group
    check: Literal["luhn"] | None = None  # a validator every match must also pass
    render: str = "<*>"  # masking only: how the mask is written in template text (e.g. "<*>:<*>:<*>")
    # masking only: a run of words that are all this placeholder (a list of ids) is one variable
    collapse_runs: bool = False
    # Speed hints (never change results when right): the regex runs only if the text contains one of
    # ``requires`` (compared lower-case) and, with ``requires_digit``, a digit.
    requires: tuple[str, ...] = ()
    requires_digit: bool = False

    @field_validator("replacement")
    @classmethod
    def _typed_placeholder(cls, value: str) -> str:
        if not PLACEHOLDER_RE.fullmatch(value):
            raise ValueError(f"replacement must look like <NAME> (upper case), got {value!r}")
        return value

    @field_validator("render")
    @classmethod
    def _renders_wildcard(cls, value: str) -> str:
        if "<*>" not in value or PLACEHOLDER_RE.search(value) or any(c.isspace() for c in value):
            raise ValueError(f"render must contain <*>, no placeholder and no spaces, got {value!r}")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        return value

    @cached_property
    def regex(self) -> re.Pattern[str]:
        compiled = re.compile(self.pattern)
        if self.group is not None and self.group > compiled.groups:
            raise InvalidInput(
                f"rule {self.name!r}: group {self.group} but the pattern has {compiled.groups}"
            )
        return compiled


class RuleSet(BaseModel):
    """The effective redaction rules (run first) and masking rules (run second), each in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    redaction: tuple[Rule, ...] = ()
    masking: tuple[Rule, ...] = ()

    @classmethod
    def defaults(cls) -> RuleSet:
        text = resources.files("triage.parsing").joinpath(DEFAULT_RULES_RESOURCE).read_text("utf-8")
        return cls.from_mapping(yaml.load(text, Loader=_SAFE_LOADER), origin=DEFAULT_RULES_RESOURCE)

    @classmethod
    def from_mapping(cls, data: Any, *, origin: str) -> RuleSet:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{origin}: expected a mapping with 'redaction' and/or 'masking' lists")
        try:
            ruleset = cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(f"{origin}: {where}: {first['msg']}") from None
        for rule in (*ruleset.redaction, *ruleset.masking):
            _ = rule.regex  # validates group numbers now rather than on first use
        ruleset.renders()  # validates that each placeholder is written one way
        return ruleset

    @classmethod
    def load(cls, extra_path: Path | None = None) -> RuleSet:
        """The defaults, extended by the rules in ``extra_path`` (YAML) when given."""
        base = cls.defaults()
        if extra_path is None:
            return base
        try:
            text = Path(extra_path).read_text("utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read parsing rules {extra_path}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"parsing rules {extra_path} are not valid YAML: {exc}".splitlines()[0]
            ) from None
        return base.extended(cls.from_mapping(data, origin=str(extra_path)))

    def extended(self, extra: RuleSet) -> RuleSet:
        """``extra``'s rules first, then ours; a rule named like one of ours replaces it."""
        merged = RuleSet(
            redaction=_merge(extra.redaction, self.redaction),
            masking=_merge(extra.masking, self.masking),
        )
        merged.renders()  # the two sets must agree on how each placeholder is written
        return merged

    def renders(self) -> dict[str, str]:
        """How each masking placeholder is written in template text (``<*>`` unless a rule says otherwise)."""
        renders: dict[str, str] = {}
        for rule in self.masking:
            known = renders.setdefault(rule.replacement, rule.render)
            if known != rule.render:
                raise InvalidInput(
                    f"masking rules disagree on how to write {rule.replacement}: {known!r} vs {rule.render!r}"
                )
        return renders

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=True)

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the rules: equal fingerprints, equal behaviour."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _merge(first: Iterable[Rule], then: Iterable[Rule]) -> tuple[Rule, ...]:
    first = tuple(first)
    names = {rule.name for rule in first}
    return first + tuple(rule for rule in then if rule.name not in names)

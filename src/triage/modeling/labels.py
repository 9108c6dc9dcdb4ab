"""Labelled examples for the error classifier: weak labels from the rule pack, dataset labels, feedback.

Every source produces the same typed frame, :data:`LABELLED_EXAMPLES` (one row per event)::

    ts, dataset, service, level, template, message, n_lines, category, severity, label_source

* **Rules** (:func:`weak_labels`): the reviewed seed pack ``rules/seed.yaml`` (first match wins) labels
  events of the store; error-level events no rule matches become ``UNKNOWN``. ``label_source`` is
  ``rule:<id>`` (``rule:none`` for the UNKNOWN fallback).
* **Datasets**: public labelled logs mapped onto the taxonomy by ``rules/dataset_labels.yaml``
  (:func:`dataset_label_map`; the converters live in :mod:`triage.modeling.datasets`).
  ``label_source`` is ``dataset:<name>``.
* **Seed examples** (:func:`seed_examples`): ``rules/seed_examples.yaml``, verbatim messages of widely
  used software for every category (so that categories absent from the bundled logs can be learnt).
  ``label_source`` is ``seed``.
* **Feedback** (:func:`feedback_examples`): analysts' corrections, a frame of ``message, template,
  service, level`` plus the corrected ``category`` and ``severity`` (optional ``ts``).
  ``label_source`` is ``feedback``.

:func:`combine_examples` concatenates the sources; where two sources label the same text (template, or
the message when there is no template), the higher-priority source wins for every row of that text:
feedback > dataset = seed > rule. Labels are validated against the taxonomy at this boundary.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from triage.errors import InvalidInput
from triage.modeling.taxonomy import (
    DEFAULT_TAXONOMY,
    SEVERITIES,
    UNKNOWN,
    Severity,
    Taxonomy,
    normalise_level,
    severity_for,
)

if TYPE_CHECKING:
    import pandas as pd

RULES_DIR = Path(__file__).with_name("rules")
SEED_PACK = RULES_DIR / "seed.yaml"
SEED_EXAMPLES = RULES_DIR / "seed_examples.yaml"
DATASET_LABELS = RULES_DIR / "dataset_labels.yaml"

#: Columns of every labelled-examples frame, in order.
LABELLED_COLUMNS = (
    "ts", "dataset", "service", "level", "template", "message", "n_lines", "category", "severity", "label_source",
    "native_label",
)  # fmt: skip
#: Columns the classifier reads (its X); the labels are ``category`` and ``severity``.
FEATURE_COLUMNS = ("template", "message", "level", "service", "n_lines")
#: Levels whose events are labelled even when no rule matches (as UNKNOWN): errors and warnings.
ERRORISH_LEVELS = frozenset(
    {"WARN", "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "SEVERE", "ALERT", "EMERG", "EMERGENCY", "PANIC",
     "FAILURE"}
)  # fmt: skip
#: Levels of informational lines: rules do not label them (a "timeout set to 30s" INFO line is no error).
INFORMATIONAL_LEVELS = frozenset({"INFO", "DEBUG", "TRACE", "NOTICE", "VERBOSE"})
#: Which source wins when two label the same text.
SOURCE_PRIORITY = {"feedback": 3, "dataset": 2, "seed": 2, "rule": 1}


class LabelError(InvalidInput):
    """A rule pack, label mapping or labelled frame is malformed."""


# ------------------------------------------------------------------------------------------ rule pack
class Rule(BaseModel):
    """One weak-labelling rule: a case-insensitive regex and the label it gives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    category: str
    pattern: str = Field(min_length=1)
    severity: Severity | None = None
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from exc
        return value

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)


class Review(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: str
    date: str
    notes: str = ""


class RulePack(BaseModel):
    """An ordered list of rules (first match wins) with who reviewed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    reviewed: Review
    rules: tuple[Rule, ...] = Field(min_length=1)

    def check(self, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> RulePack:
        """Raise :class:`LabelError` for duplicate ids or categories outside ``taxonomy``."""
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise LabelError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
            if rule.category not in taxonomy:
                raise LabelError(f"rule {rule.id}: category {rule.category!r} is not in the taxonomy")
        return self

    def match(self, text: str) -> Rule | None:
        """The first rule whose pattern occurs in ``text``."""
        for rule in self.rules:
            if rule.regex.search(text):
                return rule
        return None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def load_rule_pack(path: Path | None = None, *, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> RulePack:
    """Read and validate a rule pack (default: the bundled, reviewed ``rules/seed.yaml``)."""
    path = SEED_PACK if path is None else Path(path)
    data = _read_yaml(path)
    try:
        pack = RulePack.model_validate(data)
    except ValidationError as exc:
        raise LabelError(f"{path.name}: {_first_error(exc)}") from exc
    return pack.check(taxonomy)


def dataset_label_map(dataset: str, *, path: Path | None = None, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> dict[str, str]:
    """``native label -> category`` for one labelled dataset (``bgl``, ``hadoop``, ``nezha``)."""
    path = DATASET_LABELS if path is None else Path(path)
    data = _read_yaml(path)
    datasets = data.get("datasets") if isinstance(data, dict) else None
    if not isinstance(datasets, dict) or dataset not in datasets:
        known = ", ".join(sorted(datasets)) if isinstance(datasets, dict) else "none"
        raise LabelError(f"{path.name}: no label mapping for dataset {dataset!r} (known: {known})")
    labels = datasets[dataset].get("labels") or {}
    mapping = {str(native): str(entry["category"]) for native, entry in labels.items()}
    taxonomy.validate_labels(mapping.values(), what=f"{dataset} mapping category")
    return mapping


def seed_examples(path: Path | None = None, *, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> pd.DataFrame:
    """The reviewed seed examples as labelled examples (``dataset`` = ``seed``)."""
    import pandas as pd

    path = SEED_EXAMPLES if path is None else Path(path)
    data = _read_yaml(path)
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, dict) or not examples:
        raise LabelError(f"{path.name}: expected an 'examples' mapping of category -> list of messages")
    rows = []
    for category, items in examples.items():
        taxonomy.get(str(category))
        for item in items or []:
            if not isinstance(item, dict) or not item.get("message"):
                raise LabelError(f"{path.name}: {category}: every example needs a message")
            level = normalise_level(item.get("level"))
            severity = item.get("severity") or severity_for(str(category), level, taxonomy)
            rows.append({"message": str(item["message"]), "level": level, "category": str(category),
                         "severity": str(severity), "dataset": "seed", "label_source": "seed"})
    return validate_examples(pd.DataFrame(rows), taxonomy=taxonomy)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelError(f"label file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise LabelError(f"{path.name} is not valid YAML: {exc}".splitlines()[0]) from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"


# ------------------------------------------------------------------------------------------ frames
def empty_examples() -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in LABELLED_COLUMNS})
    frame["ts"] = pd.Series(dtype="datetime64[ns]")
    frame["n_lines"] = pd.Series(dtype="int64")
    return frame


def validate_examples(frame: pd.DataFrame, *, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> pd.DataFrame:
    """A clean copy of a labelled-examples frame in :data:`LABELLED_COLUMNS` order, or :class:`LabelError`."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise LabelError(f"labelled examples must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("message", "category", "severity") if c not in frame.columns]
    if missing:
        raise LabelError(f"labelled examples lack column(s) {', '.join(missing)}")
    out = frame.copy()
    for column in LABELLED_COLUMNS:
        if column not in out.columns:
            out[column] = None
    out["message"] = out["message"].astype(object).where(out["message"].notna(), "").astype(str)
    if (out["message"].str.strip() == "").all() and len(out):
        raise LabelError("labelled examples have no message text")
    out["template"] = out["template"].where(out["template"].notna(), "").astype(str)
    out["service"] = out["service"].where(out["service"].notna(), "").astype(str)
    out["dataset"] = out["dataset"].where(out["dataset"].notna(), "").astype(str)
    out["level"] = [normalise_level(v) for v in out["level"]]
    out["n_lines"] = pd.to_numeric(out["n_lines"], errors="coerce").fillna(1).astype("int64").clip(lower=1)
    out["ts"] = pd.to_datetime(out["ts"], errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    out["category"] = out["category"].astype(str).str.strip().str.upper()
    out["severity"] = out["severity"].astype(str).str.strip().str.upper()
    out["label_source"] = out["label_source"].where(out["label_source"].notna(), "unknown").astype(str)
    out["native_label"] = out["native_label"].where(out["native_label"].notna(), "").astype(str)
    taxonomy.validate_labels(out["category"].unique())
    bad = sorted(set(out["severity"]) - set(SEVERITIES))
    if bad:
        raise LabelError(f"severity {bad[0]!r} is not one of {', '.join(SEVERITIES)}")
    return out[list(LABELLED_COLUMNS)].reset_index(drop=True)


def weak_labels(
    events: pd.DataFrame,
    pack: RulePack | None = None,
    *,
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    unmatched_levels: frozenset[str] = ERRORISH_LEVELS,
) -> pd.DataFrame:
    """Label events with the rule pack.

    ``events`` needs ``message`` (or ``content``) and may have ``template`` (or ``text``), ``level``,
    ``service``, ``ts``, ``n_lines``, ``dataset``. Informational events (:data:`INFORMATIONAL_LEVELS`)
    are not error events and are left out; events without a level are kept. Each remaining event is
    matched on its template text and its message; a match gives the rule's category and severity (or
    :func:`severity_for` of the category and level). Events no rule matches become ``UNKNOWN`` when their
    level is in ``unmatched_levels`` and are left out otherwise (an unlabelled line is not an example).
    """
    import pandas as pd

    pack = load_rule_pack(taxonomy=taxonomy) if pack is None else pack.check(taxonomy)
    frame = _as_text_frame(events)
    if frame.empty:
        return empty_examples()
    texts = (frame["template"] + "\n" + frame["message"]).to_numpy()
    unique = pd.unique(texts)
    rule_of = {text: pack.match(text) for text in unique}
    rules = [rule_of[t] for t in texts]
    levels = frame["level"].tolist()
    keep, categories, severities, sources = [], [], [], []
    for rule, level in zip(rules, levels, strict=True):
        if level in INFORMATIONAL_LEVELS:
            rule = None
        if rule is not None:
            category = rule.category
            severity = rule.severity or severity_for(category, level, taxonomy)
            source = f"rule:{rule.id}"
        elif level in unmatched_levels:
            category, severity, source = UNKNOWN, severity_for(UNKNOWN, level, taxonomy), "rule:none"
        else:
            keep.append(False)
            categories.append(None)
            severities.append(None)
            sources.append(None)
            continue
        keep.append(True)
        categories.append(category)
        severities.append(str(severity))
        sources.append(source)
    frame = frame.assign(category=categories, severity=severities, label_source=sources)
    return validate_examples(frame[pd.Series(keep, index=frame.index)], taxonomy=taxonomy)


def feedback_examples(feedback: pd.DataFrame, *, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> pd.DataFrame:
    """Analyst corrections as labelled examples (``dataset`` = ``feedback``)."""
    frame = _as_text_frame(feedback, require_labels=True)
    frame["dataset"] = frame["dataset"].where(frame["dataset"] != "", "feedback")
    frame["label_source"] = "feedback"
    return validate_examples(frame, taxonomy=taxonomy)


def combine_examples(*parts: pd.DataFrame | None, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> pd.DataFrame:
    """Concatenate labelled frames; for a text labelled by several sources the highest priority wins."""
    import pandas as pd

    frames = [validate_examples(p, taxonomy=taxonomy) for p in parts if p is not None and len(p)]
    if not frames:
        return empty_examples()
    frame = pd.concat(frames, ignore_index=True)
    key = frame["template"].where(frame["template"] != "", frame["message"])
    kind = frame["label_source"].str.split(":", n=1).str[0]
    priority = kind.map(SOURCE_PRIORITY).fillna(0).astype(int)
    best = priority.groupby(key).transform("max")
    winner = frame[priority == best]
    # every row of an overridden text takes the winning label (the latest winning row, if several)
    winning = winner.assign(_key=key[priority == best]).drop_duplicates("_key", keep="last").set_index("_key")
    override = priority < best
    if override.any():
        keys = key[override]
        frame.loc[override, "category"] = winning.loc[keys, "category"].to_numpy()
        frame.loc[override, "severity"] = winning.loc[keys, "severity"].to_numpy()
        frame.loc[override, "label_source"] = winning.loc[keys, "label_source"].to_numpy()
    return frame.reset_index(drop=True)


def _as_text_frame(frame: pd.DataFrame, *, require_labels: bool = False) -> pd.DataFrame:
    """Rename store/view columns to the labelled-example names and fill the optional ones."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise LabelError(f"expected a DataFrame, got {type(frame).__name__}")
    out = frame.rename(columns={"content": "message", "text": "template"}).copy()
    if "message" not in out.columns:
        raise LabelError("events need a message (or content) column")
    if require_labels:
        missing = [c for c in ("category", "severity") if c not in out.columns]
        if missing:
            raise LabelError(f"feedback lacks column(s) {', '.join(missing)}")
    for column, default in (("template", ""), ("service", ""), ("dataset", ""), ("level", None), ("n_lines", 1)):
        if column not in out.columns:
            out[column] = default
    if "ts" not in out.columns:
        out["ts"] = pd.NaT
    out["message"] = out["message"].where(out["message"].notna(), "").astype(str)
    out["template"] = out["template"].where(out["template"].notna(), "").astype(str)
    out["service"] = out["service"].where(out["service"].notna(), "").astype(str)
    out["dataset"] = out["dataset"].where(out["dataset"].notna() & (out["dataset"] != ""), out["service"]).astype(str)
    out["level"] = [normalise_level(v) for v in out["level"]]
    return out

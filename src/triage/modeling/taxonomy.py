"""The error taxonomy: what kind of failure an error event reports, and how bad it is.

A *category* names the cause class an operator acts on (a runbook exists per category); a *severity*
says how urgently. The built-in categories are listed in :data:`DEFAULT_TAXONOMY` with a one-line
definition, the words that usually signal them and a default severity. Categories are plain upper-case
strings everywhere (labels, models, API), so the taxonomy is extensible: ``Taxonomy.extend`` adds a
category (for example ``QUEUE_BACKLOG``) and every component that trains or validates labels takes the
taxonomy as an argument. Removing or renaming a built-in category is deliberately not supported: stored
labels and feedback refer to them.

``UNKNOWN`` is a real class: an error whose cause the taxonomy cannot name. It is what a model should
answer for an error unlike anything it was trained on, and what unmatched error lines are labelled with.

Severities (:class:`Severity`) are ordered ``LOW < MEDIUM < HIGH < CRITICAL``:

* ``CRITICAL`` — patient-facing outage or data/PHI at risk now; page immediately.
* ``HIGH`` — a service is failing or will fail soon; act within the hour.
* ``MEDIUM`` — degraded or failing for some requests; act today.
* ``LOW`` — noise or a self-healing condition; review.

:func:`severity_for` is the documented default used to *label* severity where a source gives only a
category and a log level (dataset labels, rules without an explicit severity): the category's default,
one step up for FATAL-like levels, one step down for WARN and two for INFO/DEBUG.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from triage.errors import InvalidInput


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def shifted(self, steps: int) -> Severity:
        """The severity ``steps`` ranks up (positive) or down (negative), clamped to LOW..CRITICAL."""
        return _SEVERITY_ORDER[max(0, min(len(_SEVERITY_ORDER) - 1, self.rank + steps))]


_SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
SEVERITIES: tuple[str, ...] = tuple(s.value for s in _SEVERITY_ORDER)

_NAME = re.compile(r"^[A-Z][A-Z0-9_]{1,47}$")


@dataclass(frozen=True, slots=True)
class Category:
    """One category: its name, what it means, the words that usually signal it, its default severity."""

    name: str
    definition: str
    default_severity: Severity
    signals: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInput(f"category name {self.name!r} must be UPPER_SNAKE_CASE (2-48 characters)")


UNKNOWN = "UNKNOWN"

_BUILT_IN = (
    Category(
        "DATABASE_CONNECTION",
        "The service cannot reach, authenticate to or get a connection from its database "
        "(refused connections, exhausted pools, lost links, deadlocks).",
        Severity.HIGH,
        ("jdbc", "sql", "pool", "database", "postgres", "mysql", "deadlock"),
    ),
    Category(
        "NETWORK",
        "Packets do not get through: refused or reset connections, unreachable hosts, DNS failures, "
        "broken links and sockets.",
        Severity.HIGH,
        ("connection refused", "reset by peer", "no route to host", "unreachable", "dns", "socket"),
    ),
    Category(
        "TIMEOUT",
        "A call or operation exceeded its deadline (the other side may be slow rather than down).",
        Severity.MEDIUM,
        ("timed out", "timeout", "deadline exceeded"),
    ),
    Category(
        "RESOURCE_EXHAUSTION",
        "A finite resource ran out: memory, disk, CPU, threads, file descriptors, quotas, rate limits.",
        Severity.HIGH,
        ("out of memory", "no space left", "disk full", "too many open files", "quota"),
    ),
    Category(
        "AUTHENTICATION",
        "Identity could not be established: bad or expired credentials, tokens or certificates.",
        Severity.MEDIUM,
        ("authentication failure", "invalid credentials", "token expired", "certificate"),
    ),
    Category(
        "CONFIGURATION",
        "A setting, file, path or parameter is missing or wrong; the code is fine but mis-deployed.",
        Severity.MEDIUM,
        ("missing property", "invalid configuration", "no such file", "not found"),
    ),
    Category(
        "DEPENDENCY_FAILURE",
        "A service or component the system depends on is down or answering with errors "
        "(upstream 5xx, unavailable services, failed mounts, unavailable brokers).",
        Severity.HIGH,
        ("service unavailable", "503", "bad gateway", "mount failed"),
    ),
    Category(
        "CODE_DEFECT",
        "The program itself is wrong: unhandled exceptions, null references, assertion failures, panics.",
        Severity.MEDIUM,
        ("nullpointerexception", "assert", "panic", "unhandled exception", "segmentation fault"),
    ),
    Category(
        "DATA_INTEGRITY",
        "Data is invalid, inconsistent or corrupt: constraint violations, checksum mismatches, "
        "records that fail validation or cannot be found where they must be.",
        Severity.HIGH,
        ("constraint violation", "duplicate key", "checksum", "corrupt", "invalid record"),
    ),
    Category(
        "HARDWARE",
        "A physical component is failing: memory/cache/ECC errors, machine checks, disk or I/O errors, "
        "power, fans, temperature.",
        Severity.HIGH,
        ("machine check", "parity error", "ecc", "i/o error", "temperature", "fan"),
    ),
    Category(
        "SECURITY",
        "Possible attack or policy breach: break-in attempts, forbidden access, access to PHI "
        "outside policy, invalid users probing the system.",
        Severity.HIGH,
        ("break-in", "invalid user", "forbidden", "intrusion"),
    ),
    Category(
        UNKNOWN,
        "An error whose cause none of the other categories names (or that a model has not seen before).",
        Severity.LOW,
    ),
)


@dataclass(frozen=True)
class Taxonomy:
    """An ordered set of categories. Immutable: :meth:`extend` returns a new taxonomy."""

    categories: tuple[Category, ...] = _BUILT_IN
    _by_name: Mapping[str, Category] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Category] = {}
        for category in self.categories:
            if category.name in by_name:
                raise InvalidInput(f"category {category.name} is defined twice")
            by_name[category.name] = category
        if UNKNOWN not in by_name:
            raise InvalidInput("a taxonomy must keep the UNKNOWN category")
        object.__setattr__(self, "_by_name", by_name)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    def get(self, name: str) -> Category:
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidInput(f"unknown category {name!r}; known: {', '.join(self.names)}") from None

    def extend(self, *categories: Category) -> Taxonomy:
        """A taxonomy with ``categories`` added after the built-in ones (names must be new)."""
        return Taxonomy((*self.categories, *categories))

    def validate_labels(self, labels: Iterable[object], *, what: str = "category") -> None:
        """Raise :class:`InvalidInput` naming the first label that is not a category of this taxonomy."""
        for label in labels:
            if label not in self._by_name:
                raise InvalidInput(f"{what} {label!r} is not in the taxonomy ({', '.join(self.names)})")


DEFAULT_TAXONOMY = Taxonomy()

#: Levels (upper-cased) that raise / lower the default severity by one or two steps.
_LEVEL_SHIFT = {
    "FATAL": 1, "CRITICAL": 1, "CRIT": 1, "EMERG": 1, "EMERGENCY": 1, "ALERT": 1, "PANIC": 1, "SEVERE": 1,
    "ERROR": 0, "ERR": 0, "FAILURE": 0,
    "WARN": -1, "WARNING": -1,
    "NOTICE": -2, "INFO": -2, "DEBUG": -2, "TRACE": -2,
}  # fmt: skip


def normalise_level(level: object) -> str:
    """Upper-case level word, ``WARNING`` folded to ``WARN``; missing levels become ``""``."""
    if level is None or (isinstance(level, float) and level != level):  # None or NaN
        return ""
    word = str(level).strip().upper()
    return "WARN" if word == "WARNING" else word


def severity_for(category: str, level: object, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> Severity:
    """The default severity label of an event of ``category`` logged at ``level`` (see module doc)."""
    base = taxonomy.get(category).default_severity
    return base.shifted(_LEVEL_SHIFT.get(normalise_level(level), 0))


def parse_severity(value: object) -> Severity:
    try:
        return Severity(str(value).strip().upper())
    except ValueError:
        raise InvalidInput(f"severity {value!r} is not one of {', '.join(SEVERITIES)}") from None

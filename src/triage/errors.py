"""Domain errors. Each domain subclasses these; only the edges (CLI, API) map them to exit codes / HTTP."""

from __future__ import annotations


def summarize(exc: BaseException, limit: int | None = 300) -> str:
    """One line saying what went wrong, for a readiness check or a log field (a traceback's first line), cut
    at ``limit`` characters (``None``: whole)."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:limit]


class TriageError(Exception):
    """Base of every error triage raises on purpose. The message is one line a user can act on."""


class InvalidInput(TriageError):
    """The caller gave something triage cannot use (bad file, format, argument). CLI exit 2, HTTP 422."""


class NotFound(TriageError):
    """A named thing (snapshot, incident, model, change) does not exist. CLI exit 2, HTTP 404."""


class Conflict(TriageError):
    """The request clashes with current state (invalid transition, lock held). CLI exit 2, HTTP 409."""


class PermissionDenied(TriageError):
    """The actor may not do this (wrong role, self-approval). CLI exit 2, HTTP 403."""


class IntegrityError(TriageError):
    """Stored data failed a checksum or chain check. CLI exit 2 (or 1 for verify), HTTP 409."""

"""Errors of the recovery domain; the CLI maps them to exit code 2 with one line, the API to 4xx."""

from __future__ import annotations

from triage.errors import Conflict, IntegrityError, InvalidInput, NotFound


class SnapshotKeyError(InvalidInput):
    """The snapshot key is missing, malformed or not the one the snapshots were written with."""


class SnapshotNotFound(NotFound):
    """No snapshot has this id."""


class SnapshotCorrupt(IntegrityError):
    """A snapshot file failed its checksum or authentication; ``path`` names the first bad one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class RestoreRefused(Conflict):
    """A restore or rollback cannot go ahead (the snapshot lacks the component, a check failed, …)."""


class JournalError(IntegrityError):
    """The journal is damaged in the middle (not just a torn last line) or out of order."""

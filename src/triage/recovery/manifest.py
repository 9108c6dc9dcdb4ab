"""Snapshot manifests: what a snapshot holds, with a size and sha256 for every file. Pure data, no I/O.

A snapshot covers some of four *components*. Each file is named by a logical path whose first part says
where it goes back to, so a snapshot can be restored into another home folder:

============  =====================================================  ============================
component     logical paths                                          restored to
============  =====================================================  ============================
``store``     ``store/db`` (+ ``store/wal`` if DuckDB left one)      ``settings.store_path``
              ``journal/<stream>/seg-….jsonl`` (journal mode)        replayed, never written back
``models``    ``models/…`` (``mlflow.db`` copied by sqlite backup)   ``settings.models_dir``
``config``    ``interim/…``, ``config/…``                            ``settings.interim_dir``, ``<home>/config``
              ``settings/settings.json``, ``settings/secrets.json``  kept as records, never written back
``code``      ``code/git.json``, ``code/packages.json``              kept as records (redeploy by hand)
============  =====================================================  ============================

Files are split into chunks stored once under a keyed content address (see :mod:`.crypto`), so a file's
entry is its ordered list of chunk ids. A store captured in *journal mode* reuses the parent's chunks for
``store/db`` and adds the journal segments that bring it forward (``journal_from`` < seq ≤ ``journal_to``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMAT = 1


class Component(StrEnum):
    STORE = "store"
    MODELS = "models"
    CONFIG = "config"
    CODE = "code"


ALL_COMPONENTS: tuple[Component, ...] = tuple(Component)

#: First part of a logical path → the component it belongs to.
ROOT_COMPONENT: dict[str, Component] = {
    "store": Component.STORE,
    "journal": Component.STORE,
    "models": Component.MODELS,
    "interim": Component.CONFIG,
    "config": Component.CONFIG,
    "settings": Component.CONFIG,
    "code": Component.CODE,
}

#: Roots that are records kept in the snapshot, not files written back on restore.
RECORD_ROOTS = frozenset({"journal", "settings", "code"})


class FileEntry(BaseModel):
    """One file of a snapshot: its logical path, size, sha256 and the chunks that hold its bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chunks: tuple[str, ...]
    mode: int = 0o644
    #: size:mtime:ctime:inode:dev (+ a hash of the head for the store) when captured; an equal key later
    #: proves the file unchanged, so the next incremental snapshot reuses this entry without reading it.
    stat_key: str | None = None

    @field_validator("path")
    @classmethod
    def _logical(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) < 2 or parts[0] not in ROOT_COMPONENT or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"not a logical snapshot path: {value!r}")
        return value

    @property
    def root(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def relative(self) -> str:
        return self.path.split("/", 1)[1]

    @property
    def component(self) -> Component:
        return ROOT_COMPONENT[self.root]


class StoreCapture(BaseModel):
    """How the store was captured: its journal position and whether its bytes are a base plus a journal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["chunks", "journal", "absent"] = "chunks"
    stream: str = "ingest"
    #: The last journal seq whose effects are in ``store/db`` (0 when the store records none).
    position: int = 0
    #: Journal mode: entries ``journal_from < seq <= journal_to`` are replayed on top of ``store/db``.
    journal_from: int | None = None
    journal_to: int | None = None
    #: Id of the unbroken run of journaled writes the store was in when captured (see journal.py).
    chain: str | None = None
    #: The snapshot whose chunk copy of ``store/db`` this one reuses (journal mode).
    base: str | None = None

    @property
    def effective_position(self) -> int:
        """The journal seq the restored store will have reached."""
        return self.journal_to if self.mode == "journal" and self.journal_to is not None else self.position


class SnapshotManifest(BaseModel):
    """Everything needed to verify and restore one snapshot. Stored encrypted; shown without secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = FORMAT
    id: str = Field(pattern=r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
    created_at: datetime
    creator: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    parent: str | None = None
    components: tuple[Component, ...]
    chunk_size: int = Field(gt=0)
    key_id: str
    files: tuple[FileEntry, ...]
    store: StoreCapture | None = None
    #: Non-secret facts per component (git commit, package count, MLflow registry summary, …).
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def kind(self) -> Literal["full", "partial"]:
        return "full" if set(self.components) == set(ALL_COMPONENTS) else "partial"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def files_of(self, component: Component) -> list[FileEntry]:
        return [f for f in self.files if f.component == component]

    def file(self, path: str) -> FileEntry | None:
        return next((f for f in self.files if f.path == path), None)

    def chunk_ids(self) -> set[str]:
        return {c for f in self.files for c in f.chunks}

    def summary(self) -> dict[str, Any]:
        """What `snapshot list/show` print: no chunk ids, no secrets."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "kind": self.kind,
            "components": [c.value for c in self.components],
            "reason": self.reason,
            "creator": self.creator,
            "parent": self.parent,
            "files": len(self.files),
            "bytes": self.total_bytes,
            "store_mode": self.store.mode if self.store else None,
            "journal_position": self.store.effective_position if self.store else None,
        }


def snapshot_id(created_at: datetime, token: str) -> str:
    """Sortable id: UTC time to the second plus 6 hex digits (``20260527T061500Z-3f2a9c``)."""
    return f"{created_at.strftime('%Y%m%dT%H%M%SZ')}-{token}"

"""Read and write incident bundles as folders: ``bundle.json`` + one Parquet file per table.

``bundle.json`` is the :class:`~triage.rca.bundle.BundleManifest`; its ``tables`` entry lists each
table's file, row count and sha256, which are checked on load (a changed file is an IntegrityError).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from triage.errors import IntegrityError
from triage.rca.bundle import TABLE_COLUMNS, BundleError, BundleManifest, IncidentBundle, TableInfo

MANIFEST_FILE = "bundle.json"


def is_bundle_dir(folder: Path) -> bool:
    """True when ``folder`` holds a bundle manifest (checked by content, not by name)."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return False
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and head.get("format") == "triage.rca.bundle"


def save_bundle(bundle: IncidentBundle, folder: Path) -> Path:
    """Write ``bundle`` into ``folder`` (created if needed); returns the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, TableInfo] = {}
    for name in TABLE_COLUMNS:
        frame = getattr(bundle, name)
        if frame is None:
            continue
        file = f"{name}.parquet"
        tmp = folder / f".{file}.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / file)
        tables[name] = TableInfo(file=file, rows=len(frame), sha256=_sha256(folder / file))
    manifest = bundle.manifest.model_copy(update={"tables": tables})
    path = folder / MANIFEST_FILE
    tmp = folder / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_bundle(folder: Path) -> IncidentBundle:
    """Read a bundle folder written by :func:`save_bundle`; checksums are verified."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST_FILE}")
    try:
        manifest = BundleManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "manifest"
        raise BundleError(f"{path}: invalid manifest at {where}: {first.get('msg')}") from exc
    tables: dict[str, pd.DataFrame] = {}
    for name, info in manifest.tables.items():
        if name not in TABLE_COLUMNS:
            raise BundleError(f"{path}: unknown table {name!r}")
        file = (folder / info.file).resolve()
        if folder.resolve() not in file.parents:
            raise BundleError(f"{path}: table {name!r} points outside the bundle folder")
        if not file.is_file():
            raise BundleError(f"{path}: table file {info.file} is missing")
        if _sha256(file) != info.sha256:
            raise IntegrityError(f"{file}: checksum does not match {MANIFEST_FILE}")
        try:
            tables[name] = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise BundleError(f"{file}: not a readable Parquet file ({type(exc).__name__})") from exc
    return IncidentBundle(manifest=manifest, **tables)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

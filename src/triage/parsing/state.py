"""Miner state on disk: project-written JSON with a sha256 over its body, verified on load.

The file is ``{"format": ..., "format_version": 1, "sha256": <hex>, "body": {...}}`` where the hash is
over the canonical JSON of ``body`` (sorted keys, no spaces). Writing is atomic (temp file + rename),
so a crash leaves the previous state. Loading uses ``json`` only: nothing is unpickled, ever.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from triage.errors import IntegrityError, InvalidInput, NotFound
from triage.storage.files import write_durably

STATE_FORMAT = "triage.parsing.miner-state"
STATE_FORMAT_VERSION = 1


def canonical_json(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def body_checksum(body: Any) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def write_state(path: Path, body: dict[str, Any]) -> str:
    """Write ``body`` to ``path`` atomically; returns its sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checksum = body_checksum(body)
    document = {
        "format": STATE_FORMAT,
        "format_version": STATE_FORMAT_VERSION,
        "sha256": checksum,
        "body": body,
    }
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    write_durably(path, data)
    return checksum


def read_state(path: Path) -> dict[str, Any]:
    """The verified body of a state file. ``IntegrityError`` if it was altered or is not ours."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"miner state not found: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read miner state {path}: {exc.strerror}") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise IntegrityError(
            f"miner state {path} is not valid JSON (corrupt or not a triage state file)"
        ) from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise IntegrityError(f"{path} is not a triage miner state file")
    if document.get("format_version") != STATE_FORMAT_VERSION:
        raise IntegrityError(
            f"miner state {path} has unsupported format_version {document.get('format_version')!r}"
        )
    body = document.get("body")
    if not isinstance(body, dict) or body_checksum(body) != document.get("sha256"):
        raise IntegrityError(f"miner state {path} failed its sha256 check (modified or corrupt)")
    return body

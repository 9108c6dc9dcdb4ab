from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage.errors import IntegrityError, NotFound
from triage.parsing.state import read_state, write_state


def test_round_trip(tmp_path: Path) -> None:
    body = {"a": [1, 2], "text": "é"}
    checksum = write_state(tmp_path / "s" / "state.json", body)
    assert read_state(tmp_path / "s" / "state.json") == body
    assert len(checksum) == 64
    assert not list((tmp_path / "s").glob("*.tmp"))


def test_tampered_body_fails_checksum(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_state(path, {"templates": ["a <*>"]})
    document = json.loads(path.read_text())
    document["body"]["templates"] = ["b <*>"]
    path.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match="sha256"):
        read_state(path)


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"format": "something else"}', b'{"py/object": "os.system"}', b"\xff\xfe"],
)
def test_foreign_files_are_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(IntegrityError):
        read_state(path)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_state(tmp_path / "absent.json")

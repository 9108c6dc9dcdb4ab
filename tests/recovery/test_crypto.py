from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from triage.recovery.crypto import SnapshotCipher, generate_key
from triage.recovery.errors import SnapshotCorrupt, SnapshotKeyError


def test_round_trip_and_context_binding() -> None:
    cipher = SnapshotCipher.from_secret(SecretStr(generate_key()))
    blob = cipher.seal_bytes(b"patient-free payload" * 100, "chunk-a")
    assert b"patient-free" not in blob
    assert cipher.open(blob, "chunk-a", what="x") == b"patient-free payload" * 100
    with pytest.raises(SnapshotCorrupt, match="failed authentication"):
        cipher.open(blob, "chunk-b", what="x")  # moved to another name


@pytest.mark.parametrize("position", [0, 5, 30, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    cipher = SnapshotCipher.from_secret(generate_key())
    blob = bytearray(cipher.seal_bytes(b"x" * 1000, "c"))
    blob[position] ^= 0x01
    with pytest.raises(SnapshotCorrupt):
        cipher.open(bytes(blob), "c", what="chunk c")


def test_keys_missing_malformed_or_short_are_clear_errors() -> None:
    with pytest.raises(SnapshotKeyError, match="no snapshot key"):
        SnapshotCipher.from_secret(None)
    with pytest.raises(SnapshotKeyError, match="no snapshot key"):
        SnapshotCipher.from_secret(SecretStr("  "))
    with pytest.raises(SnapshotKeyError, match="not valid base64"):
        SnapshotCipher.from_secret("not base64 at all!")
    with pytest.raises(SnapshotKeyError, match="32 bytes"):
        SnapshotCipher.from_secret(base64.b64encode(b"short").decode())


def test_chunk_ids_are_keyed_and_deterministic() -> None:
    a, b = SnapshotCipher.from_secret(generate_key()), SnapshotCipher.from_secret(generate_key())
    assert a.chunk_id(b"same") == a.chunk_id(b"same")
    assert a.chunk_id(b"same") != a.chunk_id(b"other")
    assert a.chunk_id(b"same") != b.chunk_id(b"same")  # names reveal nothing without the key
    assert a.key_id != b.key_id

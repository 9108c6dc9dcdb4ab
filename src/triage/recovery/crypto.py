"""Encryption at rest for snapshots: AES-256-GCM with keys derived from the one snapshot key.

The key (``settings.snapshot_key``: base64 of 32 random bytes) is never written beside the snapshots. Only a
*key id* is, an HMAC of a fixed label under the key: it tells a wrong key apart from damaged data without
revealing anything about the key. Two sub-keys are derived with HKDF: one encrypts, one names chunks.

Chunk ids are ``HMAC(id_key, sha256(plaintext))`` rather than a bare sha256, so that the names of stored
chunks reveal nothing about their content (a bare hash would let anyone holding the snapshot folder confirm
a guess of a small config file). Equal content still gets equal ids under one key: that is the dedup.

Every sealed blob is ``MAGIC | key_id (8 bytes) | nonce (12 bytes) | ciphertext+tag``; the header and a
context string (the chunk id, or the manifest id) are authenticated as associated data, so a blob cannot be
moved to another name or snapshot without failing. AES-GCM and sha256 release the GIL on large buffers, so
the snapshot executor runs them on a small thread pool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from triage.recovery.errors import SnapshotCorrupt, SnapshotKeyError

#: Anything with the buffer protocol (bytes, bytearray, memoryview); collections.abc.Buffer is 3.12+.
Buffer: TypeAlias = bytes | bytearray | memoryview

MAGIC = b"TRE1"
NONCE_BYTES = 12
KEY_ID_BYTES = 8
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
TAG_BYTES = 16

_KEY_HELP = "set TRIAGE_SNAPSHOT_KEY to base64 of 32 random bytes (`triage snapshot keygen` prints one)"


def generate_key() -> str:
    """A new random snapshot key, base64-encoded, for TRIAGE_SNAPSHOT_KEY."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _derive(key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"triage/snapshot/" + label).derive(key)


class SnapshotCipher:
    """Seals and opens snapshot blobs and names chunks, all under one snapshot key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SnapshotKeyError(f"the snapshot key must be 32 bytes, got {len(key)}; {_KEY_HELP}")
        self._aead = AESGCM(_derive(key, b"aes-256-gcm"))
        self._id_key = _derive(key, b"chunk-id")
        self._key_id = hmac.new(key, b"triage/snapshot/key-id", hashlib.sha256).digest()[:KEY_ID_BYTES]

    @classmethod
    def from_secret(cls, secret: SecretStr | str | None) -> SnapshotCipher:
        """Build from the configured key; a missing or malformed key is a one-line error that never echoes it."""
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not text or not text.strip():
            raise SnapshotKeyError(f"no snapshot key configured: {_KEY_HELP}")
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SnapshotKeyError(f"the snapshot key is not valid base64; {_KEY_HELP}") from None
        return cls(key)

    @property
    def key_id(self) -> str:
        return self._key_id.hex()

    def chunk_id(self, data: Buffer) -> str:
        """The keyed content address of a chunk (64 hex digits)."""
        return self.chunk_id_of_digest(hashlib.sha256(data).digest())

    def chunk_id_of_digest(self, sha256_digest: bytes) -> str:
        return hmac.new(self._id_key, sha256_digest, hashlib.sha256).hexdigest()

    def header(self, nonce: bytes) -> bytes:
        return MAGIC + self._key_id + nonce

    def seal(self, data: Buffer, context: str) -> tuple[bytes, bytes]:
        """Encrypt ``data`` bound to ``context``; returns (header, ciphertext+tag) to write one after the other."""
        nonce = os.urandom(NONCE_BYTES)
        head = self.header(nonce)
        return head, self._aead.encrypt(nonce, data, head + context.encode("utf-8"))

    def seal_bytes(self, data: Buffer, context: str) -> bytes:
        head, body = self.seal(data, context)
        return head + body

    def open_into(self, blob: Buffer, context: str, out: memoryview, *, what: str) -> None:
        """Like :meth:`open`, decrypting into ``out`` (exactly the plaintext's length): no allocation."""
        view = memoryview(blob)
        head = self._check_header(view, what)
        try:
            self._aead.decrypt_into(
                head[-NONCE_BYTES:], view[HEADER_BYTES:], head + context.encode("utf-8"), out
            )
        except InvalidTag:
            raise SnapshotCorrupt(
                f"{what}: failed authentication (data damaged or altered)", path=what
            ) from None

    def _check_header(self, view: memoryview, what: str) -> bytes:
        if len(view) < HEADER_BYTES + TAG_BYTES or bytes(view[: len(MAGIC)]) != MAGIC:
            raise SnapshotCorrupt(f"{what}: not a snapshot blob (truncated or damaged header)", path=what)
        head = bytes(view[:HEADER_BYTES])
        if head[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES] != self._key_id:
            raise SnapshotCorrupt(f"{what}: written under another key id (damaged header)", path=what)
        return head

    def open(self, blob: Buffer, context: str, *, what: str) -> bytes:
        """Decrypt and authenticate a blob; ``what`` names it in the error (a chunk of a file, a manifest)."""
        view = memoryview(blob)
        if len(view) < HEADER_BYTES + TAG_BYTES or bytes(view[: len(MAGIC)]) != MAGIC:
            raise SnapshotCorrupt(f"{what}: not a snapshot blob (truncated or damaged header)", path=what)
        head = bytes(view[:HEADER_BYTES])
        if head[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES] != self._key_id:
            raise SnapshotCorrupt(f"{what}: written under another key id (damaged header)", path=what)
        try:
            return self._aead.decrypt(
                head[-NONCE_BYTES:], view[HEADER_BYTES:], head + context.encode("utf-8")
            )
        except InvalidTag:
            raise SnapshotCorrupt(
                f"{what}: failed authentication (data damaged or altered)", path=what
            ) from None

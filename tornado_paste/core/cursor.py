"""Opaque cursors for the public file list (``GET /api/v1/files?before=<cursor>``).

The list pages by the store's internal id (newest first), but ids are never shown: the gaps
between the ids of consecutive public files would count the private files uploaded between
them (and used to say which ids those were). A cursor is the id of the last *public* record of a
page, encrypted and authenticated with the deployment secret: 8 random nonce bytes, the id XOR a
keystream of HMAC-SHA256(key, nonce), and an HMAC-SHA256 tag, base64url. It is different every
time, says nothing about any id, and cannot be forged (anything else is a 400).

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

_NONCE, _ID, _TAG = 8, 8, 12
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"tornado-paste list cursor v1", hashlib.sha256).digest()

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, label + data, hashlib.sha256).digest()

    def encode(self, file_id: int) -> str:
        nonce = secrets.token_bytes(_NONCE)
        body = bytes(a ^ b for a, b in zip(file_id.to_bytes(_ID, "big"), self._mac(b"pad", nonce), strict=False))
        tag = self._mac(b"tag", nonce + body)[:_TAG]
        return base64.urlsafe_b64encode(nonce + body + tag).rstrip(b"=").decode("ascii")

    def decode(self, cursor: str) -> int | None:
        """The id a cursor we issued stands for; None for anything else."""
        if not _BASE64URL.match(cursor):
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            return None
        # Canonical spelling only (the last character's spare bits at zero): one cursor, one string.
        if len(raw) != _NONCE + _ID + _TAG or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
            return None
        nonce, body, tag = raw[:_NONCE], raw[_NONCE:_NONCE + _ID], raw[_NONCE + _ID:]
        if not hmac.compare_digest(tag, self._mac(b"tag", nonce + body)[:_TAG]):
            return None
        file_id = int.from_bytes(bytes(a ^ b for a, b in zip(body, self._mac(b"pad", nonce), strict=False)), "big")
        return file_id if file_id > 0 else None

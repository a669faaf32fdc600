"""Opaque cursors for the public file list (``GET /api/v1/files?before=<cursor>``).

The list pages by the store's internal id (newest first), but ids are never shown: the gaps
between the ids of consecutive public files would count the private files uploaded between
them (and used to say which ids those were). A cursor is the id of the last *public* record of a
page, encrypted and authenticated with the deployment secret: 8 random nonce bytes, the id XOR a
keystream of HMAC-SHA256(key, nonce), and an HMAC-SHA256 tag, base64url. It is different every
time, says nothing about any id, and cannot be forged (anything else is a 400).

Every machine of a deployment must use the same secret (``core/secret.py``), or a cursor issued by
one is a 400 on the next. When the secret is the one kept in MongoDB the codec starts unkeyed and
is keyed at start-up (``rekey``); until then using it is ``SecretNotLoaded``, a 503.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from tornado_paste.errors import Unavailable

_NONCE, _ID, _TAG = 8, 8, 12
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SecretNotLoaded(Unavailable):
    """The shared secret is kept in the metadata store, which has not answered yet (503)."""


class CursorCodec:
    def __init__(self, secret: bytes | None) -> None:
        self._keyed: bytes | None = None
        if secret is not None:
            self.rekey(secret)

    def rekey(self, secret: bytes) -> None:
        """Use ``secret`` from now on (once, at start-up, when it comes from the metadata store)."""
        self._keyed = hmac.new(secret, b"tornado-paste list cursor v1", hashlib.sha256).digest()

    @property
    def _key(self) -> bytes:
        if self._keyed is None:
            raise SecretNotLoaded("the deployment secret is not loaded yet (the metadata store is unavailable)")
        return self._keyed

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, label + data, hashlib.sha256).digest()

    def encode(self, file_id: int) -> str:
        nonce = secrets.token_bytes(_NONCE)
        body = bytes(a ^ b for a, b in zip(file_id.to_bytes(_ID, "big"), self._mac(b"pad", nonce), strict=False))
        tag = self._mac(b"tag", nonce + body)[:_TAG]
        return base64.urlsafe_b64encode(nonce + body + tag).rstrip(b"=").decode("ascii")

    def decode(self, cursor: str) -> int | None:
        """The id a cursor we issued stands for; None for anything else."""
        self._key  # noqa: B018  (SecretNotLoaded, a 503, before any 400 for an unknown cursor)
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

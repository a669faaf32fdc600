"""Short codes for ``/s/<code>``: a bijective, non-sequential-looking encoding of ids.

Sqids does the encoding; the alphabet is shuffled with a per-deployment secret
so that codes do not reveal the upload order to someone who knows the library.
"""

from __future__ import annotations

import hashlib
import random

from sqids import Sqids

from tornado_paste.errors import Unavailable

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MAX_CODE_LENGTH = 16
MAX_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY, and what sqids encodes


class SecretNotLoaded(Unavailable):
    """The shared secret is kept in the metadata store, which has not answered yet (503)."""


class Shortener:
    def __init__(self, secret: bytes | None, min_length: int = 5) -> None:
        self._min_length = min_length
        self._keyed: Sqids | None = None
        if secret is not None:
            self.rekey(secret)

    def rekey(self, secret: bytes) -> None:
        """Use ``secret`` from now on (once, at start-up, when it comes from the metadata store)."""
        letters = list(_ALPHABET)
        # A seeded shuffle is deterministic for one secret, which is all we need.
        random.Random(hashlib.sha256(b"shortcode:" + secret).digest()).shuffle(letters)
        self._keyed = Sqids(alphabet="".join(letters), min_length=self._min_length)

    @property
    def _sqids(self) -> Sqids:
        if self._keyed is None:
            raise SecretNotLoaded("the deployment secret is not loaded yet (the metadata store is unavailable)")
        return self._keyed

    def encode(self, file_id: int) -> str:
        return self._sqids.encode([file_id])

    def decode(self, code: str) -> int | None:
        """The id a code stands for, or None for anything that is not a code we issued."""
        if not code or len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isalnum():
            return None
        sqids = self._sqids  # SecretNotLoaded (503) here, not swallowed below
        try:
            numbers = sqids.decode(code)
        except Exception:  # sqids raises on odd inputs; an odd input is just unknown.
            return None
        # Sixteen letters can spell numbers past 2**63, which sqids cannot re-encode (it raised,
        # a 500 on /s/) and no store id reaches.
        if len(numbers) != 1 or not 1 <= numbers[0] <= MAX_ID:
            return None
        # Several strings can decode to one number; only the canonical one is ours.
        if sqids.encode(numbers) != code:
            return None
        return numbers[0]

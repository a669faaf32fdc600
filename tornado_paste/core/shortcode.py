"""Short codes for ``/s/<code>``: a bijective, non-sequential-looking encoding of ids.

Sqids does the encoding; the alphabet is shuffled with a per-deployment secret
so that codes do not reveal the upload order to someone who knows the library.
"""

from __future__ import annotations

import hashlib
import random

from sqids import Sqids

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MAX_CODE_LENGTH = 16
MAX_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY, and what sqids encodes


class Shortener:
    def __init__(self, secret: bytes, min_length: int = 5) -> None:
        letters = list(_ALPHABET)
        # A seeded shuffle is deterministic for one secret, which is all we need.
        random.Random(hashlib.sha256(b"shortcode:" + secret).digest()).shuffle(letters)
        self._sqids = Sqids(alphabet="".join(letters), min_length=min_length)

    def encode(self, file_id: int) -> str:
        return self._sqids.encode([file_id])

    def decode(self, code: str) -> int | None:
        """The id a code stands for, or None for anything that is not a code we issued."""
        if not code or len(code) > MAX_CODE_LENGTH or not code.isascii() or not code.isalnum():
            return None
        try:
            numbers = self._sqids.decode(code)
        except Exception:  # sqids raises on odd inputs; an odd input is just unknown.
            return None
        # Sixteen letters can spell numbers past 2**63, which sqids cannot re-encode (it raised,
        # a 500 on /s/) and no store id reaches.
        if len(numbers) != 1 or not 1 <= numbers[0] <= MAX_ID:
            return None
        # Several strings can decode to one number; only the canonical one is ours.
        if self._sqids.encode(numbers) != code:
            return None
        return numbers[0]

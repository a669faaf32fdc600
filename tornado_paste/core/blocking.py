"""The operator's blocklist as the core consults it: refusals and a short per-process cache.

Uploads ask the store itself (``fresh=True``) just before the record would be written, so a
block stops a new copy at once, in every process. Serving (every link of an existing copy)
asks through a small cache of recent answers, positive and negative, each trusted for
``ttl`` seconds: a block made by another process (``python -m tornado_paste.admin block``)
takes effect here within ``ttl`` seconds at most, and a hot file costs one store query per
``ttl``, not one per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from tornado_paste import errors
from tornado_paste.core.ingest import IngestError
from tornado_paste.storage.base import BlockList

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BlockedContent(errors.Blocked, IngestError):
    """These bytes are blocked by the operator (451 Unavailable For Legal Reasons)."""

    def __init__(self, message: str = "this content is unavailable for legal reasons") -> None:
        super().__init__(message)


def parse_sha256(text: str) -> str | None:
    """A sha256 as stored (lowercase hex), or None when ``text`` is not one."""
    value = text.strip().lower()
    return value if SHA256_RE.match(value) else None


def parse_blocklist(lines: Iterable[str]) -> tuple[list[str], list[int]]:
    """Hashes from a blocklist file, and the numbers of the lines that were not one.

    One sha256 per line; ``#`` starts a comment; blank lines are skipped; anything after the
    first word is ignored, so ``sha256sum`` output (``<hash>  <name>``) imports as it is.
    """
    hashes: list[str] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        value = parse_sha256(text.split()[0])
        if value is None:
            bad.append(number)
        else:
            hashes.append(value)
    return hashes, bad


class BlockGuard:
    """``BlockList`` lookups with a bounded, short-lived cache (see the module docstring)."""

    def __init__(self, blocklist: BlockList, ttl: float = 2.0, max_entries: int = 50_000) -> None:
        self.blocklist = blocklist
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[bool, float]] = {}

    async def is_blocked(self, sha256: str, fresh: bool = False) -> bool:
        now = time.monotonic()
        if not fresh and self.ttl > 0:
            hit = self._cache.get(sha256)
            if hit is not None and now - hit[1] < self.ttl:
                return hit[0]
        blocked = await self.blocklist.is_blocked(sha256)
        if self.ttl > 0:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()  # simpler than LRU, and every entry is seconds from stale anyway
            self._cache[sha256] = (blocked, now)
        return blocked

    async def check(self, sha256: str, fresh: bool = False) -> None:
        """Raise ``BlockedContent`` when ``sha256`` is blocked."""
        if await self.is_blocked(sha256, fresh):
            raise BlockedContent()

    def forget(self, sha256: str | None = None) -> None:
        """Drop cached answers (one hash, or all): this process just changed the list."""
        if sha256 is None:
            self._cache.clear()
        else:
            self._cache.pop(sha256, None)

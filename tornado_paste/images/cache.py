"""The derivatives as a cache, not a library: a byte budget and a cap per parent, least recently used out first.

Any derivative can be made again from its parent, so none has to be kept: an
attacker asking one 12 KB PNG for hundreds of 4096 px variants used to store
13 MB each, for as long as the parent lived. Each derivative index entry keeps
the derivative's size and when it was last answered (``used_at``). After a new
derivative is recorded:

1. if its parent has more than ``max_variants`` entries, the parent's least
   recently used ones go (a new variant is always served: refusing it instead
   would let anyone lock a parent's variants in by asking for them first);
2. while all entries together hold more than ``max_bytes``, the least recently
   used entries of any parent go.

Evicting an entry drops it from the index, then removes the derivative's record
and blob through the ingest path's ``remove`` (which publishes ``file.deleted``)
once no other entry points to that file (two parameter sets may share bytes)
and only when the file is a derivative (deduplication may point an entry at an
original with the same bytes: that one is never removed). The entry just made
is never evicted by its own request. Pinned entries (resizes made at upload,
whose uploader holds the delete token) are never evicted and count in neither
limit.

A cache hit records its use at most once a minute per entry (``TOUCH_INTERVAL``),
comparing with the ``used_at`` the lookup read anyway, so hits cost no store
write in between, in any process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tornado_paste.core.ingest import Ingestor
from tornado_paste.core.records import DerivativeEntry, FileRecord
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import DerivativeIndex, FileStore

# Seconds between two recorded uses of one entry (LRU order is this coarse).
TOUCH_INTERVAL = 60.0
# Entries looked at per eviction query, and the rounds one enforcement may take.
EVICT_BATCH = 50
_MAX_ROUNDS = 20


class DerivativeCache:
    def __init__(self, index: DerivativeIndex, store: FileStore, ingestor: Ingestor, metrics: Metrics,
                 max_bytes: int = 0, max_variants: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.index = index
        self.store = store
        self.ingestor = ingestor
        self.metrics = metrics
        # 0 disables either limit.
        self.max_bytes = max_bytes
        self.max_variants = max_variants
        self.clock = clock
        # Bytes of evictable derivatives the last enforcement saw (all processes share the store).
        self.last_total_bytes = 0
        # One enforcement at a time in this process (two would pick the same victims).
        self._evicting = asyncio.Lock()

    async def lookup(self, parent_id: int, key: str) -> FileRecord | None:
        """The live derivative recorded for (parent, key), its use noted; a stale entry is dropped."""
        entry = await self.index.entry(parent_id, key)
        if entry is None:
            return None
        record = await self.store.get_by_id(entry.file_id)
        if record is None:  # deleted since: forget the entry and make it again
            await self.index.discard(parent_id, key, entry.file_id)
            return None
        now = self.clock()
        if now - entry.used_at >= TOUCH_INTERVAL:
            await self.index.touch(parent_id, key, now)
        return record

    async def claim(self, parent_id: int, key: str, record: FileRecord, pinned: bool = False) -> int:
        """Record a new derivative (first writer wins); returns the file id that holds the entry."""
        assert record.id is not None
        return await self.index.claim(parent_id, key, record.id, size=record.size, used_at=self.clock(),
                                      pinned=pinned)

    async def enforce(self, parent_id: int, fresh_key: str) -> None:
        """Evict until the parent's variants and the total bytes are within their limits."""
        if not self.max_variants and not self.max_bytes:
            return
        async with self._evicting:
            if self.max_variants:
                await self._trim_parent(parent_id, fresh_key)
            if self.max_bytes:
                await self._trim_bytes(parent_id, fresh_key)

    async def _trim_parent(self, parent_id: int, fresh_key: str) -> None:
        over = await self.index.count(parent_id) - self.max_variants
        if over <= 0:
            return
        for entry in await self.index.least_recent(over + 1, parent_id=parent_id):
            if over <= 0:
                break
            if entry.key != fresh_key:
                await self._evict(entry, "variants")
                over -= 1

    async def _trim_bytes(self, parent_id: int, fresh_key: str) -> None:
        total = await self.index.total_bytes()
        for _round in range(_MAX_ROUNDS):
            if total <= self.max_bytes:
                break
            victims = [e for e in await self.index.least_recent(EVICT_BATCH)
                       if (e.parent_id, e.key) != (parent_id, fresh_key)]
            if not victims:
                break  # only the new entry is left: it stays, whatever its size
            for entry in victims:
                if total <= self.max_bytes:
                    break
                await self._evict(entry, "bytes")
                total -= entry.size
            total = await self.index.total_bytes()
        self.last_total_bytes = total  # sampled as the resize.cache_bytes level (services.py)

    async def _evict(self, entry: DerivativeEntry, why: str) -> None:
        await self.index.discard(entry.parent_id, entry.key, entry.file_id)
        self.metrics.incr(f"resize.evicted.{why}")
        if await self.index.refs(entry.file_id) > 0:
            return  # other parameters (or a pin) still use these bytes
        record = await self.store.get_by_id(entry.file_id)
        if record is not None and record.parent_id is not None:
            await self.ingestor.remove(record)

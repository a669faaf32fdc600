"""File records as the read-only routes see them: a small, short-lived per-process cache.

A hot file's ``/i/``, ``/d/``, ``/p/``, ``/s/`` and metadata GETs cost one store query per ``ttl``
seconds instead of one per request (the SQLite query runs in a thread: a hand-off each way, which
was a tenth of a download's CPU).

What keeps it exactly as correct as the store for this process:

- Only records whose answer does not change per request are kept: never a guarded one (a password
  or a download count: the count moves on every download, and burn-after-reading must be seen by
  the very next request), never a miss (a new upload in another process is found at once).
- Every write this process makes to a file record (delete, manage changes, download claims,
  expiry changes, whoever calls them) drops that record before and after the write, and a lookup
  that raced with any write does not store what it read (``_epoch``).
- Expiry and the blocklist are still judged per request (``is_expired`` on the record, the
  ``BlockGuard``): a cached record does not outlive its ``expires_at``.

What it cannot see: a write by another process (another worker on the same SQLite file or MongoDB,
the admin CLI). Such a delete, rename, password or visibility change reaches this process after at
most ``ttl`` seconds (``record_cache_ttl``, 1 s by default); 0 disables the cache.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from tornado_paste.core.records import FileRecord, is_expired
from tornado_paste.storage.base import Backend


def _copy(record: FileRecord) -> FileRecord:
    """A private copy: callers may set fields (``downloads``, ``expires_at``) on what they got."""
    twin = object.__new__(FileRecord)
    twin.__dict__.update(record.__dict__)
    return twin


class RecordCache:
    """``get_by_filehash`` / ``get_by_short_code`` through a bounded LRU of unguarded records."""

    def __init__(self, store: Backend, ttl: float = 1.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        # filehash -> (record, monotonic time it was read)
        self._records: OrderedDict[str, tuple[FileRecord, float]] = OrderedDict()
        # short code -> filehash (checked against the record's current code on use)
        self._codes: dict[str, str] = {}
        # internal id -> filehash: delete_file and set_expiry name records by id
        self._ids: dict[int, str] = {}
        # Bumped by every invalidation: a lookup that saw it move while it waited stores nothing.
        self._epoch = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    async def by_filehash(self, filehash: str) -> FileRecord | None:
        if self.enabled:
            entry = self._records.get(filehash)
            if entry is not None:
                if self._clock() - entry[1] < self.ttl:
                    self._records.move_to_end(filehash)
                    self.hits += 1
                    return _copy(entry[0])
                self._drop(filehash)
        return self._keep(self._epoch, await self.store.get_by_filehash(filehash))

    async def by_short_code(self, code: str) -> FileRecord | None:
        if self.enabled:
            filehash = self._codes.get(code)
            entry = self._records.get(filehash) if filehash is not None else None
            if entry is not None and entry[0].short_code == code and self._clock() - entry[1] < self.ttl:
                self._records.move_to_end(entry[0].filehash)
                self.hits += 1
                return _copy(entry[0])
        return self._keep(self._epoch, await self.store.get_by_short_code(code))

    def _keep(self, epoch: int, record: FileRecord | None) -> FileRecord | None:
        if record is None or not self.enabled:
            return record
        self.misses += 1
        if record.guarded or epoch != self._epoch or is_expired(record):
            # An expired record is about to be swept (by any process): its next answer must see that.
            return record
        self._drop(record.filehash)
        while len(self._records) >= self.max_entries:
            self._drop(next(iter(self._records)))
        self._records[record.filehash] = (_copy(record), self._clock())
        self._codes[record.short_code] = record.filehash
        if record.id is not None:
            self._ids[record.id] = record.filehash
        return record

    def _drop(self, filehash: str) -> None:
        entry = self._records.pop(filehash, None)
        if entry is None:
            return
        record = entry[0]
        if self._codes.get(record.short_code) == filehash:
            del self._codes[record.short_code]
        if record.id is not None and self._ids.get(record.id) == filehash:
            del self._ids[record.id]

    def forget(self, filehash: str | None = None, file_id: int | None = None) -> None:
        """Drop one record (by filehash or internal id), or every record when neither is given."""
        self._epoch += 1
        if filehash is None and file_id is None:
            self._records.clear()
            self._codes.clear()
            self._ids.clear()
            return
        if filehash is None:
            filehash = self._ids.get(file_id)  # type: ignore[arg-type]
        if filehash is not None:
            self._drop(filehash)

    def track_writes(self, store: Backend) -> None:
        """Wrap the store's file-record writes on the instance (as ``instrument_store`` does), so every
        writer of this process, present and future callers alike, invalidates without knowing the cache."""
        if getattr(store, "_record_cache_tracked", False):
            return
        store.delete_file = self._invalidating(store.delete_file, by_id=True)  # type: ignore[method-assign]
        store.expiry.set_expiry = self._invalidating(store.expiry.set_expiry, by_id=True)  # type: ignore[method-assign]
        controls = store.controls
        controls.update = self._invalidating(controls.update, by_id=False)  # type: ignore[method-assign]
        controls.claim_download = self._invalidating(controls.claim_download, by_id=False)  # type: ignore[method-assign]
        store._record_cache_tracked = True  # type: ignore[attr-defined]

    def _invalidating(self, write: Callable[..., Awaitable[Any]], by_id: bool) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(write)
        async def invalidating(key: Any, *args: Any, **kwargs: Any) -> Any:
            # Before: no request of this process is served the old record once the write may have
            # landed. After: what a lookup read while the write ran is dropped too.
            self._forget_key(key, by_id)
            try:
                return await write(key, *args, **kwargs)
            finally:
                self._forget_key(key, by_id)

        return invalidating

    def _forget_key(self, key: Any, by_id: bool) -> None:
        if by_id:
            self.forget(file_id=key)
        else:
            self.forget(filehash=key)

"""The storage interfaces: one small abstract class per concern, and the ``Backend`` that holds them.

Every metadata backend (SQLite, MongoDB, memory) implements every interface here;
features receive the concern they use (``backend.derivatives``, ``backend.tus_state``...)
and never learn which backend it is. Every method is a coroutine, never blocks the
loop, and raises ``StoreUnavailable`` for anything that is the store's fault rather
than the caller's (so handlers can answer 503).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tornado_paste.core.records import DerivativeEntry, FileRecord, LogEntry, TusState, TusUsage
from tornado_paste.errors import Busy, Unavailable
from tornado_paste.storage.sharing import CollectionStore, FileControls

# FileControls and CollectionStore (shares' concerns) live in storage/sharing.py; they are named here too.
__all__ = [
    "Backend", "BlockEntry", "BlockList", "CollectionStore", "DerivativeIndex", "DuplicateContent", "EventLog",
    "ExpiryIndex", "FileControls", "FileStats", "FileStore", "Inventory", "Locked", "StoreError",
    "StoreUnavailable", "TusStateStore", "TypeTotals", "record_to_doc",
]


class StoreError(Exception):
    """Base of the store's own errors."""


class StoreUnavailable(StoreError, Unavailable):
    """The store cannot answer now (locked, read-only, unreachable); try again later."""

    def __init__(self, message: str = "the metadata store is unavailable") -> None:
        super().__init__(message)


class DuplicateContent(StoreError):
    """A unique key is taken: the public original of these bytes exists (the dedupe race was lost),
    or, once in a blue moon, a random name (filehash, short code) was drawn twice."""


class Locked(StoreError, Busy):
    """Another request holds this tus upload's PATCH lock."""


class FileStore(abc.ABC):
    """Where file records live."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    @abc.abstractmethod
    async def insert_file(self, record: FileRecord) -> FileRecord:
        """Store a new record, returning it with its new integer ``id`` (internal, never shown).

        Raises DuplicateContent when its filehash or short code is taken, or when it is a public
        original (``record.public_original``) and the public original of the same sha256 exists.
        Any number of other records may share a sha256 (private files, derivatives).
        """

    @abc.abstractmethod
    async def get_by_id(self, file_id: int) -> FileRecord | None:
        """By internal id (derivative links, expiry): never reached from a client's input."""

    @abc.abstractmethod
    async def get_by_filehash(self, filehash: str) -> FileRecord | None: ...

    @abc.abstractmethod
    async def get_by_short_code(self, code: str) -> FileRecord | None:
        """The record whose ``/s/`` code this is (codes are unique across records)."""

    @abc.abstractmethod
    async def get_public_original(self, sha256: str) -> FileRecord | None:
        """The public, non-derivative record holding these bytes, if any (at most one: the dedupe target).

        Private records and derivatives with the same bytes are never returned.
        """

    @abc.abstractmethod
    async def with_sha256(self, sha256: str, limit: int = 100) -> list[FileRecord]:
        """Every record (public or private, originals and derivatives) holding these bytes, oldest first.

        For operators (the admin CLI); a public answer must filter it (``get_public_original``).
        """

    @abc.abstractmethod
    async def latest(self, limit: int, before_id: int | None = None) -> list[FileRecord]:
        """Public (non-private) records, newest first, with id < before_id when given.

        ``before_id`` is only ever the id of a public record (handlers take it from an encrypted cursor).
        """

    @abc.abstractmethod
    async def count_public(self) -> int: ...

    @abc.abstractmethod
    async def delete_file(self, file_id: int) -> bool:
        """Remove a record; True when it existed."""

    @abc.abstractmethod
    async def count_sha256_refs(self, sha256: str) -> int:
        """How many records (originals and derivatives) use the blob ``sha256``."""


class DerivativeIndex(abc.ABC):
    """(parent id, parameters key) -> derivative file id, with what the derivative cache needs to evict.

    Kept apart from the file records: two parameter sets may produce the same
    bytes, which then share one record. The (parent_id, key) pair is unique, so a
    second process that computed the same derivative reuses the first writer's.
    Each entry also keeps the derivative's size and when it was last used: the
    derivatives are a cache under a byte budget and a per-parent cap, evicted
    least recently used first (``least_recent``); pinned entries never are.
    """

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""

    async def get(self, parent_id: int, key: str) -> int | None:
        """The derivative's file id, if one was recorded."""
        found = await self.entry(parent_id, key)
        return found.file_id if found is not None else None

    @abc.abstractmethod
    async def entry(self, parent_id: int, key: str) -> DerivativeEntry | None:
        """The whole entry (file id, size, last use), if one was recorded."""

    @abc.abstractmethod
    async def claim(self, parent_id: int, key: str, file_id: int, size: int = 0, used_at: float = 0.0,
                    pinned: bool = False) -> int:
        """Record ``file_id`` unless an entry exists; return the id that holds the entry (first writer wins).

        ``size`` and ``used_at`` start the entry's accounting; an existing entry is left as it is.
        """

    @abc.abstractmethod
    async def touch(self, parent_id: int, key: str, used_at: float) -> None:
        """Note a use of the entry: its ``used_at`` moves forward to ``used_at`` (never back)."""

    @abc.abstractmethod
    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        """Drop the entry if it still points to ``file_id`` (a stale entry whose record is gone)."""

    @abc.abstractmethod
    async def children(self, parent_id: int) -> list[int]:
        """File ids of every derivative recorded for ``parent_id``."""

    @abc.abstractmethod
    async def forget(self, file_id: int) -> None:
        """Drop every entry where ``file_id`` is the parent or the derivative."""

    @abc.abstractmethod
    async def count(self, parent_id: int) -> int:
        """How many evictable (unpinned) entries ``parent_id`` has."""

    @abc.abstractmethod
    async def total_bytes(self) -> int:
        """The sum of ``size`` over every evictable (unpinned) entry."""

    @abc.abstractmethod
    async def least_recent(self, limit: int, parent_id: int | None = None) -> list[DerivativeEntry]:
        """Up to ``limit`` evictable entries (of ``parent_id`` when given), least recently used first."""

    @abc.abstractmethod
    async def refs(self, file_id: int) -> int:
        """How many entries (pinned or not, any parent) point to ``file_id``."""


class TusStateStore(abc.ABC):
    """tus uploads, one entry each. The PATCH lock is a lease taken in one atomic conditional
    update, so two processes never both hold it and a dead process loses it when it runs out."""

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""


    @abc.abstractmethod
    async def create(self, state: TusState) -> None: ...

    @abc.abstractmethod
    async def get(self, upload_id: str) -> TusState | None: ...

    @abc.abstractmethod
    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        """Take the lock if it is free or its lease ran out; returns the state, or None if unknown.

        Raises Locked when a live lease is held by someone else.
        """

    @abc.abstractmethod
    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        """Extend our lease; False if we no longer hold it."""

    @abc.abstractmethod
    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        """Change fields of an upload whose lock ``owner`` holds; False if it does not."""

    @abc.abstractmethod
    async def release(self, upload_id: str, owner: str) -> None:
        """Drop our lock (no-op if we no longer hold it)."""

    @abc.abstractmethod
    async def delete(self, upload_id: str) -> bool: ...

    @abc.abstractmethod
    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        """Uploads whose expiry passed and whose lock is free (what the sweeper may remove)."""

    @abc.abstractmethod
    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        """Delete only if still expired and unlocked (so a racing PATCH is never swept)."""

    @abc.abstractmethod
    async def ids(self) -> set[str]:
        """Every known upload id (for the orphan-file sweep)."""

    @abc.abstractmethod
    async def usage(self, now: float, client: str | None = None) -> TusUsage:
        """Open uploads (not ingested: ``filehash`` unset; not expired: ``expires_at >= now``), of ``client``
        when given, else of everyone: their count and the sum of their lengths (the offset while deferred).

        A finished partial upload still counts (its bytes wait for a final concatenation on disk).
        """


class ChangeWatch(abc.ABC):
    """Push notification of entries any process appends to the event log (a MongoDB change stream).

    Only a wake-up: the reader still reads the log by cursor (order, gaps), so a missed
    notification delays an event, never loses it. ``resume_token`` names the last change seen;
    a watch opened with it replays what came after (a reader restarted, a stream lost).
    """

    resume_token: Any = None

    @abc.abstractmethod
    async def open(self) -> bool:
        """Start watching; False when the server cannot (a standalone mongod): poll instead."""

    @abc.abstractmethod
    async def wait(self, timeout: float) -> int:
        """Changes that arrived within ``timeout`` seconds (0: none); StoreUnavailable if the stream broke."""

    @abc.abstractmethod
    async def close(self) -> None: ...


class EventLog(abc.ABC):
    """Append-only, cursor-ordered event storage shared by every process of a deployment.

    Cursors only grow. A backend whose cursors may commit out of order (MongoDB takes
    them from a counter before inserting) leaves gaps the reader waits for briefly.
    """

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""


    @abc.abstractmethod
    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        """Store an entry; returns its new cursor."""

    @abc.abstractmethod
    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        """Entries with ``cursor < c <= upto`` (no upper bound when None), oldest first, at most ``limit``."""

    @abc.abstractmethod
    async def last_cursor(self) -> int:
        """The highest cursor handed out (0 when none); trimming does not lower it."""

    @abc.abstractmethod
    async def trim(self, older_than: float, keep: int) -> int:
        """Drop entries with ``ts < older_than`` and all but the newest ``keep``; returns how many."""

    def watch(self, resume_token: Any = None) -> ChangeWatch | None:
        """A push feed of new entries, or None when this backend offers none (the reader polls)."""
        return None


class ExpiryIndex(abc.ABC):
    """Expiry queries over the file records."""

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""


    @abc.abstractmethod
    async def expired(self, now: datetime, limit: int) -> list[FileRecord]:
        """Records whose ``expires_at`` is at or before ``now``, soonest first."""

    @abc.abstractmethod
    async def set_expiry(self, file_id: int, expires_at: datetime | None) -> None: ...

    @abc.abstractmethod
    async def children(self, parent_id: int) -> list[FileRecord]:
        """Derivatives (crop-resize results) of a file: they go when it goes."""


@dataclass(frozen=True)
class BlockEntry:
    """One blocked sha256: uploads of these bytes and every link to a copy answer 451."""

    sha256: str
    reason: str
    ts: float


class BlockList(abc.ABC):
    """Blocked content hashes (lowercase hex sha256), shared by every process of a deployment."""

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""

    @abc.abstractmethod
    async def block(self, sha256s: Iterable[str], reason: str, ts: float) -> int:
        """Block every hash (idempotent: a blocked one keeps its first reason); returns how many were new."""

    @abc.abstractmethod
    async def unblock(self, sha256: str) -> bool:
        """True when the hash was blocked."""

    @abc.abstractmethod
    async def is_blocked(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    async def entries(self, limit: int = 1000) -> list[BlockEntry]:
        """Blocked hashes, most recently blocked first."""

    @abc.abstractmethod
    async def count(self) -> int: ...


@dataclass
class TypeTotals:
    files: int = 0
    bytes: int = 0


@dataclass
class Inventory:
    """What is stored, counted by the store (``FileStats.summary``)."""

    files: int = 0
    bytes: int = 0
    private: int = 0
    derivatives: int = 0
    derivative_bytes: int = 0
    by_type: dict[str, TypeTotals] = field(default_factory=dict)


class FileStats(abc.ABC):
    """Aggregates over the file records, for operators (``python -m tornado_paste.admin stats``)."""

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""

    @abc.abstractmethod
    async def summary(self) -> Inventory:
        """Every record counted: all of them, the private ones, the derivatives, and by MIME type."""


class Backend(FileStore):
    """One metadata backend: the file records (its own methods) plus every other concern,
    all on one connection, opened and closed together.

    ``open`` creates every table/collection and index the concerns need (idempotent).
    """

    derivatives: DerivativeIndex
    tus_state: TusStateStore
    event_log: EventLog
    expiry: ExpiryIndex
    controls: FileControls
    collections: CollectionStore
    blocklist: BlockList
    stats: FileStats

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema/indexes if missing."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def shared_secret(self, candidate: bytes) -> bytes | None:
        """The deployment secret kept here for every machine: the stored one, or ``candidate`` stored now
        (first writer wins). None: this backend keeps none (one machine: its data dir's secret.key)."""
        return None


def record_to_doc(record: FileRecord) -> dict[str, Any]:
    doc = record.to_row()
    doc.pop("id", None)
    return doc

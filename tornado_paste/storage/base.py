"""The storage interfaces: one small abstract class per concern, and the ``Backend`` that holds them.

Every metadata backend (SQLite, MongoDB, memory) implements every interface here;
features receive the concern they use (``backend.derivatives``, ``backend.tus_state``...)
and never learn which backend it is. Every method is a coroutine, never blocks the
loop, and raises ``StoreUnavailable`` for anything that is the store's fault rather
than the caller's (so handlers can answer 503).
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from tornado_paste.core.records import CollectionRecord, FileRecord, LogEntry, Member, TusState
from tornado_paste.errors import Busy, Unavailable


class StoreError(Exception):
    """Base of the store's own errors."""


class StoreUnavailable(StoreError, Unavailable):
    """The store cannot answer now (locked, read-only, unreachable); try again later."""

    def __init__(self, message: str = "the metadata store is unavailable") -> None:
        super().__init__(message)


class DuplicateContent(StoreError):
    """A unique key (sha256, filehash) is taken: the dedupe race was lost."""


class Locked(StoreError, Busy):
    """Another request holds this tus upload's PATCH lock."""


class FileStore(abc.ABC):
    """Where file records live."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    @abc.abstractmethod
    async def insert_file(self, record: FileRecord) -> FileRecord:
        """Store a new record, returning it with its new integer ``id``.

        Raises DuplicateContent when a record with the same sha256 exists.
        """

    @abc.abstractmethod
    async def get_by_id(self, file_id: int) -> FileRecord | None: ...

    @abc.abstractmethod
    async def get_by_filehash(self, filehash: str) -> FileRecord | None: ...

    @abc.abstractmethod
    async def get_by_sha256(self, sha256: str) -> FileRecord | None:
        """The record holding these bytes, if any (sha256 is unique across records)."""

    @abc.abstractmethod
    async def latest(self, limit: int, before_id: int | None = None) -> list[FileRecord]:
        """Public (non-private) records, newest first, with id < before_id when given."""

    @abc.abstractmethod
    async def count_public(self) -> int: ...

    @abc.abstractmethod
    async def delete_file(self, file_id: int) -> bool:
        """Remove a record; True when it existed."""

    @abc.abstractmethod
    async def count_sha256_refs(self, sha256: str) -> int:
        """How many records (originals and derivatives) use the blob ``sha256``."""


class DerivativeIndex(abc.ABC):
    """(parent id, parameters key) -> derivative file id.

    Kept apart from the file records: two parameter sets may produce the same
    bytes, which then share one record. The (parent_id, key) pair is unique, so a
    second process that computed the same derivative reuses the first writer's.
    """

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""


    @abc.abstractmethod
    async def get(self, parent_id: int, key: str) -> int | None:
        """The derivative's file id, if one was recorded."""

    @abc.abstractmethod
    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        """Record ``file_id`` unless an entry exists; return the id that holds the entry (first writer wins)."""

    @abc.abstractmethod
    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        """Drop the entry if it still points to ``file_id`` (a stale entry whose record is gone)."""

    @abc.abstractmethod
    async def children(self, parent_id: int) -> list[int]:
        """File ids of every derivative recorded for ``parent_id``."""

    @abc.abstractmethod
    async def forget(self, file_id: int) -> None:
        """Drop every entry where ``file_id`` is the parent or the derivative."""


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


class FileControls(abc.ABC):
    """What a file's manage token changes (name, visibility, expiry, password, download limit), and
    the exact download count: one atomic conditional increment, so N+1 simultaneous downloads of a
    file limited to N, in any number of processes, see exactly N successes."""

    # The fields ``update`` may change.
    FIELDS = frozenset({"filename", "private", "expires_at", "password_hash", "max_downloads", "crc32"})

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's columns/indexes if missing; the backend's ``open`` calls it."""

    @abc.abstractmethod
    async def update(self, filehash: str, changes: dict[str, Any]) -> FileRecord | None:
        """Set the given ``FIELDS`` of a file; the record as it is now, or None if unknown."""

    @abc.abstractmethod
    async def claim_download(self, filehash: str) -> int | None:
        """Count one download of a file with a limit, only while ``downloads < max_downloads``.

        Returns the new count, or None when the limit is reached (or the file has no limit, or is gone).
        """


class CollectionStore(abc.ABC):
    """Collections, their ordered members, and the atomic quota of upload requests."""

    FIELDS = frozenset({"title", "private", "expires_at", "password_hash", "max_downloads", "request",
                        "max_files", "max_bytes", "request_hash"})

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's tables/indexes if missing; the backend's ``open`` calls it."""

    @abc.abstractmethod
    async def create(self, collection: CollectionRecord) -> None:
        """Store a new collection; DuplicateContent if its code (or request hash) is taken."""

    @abc.abstractmethod
    async def get(self, code: str) -> CollectionRecord | None: ...

    @abc.abstractmethod
    async def get_by_request(self, request_hash: str) -> CollectionRecord | None: ...

    @abc.abstractmethod
    async def update(self, code: str, changes: dict[str, Any]) -> CollectionRecord | None:
        """Set the given ``FIELDS``; the collection as it is now, or None if unknown."""

    @abc.abstractmethod
    async def delete(self, code: str) -> bool:
        """Remove a collection and its memberships (never the files); True when it existed."""

    @abc.abstractmethod
    async def add_member(self, code: str, filehash: str, added_at: datetime, by_owner: bool,
                         owned: bool) -> tuple[Member, bool]:
        """Append a file at the end (the next position); an existing membership is returned as it is,
        except that ``by_owner``/``owned`` only ever turn on. Returns (member, created)."""

    @abc.abstractmethod
    async def remove_member(self, code: str, filehash: str) -> bool: ...

    @abc.abstractmethod
    async def members(self, code: str) -> list[Member]:
        """In position order."""

    @abc.abstractmethod
    async def containing(self, filehash: str) -> list[str]:
        """Codes of every collection that holds the file."""

    @abc.abstractmethod
    async def reserve(self, code: str, files: int, nbytes: int) -> bool:
        """Add to ``used_files``/``used_bytes`` in one atomic conditional update: only if neither passes
        its maximum (None = unbounded). Negative amounts give back and always succeed (never below 0)."""

    @abc.abstractmethod
    async def claim_download(self, code: str) -> int | None:
        """As ``FileControls.claim_download``, for the collection's archive."""

    @abc.abstractmethod
    async def expired(self, now: datetime, limit: int) -> list[CollectionRecord]:
        """Collections whose ``expires_at`` is at or before ``now``."""


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

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema/indexes if missing."""

    @abc.abstractmethod
    async def close(self) -> None: ...


def record_to_doc(record: FileRecord) -> dict[str, Any]:
    doc = record.to_row()
    doc.pop("id", None)
    return doc

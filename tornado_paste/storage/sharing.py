"""The storage interfaces of shares (``tornado_paste/shares``): what a manage token changes on a file
with its exact download count (``FileControls``), and collections with their members and the atomic
quota of upload requests (``CollectionStore``).

Part of the storage interfaces (``storage/base.py`` re-exports both and ``Backend`` holds them as
``controls`` and ``collections``); kept in a module of their own so that each stays small.
"""

from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from tornado_paste.core.records import CollectionRecord, FileRecord, Member

__all__ = ["CollectionStore", "FileControls"]


class FileControls(abc.ABC):
    """What a file's manage token changes (name, visibility, expiry, password, download limit), and
    the exact download count: one atomic conditional increment, so N+1 simultaneous downloads of a
    file limited to N, in any number of processes, see exactly N successes."""

    # The fields ``update`` may change (``short_code``: a private file's stronger code when it turns private).
    FIELDS = frozenset({"filename", "private", "short_code", "expires_at", "password_hash", "max_downloads",
                        "crc32"})

    async def open(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create this concern's columns/indexes if missing; the backend's ``open`` calls it."""

    @abc.abstractmethod
    async def update(self, filehash: str, changes: dict[str, Any]) -> FileRecord | None:
        """Set the given ``FIELDS`` of a file; the record as it is now, or None if unknown.

        Raises DuplicateContent when the change would make the file a second public original of its
        bytes (a private file made public while another public file holds the same sha256), or when
        a new ``short_code`` is taken; nothing is changed then.
        """

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

"""The async metadata-store interface every backend implements."""

from __future__ import annotations

import abc
from typing import Any

from tornado_paste.core.records import FileRecord


class StoreError(Exception):
    """Base of the store's own errors."""


class StoreUnavailable(StoreError):
    """The store cannot answer now (locked, read-only, unreachable); try again later."""


class DuplicateContent(StoreError):
    """A record with this sha256 already exists (the dedupe race was lost)."""


class MetadataStore(abc.ABC):
    """Where file records live. Every method is a coroutine and never blocks the loop.

    Implementations raise ``StoreUnavailable`` for anything that is the store's
    fault rather than the caller's, so handlers can answer 503.
    """

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create the schema/indexes if missing."""

    @abc.abstractmethod
    async def close(self) -> None: ...

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


def record_to_doc(record: FileRecord) -> dict[str, Any]:
    doc = record.to_row()
    doc.pop("id", None)
    return doc

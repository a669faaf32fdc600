"""Where derivatives are found again: (parent id, parameters key) -> derivative file id.

Kept out of the file records on purpose: two parameter sets may produce the
same bytes, and content dedupe then makes them share one file record, so
the lookup needs its own table. The (parent_id, key) pair is unique in both
backends; that is what lets a second process (or machine) that computed the
same derivative reuse the first writer's record instead of adding its own.
"""

from __future__ import annotations

import abc
import logging
import sqlite3
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from tornado_paste.storage.base import MetadataStore, StoreUnavailable
from tornado_paste.storage.mongo.files import MongoStore
from tornado_paste.storage.sqlite.files import SQLiteStore

log = logging.getLogger(__name__)


class DerivativeIndex(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Create the table/collection and its unique index if missing."""

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


SCHEMA = """
CREATE TABLE IF NOT EXISTS derivatives (
    parent_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    PRIMARY KEY (parent_id, key)
);
CREATE INDEX IF NOT EXISTS derivatives_file ON derivatives (file_id);
"""


class SQLiteDerivativeIndex(DerivativeIndex):
    """A table in the store's own database, used through the store's connection thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(SCHEMA))

    async def get(self, parent_id: int, key: str) -> int | None:
        def query(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT file_id FROM derivatives WHERE parent_id = ? AND key = ?",
                               (parent_id, key)).fetchone()
            return int(row[0]) if row else None

        return await self.store.run(query)

    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        def upsert(conn: sqlite3.Connection) -> int:
            # Autocommit connection: INSERT OR IGNORE is atomic, the SELECT sees whoever won.
            conn.execute("INSERT OR IGNORE INTO derivatives (parent_id, key, file_id) VALUES (?, ?, ?)",
                         (parent_id, key, file_id))
            row = conn.execute("SELECT file_id FROM derivatives WHERE parent_id = ? AND key = ?",
                               (parent_id, key)).fetchone()
            return int(row[0])

        return await self.store.run(upsert)

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        await self.store.run(lambda c: c.execute(
            "DELETE FROM derivatives WHERE parent_id = ? AND key = ? AND file_id = ?", (parent_id, key, file_id)))

    async def children(self, parent_id: int) -> list[int]:
        rows = await self.store.run(lambda c: c.execute(
            "SELECT DISTINCT file_id FROM derivatives WHERE parent_id = ?", (parent_id,)).fetchall())
        return [int(r[0]) for r in rows]

    async def forget(self, file_id: int) -> None:
        await self.store.run(lambda c: c.execute(
            "DELETE FROM derivatives WHERE parent_id = ? OR file_id = ?", (file_id, file_id)))


class MongoDerivativeIndex(DerivativeIndex):
    """A ``derivatives`` collection with a unique (parent_id, key) index."""

    def __init__(self, db: Any) -> None:
        self.collection = db["derivatives"]

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except DuplicateKeyError:
            raise
        except PyMongoError as exc:
            raise StoreUnavailable(f"mongodb: {exc}") from exc

    async def open(self) -> None:
        await self._call(self.collection.create_index([("parent_id", ASCENDING), ("key", ASCENDING)],
                                                      unique=True, name="parent_key_unique"))
        await self._call(self.collection.create_index([("file_id", ASCENDING)], name="file_id"))

    async def get(self, parent_id: int, key: str) -> int | None:
        doc = await self._call(self.collection.find_one({"parent_id": parent_id, "key": key}))
        return int(doc["file_id"]) if doc else None

    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        try:
            await self._call(self.collection.insert_one({"parent_id": parent_id, "key": key, "file_id": file_id}))
            return file_id
        except DuplicateKeyError:
            winner = await self.get(parent_id, key)
            if winner is None:  # the winner was discarded in between; ours is as good
                return await self.claim(parent_id, key, file_id)
            return winner

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        await self._call(self.collection.delete_one({"parent_id": parent_id, "key": key, "file_id": file_id}))

    async def children(self, parent_id: int) -> list[int]:
        docs = await self._call(self.collection.find({"parent_id": parent_id}).to_list(length=None))
        return sorted({int(d["file_id"]) for d in docs})

    async def forget(self, file_id: int) -> None:
        await self._call(self.collection.delete_many({"$or": [{"parent_id": file_id}, {"file_id": file_id}]}))


class MemoryDerivativeIndex(DerivativeIndex):
    """For a store this module does not know (a test double): one process only, lost on restart."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], int] = {}

    async def open(self) -> None:
        return None

    async def get(self, parent_id: int, key: str) -> int | None:
        return self.entries.get((parent_id, key))

    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        return self.entries.setdefault((parent_id, key), file_id)

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        if self.entries.get((parent_id, key)) == file_id:
            del self.entries[(parent_id, key)]

    async def children(self, parent_id: int) -> list[int]:
        return sorted({f for (p, _k), f in self.entries.items() if p == parent_id})

    async def forget(self, file_id: int) -> None:
        self.entries = {k: f for k, f in self.entries.items() if file_id not in (k[0], f)}


def index_for(store: MetadataStore) -> DerivativeIndex:
    """The derivative index living next to ``store`` (same database)."""
    if isinstance(store, SQLiteStore):
        return SQLiteDerivativeIndex(store)
    if isinstance(store, MongoStore):
        return MongoDerivativeIndex(store.db)
    log.warning("no derivative table for %s; derivatives are indexed in memory", type(store).__name__)
    return MemoryDerivativeIndex()

"""The derivative index as a MongoDB collection with a unique (parent_id, key) index."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from tornado_paste.core.records import DerivativeEntry
from tornado_paste.storage.base import DerivativeIndex

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

# Unpinned entries (documents from before the cache fields have no ``pinned``: they are cache entries too).
_EVICTABLE: dict[str, Any] = {"pinned": {"$ne": True}}


def _entry(doc: dict[str, Any] | None) -> DerivativeEntry | None:
    if doc is None:
        return None
    return DerivativeEntry(int(doc["parent_id"]), doc["key"], int(doc["file_id"]), int(doc.get("size") or 0),
                           float(doc.get("used_at") or 0.0), bool(doc.get("pinned")))


class MongoDerivativeIndex(DerivativeIndex):
    """A ``derivatives`` collection with a unique (parent_id, key) index."""

    def __init__(self, store: MongoStore) -> None:
        self.collection = store.db["derivatives"]
        self.files = store.db["files"]
        self._call = store.call

    async def open(self) -> None:
        await self._call(self.collection.create_index([("parent_id", ASCENDING), ("key", ASCENDING)],
                                                      unique=True, name="parent_key_unique"))
        await self._call(self.collection.create_index([("file_id", ASCENDING)], name="file_id"))
        await self._call(self.collection.create_index([("pinned", ASCENDING), ("used_at", ASCENDING)], name="lru"))
        # Entries from before the cache fields: take their size from the record, once.
        old = await self._call(self.collection.find({"size": {"$exists": False}}).to_list(length=None))
        for doc in old:
            record = await self._call(self.files.find_one({"id": doc["file_id"]}, {"size": True}))
            await self._call(self.collection.update_one(
                {"_id": doc["_id"]}, {"$set": {"size": int(record["size"]) if record else 0}}))

    async def entry(self, parent_id: int, key: str) -> DerivativeEntry | None:
        return _entry(await self._call(self.collection.find_one({"parent_id": parent_id, "key": key})))

    async def claim(self, parent_id: int, key: str, file_id: int, size: int = 0, used_at: float = 0.0,
                    pinned: bool = False) -> int:
        try:
            await self._call(self.collection.insert_one({"parent_id": parent_id, "key": key, "file_id": file_id,
                                                         "size": size, "used_at": used_at, "pinned": pinned}))
            return file_id
        except DuplicateKeyError:
            winner = await self.get(parent_id, key)
            if winner is None:  # the winner was discarded in between; ours is as good
                return await self.claim(parent_id, key, file_id, size, used_at, pinned)
            return winner

    async def touch(self, parent_id: int, key: str, used_at: float) -> None:
        await self._call(self.collection.update_one({"parent_id": parent_id, "key": key},
                                                    {"$max": {"used_at": used_at}}))

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        await self._call(self.collection.delete_one({"parent_id": parent_id, "key": key, "file_id": file_id}))

    async def children(self, parent_id: int) -> list[int]:
        docs = await self._call(self.collection.find({"parent_id": parent_id}).to_list(length=None))
        return sorted({int(d["file_id"]) for d in docs})

    async def forget(self, file_id: int) -> None:
        await self._call(self.collection.delete_many({"$or": [{"parent_id": file_id}, {"file_id": file_id}]}))

    async def count(self, parent_id: int) -> int:
        return int(await self._call(self.collection.count_documents({"parent_id": parent_id, **_EVICTABLE})))

    async def total_bytes(self) -> int:
        cursor = await self._call(self.collection.aggregate([
            {"$match": _EVICTABLE}, {"$group": {"_id": None, "bytes": {"$sum": "$size"}}}]))
        docs = await self._call(cursor.to_list(length=1))
        return int(docs[0]["bytes"]) if docs else 0

    async def least_recent(self, limit: int, parent_id: int | None = None) -> list[DerivativeEntry]:
        query = dict(_EVICTABLE) if parent_id is None else {"parent_id": parent_id, **_EVICTABLE}
        cursor = self.collection.find(query).sort(
            [("used_at", ASCENDING), ("parent_id", ASCENDING), ("key", ASCENDING)]).limit(limit)
        return [e for e in map(_entry, await self._call(cursor.to_list(length=limit))) if e is not None]

    async def refs(self, file_id: int) -> int:
        return int(await self._call(self.collection.count_documents({"file_id": file_id})))

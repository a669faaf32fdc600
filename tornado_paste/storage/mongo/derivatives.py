"""The derivative index as a MongoDB collection with a unique (parent_id, key) index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from tornado_paste.storage.base import DerivativeIndex

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

class MongoDerivativeIndex(DerivativeIndex):
    """A ``derivatives`` collection with a unique (parent_id, key) index."""

    def __init__(self, store: MongoStore) -> None:
        self.collection = store.db["derivatives"]
        self._call = store.call

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

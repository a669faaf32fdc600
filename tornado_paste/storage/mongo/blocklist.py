"""The blocklist as a MongoDB collection keyed by sha256."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pymongo import DESCENDING, UpdateOne

from tornado_paste.storage.base import BlockEntry, BlockList

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

# Upserts sent per bulk write when importing a long list.
BATCH = 1000


class MongoBlockList(BlockList):
    def __init__(self, store: MongoStore) -> None:
        self.collection = store.db["blocklist"]
        self._call = store.call

    async def open(self) -> None:
        await self._call(self.collection.create_index([("ts", DESCENDING)], name="ts"))

    async def block(self, sha256s: Iterable[str], reason: str, ts: float) -> int:
        hashes = list(dict.fromkeys(sha256s))
        added = 0
        for start in range(0, len(hashes), BATCH):
            # $setOnInsert: a hash blocked again keeps its first reason and time.
            ops = [UpdateOne({"_id": h}, {"$setOnInsert": {"reason": reason, "ts": ts}}, upsert=True)
                   for h in hashes[start:start + BATCH]]
            result = await self._call(self.collection.bulk_write(ops, ordered=False))
            added += result.upserted_count
        return added

    async def unblock(self, sha256: str) -> bool:
        result = await self._call(self.collection.delete_one({"_id": sha256}))
        return result.deleted_count > 0

    async def is_blocked(self, sha256: str) -> bool:
        return await self._call(self.collection.find_one({"_id": sha256}, {"_id": True})) is not None

    async def entries(self, limit: int = 1000) -> list[BlockEntry]:
        cursor = self.collection.find({}).sort([("ts", DESCENDING), ("_id", 1)]).limit(limit)
        docs = await self._call(cursor.to_list(length=limit))
        return [BlockEntry(d["_id"], d.get("reason", ""), float(d["ts"])) for d in docs]

    async def count(self) -> int:
        return int(await self._call(self.collection.count_documents({})))

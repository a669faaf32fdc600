"""Expiry queries over the MongoDB ``files`` collection (a sparse index on ``expires_at``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import ExpiryIndex

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

class MongoExpiryIndex(ExpiryIndex):
    def __init__(self, store: MongoStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.call(self.store.files.create_index("expires_at", sparse=True, name="expires_at"))

    async def expired(self, now: datetime, limit: int) -> list[FileRecord]:
        query = {"expires_at": {"$ne": None, "$lte": now}}
        cursor = self.store.files.find(query, {"_id": False}).sort("expires_at", 1).limit(limit)
        docs = await self.store.call(cursor.to_list(length=limit))
        return [FileRecord.from_row(d) for d in docs]

    async def set_expiry(self, file_id: int, expires_at: datetime | None) -> None:
        await self.store.call(self.store.files.update_one({"id": file_id}, {"$set": {"expires_at": expires_at}}))

    async def children(self, parent_id: int) -> list[FileRecord]:
        docs = await self.store.call(self.store.files.find({"parent_id": parent_id}, {"_id": False}).to_list())
        return [FileRecord.from_row(d) for d in docs]

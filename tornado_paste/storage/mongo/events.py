"""The event log as a MongoDB collection; cursors come from the store's atomic counter, so two
processes may commit them out of order (the reader in ``events/`` waits for such gaps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymongo import ASCENDING, DESCENDING

from tornado_paste.core.records import LogEntry
from tornado_paste.storage.base import EventLog

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

class MongoEventLog(EventLog):
    """One ``events`` collection; cursors from the store's atomic counter."""

    COUNTER = "events"

    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.events = store.db["events"]

    async def open(self) -> None:
        call = self.store.call
        await call(self.events.create_index([("cursor", ASCENDING)], unique=True, name="cursor_unique"))
        await call(self.events.create_index([("ts", ASCENDING)], name="ts"))

    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        cursor = await self.store.next_id(self.COUNTER)
        await self.store.call(self.events.insert_one({
            "cursor": cursor, "type": type_, "ts": ts, "filehash": filehash,
            "parent_filehash": parent_filehash, "private": private, "payload": payload,
        }))
        return cursor

    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        bounds: dict[str, int] = {"$gt": cursor}
        if upto is not None:
            bounds["$lte"] = upto
        found = self.events.find({"cursor": bounds}, {"_id": False}).sort("cursor", ASCENDING).limit(limit)
        docs = await self.store.call(found.to_list(length=limit))
        return [LogEntry(cursor=int(d["cursor"]), type=d["type"], ts=float(d["ts"]), filehash=d["filehash"],
                         parent_filehash=d.get("parent_filehash"), private=bool(d.get("private")),
                         payload=bytes(d["payload"])) for d in docs]

    async def last_cursor(self) -> int:
        doc = await self.store.call(self.store.counters.find_one({"_id": self.COUNTER}))
        return int(doc["seq"]) if doc else 0

    async def trim(self, older_than: float, keep: int) -> int:
        call = self.store.call
        removed = (await call(self.events.delete_many({"ts": {"$lt": older_than}}))).deleted_count
        found = self.events.find({}, {"cursor": True}).sort("cursor", DESCENDING).skip(keep).limit(1)
        docs = await call(found.to_list(length=1))
        if docs:
            removed += (await call(self.events.delete_many({"cursor": {"$lte": docs[0]["cursor"]}}))).deleted_count
        return removed

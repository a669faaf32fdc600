"""The event log as a MongoDB collection; cursors come from the store's atomic counter, so two
processes may commit them out of order (the reader in ``events/`` waits for such gaps)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure

from tornado_paste.core.records import LogEntry
from tornado_paste.storage.base import ChangeWatch, EventLog, StoreUnavailable

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

log = logging.getLogger(__name__)

# The server holds an empty getMore this long (awaitData); a server that answers at once instead
# (nx-27017) is asked again only after IDLE_PAUSE, not in a busy loop.
MAX_AWAIT_MS = 1000
IDLE_PAUSE = 0.1
_UNSUPPORTED_CODES = {40573, 40415, 136}  # "only supported on replica sets", unknown stage, capped...


class MongoChangeWatch(ChangeWatch):
    """A change stream on ``events`` (inserts only), polled with ``try_next`` so it never busy-waits."""

    def __init__(self, store: MongoStore, collection: Any, resume_token: Any = None) -> None:
        self.store = store
        self.collection = collection
        self.resume_token = resume_token
        self._stream: Any = None

    async def open(self) -> bool:
        try:
            self._stream = await self.collection.watch([{"$match": {"operationType": "insert"}}],
                                                       resume_after=self.resume_token, max_await_time_ms=MAX_AWAIT_MS)
        except OperationFailure as exc:
            if exc.code in _UNSUPPORTED_CODES or "replica set" in str(exc).lower():
                log.info("event log: no change streams on this server (%s); polling", exc)
                return False
            raise StoreUnavailable(f"mongodb: {exc}") from exc
        except (NotImplementedError, AttributeError, TypeError) as exc:  # a stand-in client without them
            log.info("event log: no change streams (%s); polling", type(exc).__name__)
            return False
        except Exception as exc:
            raise StoreUnavailable(f"mongodb: {exc}") from exc
        return True

    async def wait(self, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            asked = loop.time()
            change = await self.store.call(self._stream.try_next())
            self.resume_token = self._stream.resume_token
            if change is not None:
                seen += 1
                continue  # take whatever else is already there in the same wake-up
            remaining = deadline - loop.time()
            if seen or remaining <= 0:
                return seen
            if loop.time() - asked < IDLE_PAUSE / 2:
                await asyncio.sleep(min(IDLE_PAUSE, remaining))

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                # Bounded: a getMore cut off by a cancellation must not hold a shutdown up.
                await asyncio.wait_for(stream.close(), 2.0)
            except Exception:
                pass


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

    def watch(self, resume_token: Any = None) -> MongoChangeWatch:
        return MongoChangeWatch(self.store, self.events, resume_token)

    async def trim(self, older_than: float, keep: int) -> int:
        call = self.store.call
        removed = (await call(self.events.delete_many({"ts": {"$lt": older_than}}))).deleted_count
        found = self.events.find({}, {"cursor": True}).sort("cursor", DESCENDING).skip(keep).limit(1)
        docs = await call(found.to_list(length=1))
        if docs:
            removed += (await call(self.events.delete_many({"cursor": {"$lte": docs[0]["cursor"]}}))).deleted_count
        return removed

"""MongoDB metadata store through PyMongo's asyncio API (``AsyncMongoClient``).

Integer ids come from a ``counters`` collection (one atomic ``$inc``), so
short codes stay short; ``sha256`` and ``filehash`` have unique indexes,
created at start-up, which is what makes concurrent dedupe safe.
"""

from __future__ import annotations

import inspect
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import Backend, DuplicateContent, StoreUnavailable, record_to_doc
from tornado_paste.storage.mongo.collections import MongoCollectionStore
from tornado_paste.storage.mongo.controls import MongoFileControls
from tornado_paste.storage.mongo.derivatives import MongoDerivativeIndex
from tornado_paste.storage.mongo.events import MongoEventLog
from tornado_paste.storage.mongo.expiry import MongoExpiryIndex
from tornado_paste.storage.mongo.tus_state import MongoTusStateStore


class MongoStore(Backend):
    def __init__(self, client: Any, database: str = "tornado_paste") -> None:
        # ``client`` is an AsyncMongoClient (or pymongo-async-mock's stand-in in tests).
        self.client = client
        self.db = client[database]
        self.files = self.db["files"]
        self.counters = self.db["counters"]
        self.derivatives = MongoDerivativeIndex(self)
        self.tus_state = MongoTusStateStore(self)
        self.event_log = MongoEventLog(self)
        self.expiry = MongoExpiryIndex(self)
        self.controls = MongoFileControls(self)
        self.collections = MongoCollectionStore(self)

    @classmethod
    def from_url(cls, url: str, database: str = "tornado_paste", timeout: float = 2.0) -> MongoStore:
        from pymongo import AsyncMongoClient

        ms = int(timeout * 1000)
        client = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms,
            socketTimeoutMS=max(ms * 5, 10_000), retryWrites=True,
        )
        return cls(client, database)

    async def call(self, awaitable: Any) -> Any:
        """Await a driver call, mapping driver failures to StoreUnavailable (duplicate keys pass)."""
        try:
            return await awaitable
        except DuplicateKeyError:
            raise
        except (ConnectionFailure, PyMongoError) as exc:
            raise StoreUnavailable(f"mongodb: {exc}") from exc

    async def open(self) -> None:
        await self.call(self.files.create_index([("sha256", ASCENDING)], unique=True, name="sha256_unique"))
        await self.call(self.files.create_index([("filehash", ASCENDING)], unique=True, name="filehash_unique"))
        await self.call(self.files.create_index([("id", ASCENDING)], unique=True, name="id_unique"))
        await self.call(self.files.create_index([("private", ASCENDING), ("id", DESCENDING)], name="public_latest"))
        for concern in (self.derivatives, self.tus_state, self.event_log, self.expiry, self.controls,
                        self.collections):
            await concern.open()

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result

    async def ping(self) -> None:
        await self.call(self.db.command("ping"))

    async def next_id(self, name: str) -> int:
        """The next value of a named counter (atomic across processes and machines)."""
        doc = await self.call(
            self.counters.find_one_and_update(
                {"_id": name}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
            )
        )
        return int(doc["seq"])

    async def insert_file(self, record: FileRecord) -> FileRecord:
        new_id = await self.next_id("files")
        doc = record_to_doc(record)
        doc["id"] = new_id
        try:
            await self.call(self.files.insert_one(doc))
        except DuplicateKeyError as exc:
            raise DuplicateContent(str(exc)) from exc
        record.id = new_id
        return record

    async def _one(self, query: dict[str, Any]) -> FileRecord | None:
        doc = await self.call(self.files.find_one(query, {"_id": False}))
        return FileRecord.from_row(doc) if doc else None

    async def get_by_id(self, file_id: int) -> FileRecord | None:
        return await self._one({"id": file_id})

    async def get_by_filehash(self, filehash: str) -> FileRecord | None:
        return await self._one({"filehash": filehash})

    async def get_by_sha256(self, sha256: str) -> FileRecord | None:
        return await self._one({"sha256": sha256})

    async def latest(self, limit: int, before_id: int | None = None) -> list[FileRecord]:
        query: dict[str, Any] = {"private": False}
        if before_id is not None:
            query["id"] = {"$lt": before_id}
        cursor = self.files.find(query, {"_id": False}).sort("id", DESCENDING).limit(limit)
        docs = await self.call(cursor.to_list(length=limit))
        return [FileRecord.from_row(d) for d in docs]

    async def count_public(self) -> int:
        return int(await self.call(self.files.count_documents({"private": False})))

    async def delete_file(self, file_id: int) -> bool:
        result = await self.call(self.files.delete_one({"id": file_id}))
        return result.deleted_count > 0

    async def count_sha256_refs(self, sha256: str) -> int:
        return int(await self.call(self.files.count_documents({"sha256": sha256})))

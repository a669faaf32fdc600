"""MongoDB metadata store through PyMongo's asyncio API (``AsyncMongoClient``).

Integer ids (internal, never shown) come from a ``counters`` collection (one atomic ``$inc``).
``filehash`` and ``short_code`` have unique indexes; ``sha256`` is unique only among public
originals (a partial unique index on documents with ``public_original: true``), which is what
makes concurrent public uploads of the same bytes end with one record. All are created at
start-up, after the migration of documents written before short codes were stored (see ``open``).
"""

from __future__ import annotations

import inspect
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from tornado_paste.core.records import FileRecord, new_short_code
from tornado_paste.storage.base import Backend, DuplicateContent, StoreUnavailable, record_to_doc
from tornado_paste.storage.mongo.blocklist import MongoBlockList
from tornado_paste.storage.mongo.collections import MongoCollectionStore
from tornado_paste.storage.mongo.controls import MongoFileControls
from tornado_paste.storage.mongo.derivatives import MongoDerivativeIndex
from tornado_paste.storage.mongo.events import MongoEventLog
from tornado_paste.storage.mongo.expiry import MongoExpiryIndex
from tornado_paste.storage.mongo.stats import MongoFileStats
from tornado_paste.storage.mongo.tus_state import MongoTusStateStore

# 2: random short codes in the documents; sha256 unique among public originals only.
SCHEMA_VERSION = 2


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
        self.blocklist = MongoBlockList(self)
        self.stats = MongoFileStats(self)

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
        schema = await self.call(self.counters.find_one({"_id": "schema"}))
        if schema is None or schema.get("version", 1) < SCHEMA_VERSION:
            await self._migrate_v1()
        files = self.files
        await self.call(files.create_index([("filehash", ASCENDING)], unique=True, name="filehash_unique"))
        await self.call(files.create_index([("short_code", ASCENDING)], unique=True, name="short_code_unique"))
        # The dedupe arbiter first (its key differs from version 1's): no moment without one.
        await self.call(files.create_index([("public_original", ASCENDING), ("sha256", ASCENDING)], unique=True,
                                           partialFilterExpression={"public_original": True},
                                           name="public_original_sha256_unique"))
        # Version 1's sha256 index was unique across every record. It goes before the plain one is made:
        # MongoDB refuses a second index on the same key under another name.
        if "sha256_unique" in await self.call(files.index_information()):
            await self._drop_index("sha256_unique")
        await self.call(files.create_index([("sha256", ASCENDING)], name="sha256"))
        await self.call(self.counters.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}},
                                                 upsert=True))
        await self.call(self.files.create_index([("id", ASCENDING)], unique=True, name="id_unique"))
        await self.call(self.files.create_index([("private", ASCENDING), ("id", DESCENDING)], name="public_latest"))
        for concern in (self.derivatives, self.tus_state, self.event_log, self.expiry, self.blocklist, self.stats,
                        self.controls, self.collections):
            await concern.open()

    async def _drop_index(self, name: str) -> None:
        try:
            await self.files.drop_index(name)
        except OperationFailure as exc:
            if exc.code != 27:  # IndexNotFound: another process starting at the same time dropped it
                raise StoreUnavailable(f"mongodb: {exc}") from exc
        except PyMongoError as exc:
            raise StoreUnavailable(f"mongodb: {exc}") from exc

    async def _migrate_v1(self) -> None:
        """Documents of version 1 had no ``short_code`` (Sqids of the id) and no ``public_original``.

        Each gets a random code (old ``/s/`` links stop working) and its flag; every update is
        conditional, so processes starting together migrate each document once. Before the
        unique index on ``short_code`` exists, two documents without one would collide in it.
        """
        files = self.files
        await self.call(files.update_many({"public_original": {"$exists": False}, "private": False,
                                           "parent_id": None}, {"$set": {"public_original": True}}))
        await self.call(files.update_many({"public_original": {"$exists": False}},
                                          {"$set": {"public_original": False}}))
        legacy = files.find({"short_code": {"$exists": False}}, {"_id": False, "id": True, "private": True})
        for doc in await self.call(legacy.to_list(length=None)):
            await self.call(files.update_one({"id": doc["id"], "short_code": {"$exists": False}},
                                             {"$set": {"short_code": new_short_code(bool(doc.get("private")))}}))

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result

    async def ping(self) -> None:
        await self.call(self.db.command("ping"))

    async def shared_secret(self, candidate: bytes) -> bytes | None:
        """In ``meta`` under ``_id: "secret"``: the first insert wins (``_id`` is unique), so machines that
        start at once agree on one value; everyone then reads the stored one."""
        meta = self.db["meta"]
        doc = await self.call(meta.find_one({"_id": "secret"}))
        if doc is None:
            try:
                await self.call(meta.insert_one({"_id": "secret", "value": candidate.hex()}))
            except DuplicateKeyError:
                pass  # another machine's insert won the race: read its value
            doc = await self.call(meta.find_one({"_id": "secret"}))
        return bytes.fromhex(doc["value"])

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
        doc["public_original"] = record.public_original
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

    async def get_by_short_code(self, code: str) -> FileRecord | None:
        return await self._one({"short_code": code})

    async def get_public_original(self, sha256: str) -> FileRecord | None:
        return await self._one({"public_original": True, "sha256": sha256})

    async def with_sha256(self, sha256: str, limit: int = 100) -> list[FileRecord]:
        cursor = self.files.find({"sha256": sha256}, {"_id": False}).sort("id", ASCENDING).limit(limit)
        return [FileRecord.from_row(d) for d in await self.call(cursor.to_list(length=limit))]

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

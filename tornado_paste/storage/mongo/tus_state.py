"""tus upload state as a MongoDB collection; ``_id`` is the upload id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, ReturnDocument

from tornado_paste.core.records import TusState, TusUsage
from tornado_paste.storage.base import Locked, TusStateStore

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

class MongoTusStateStore(TusStateStore):
    """A ``tus_uploads`` collection beside ``files``; ``_id`` is the upload id."""

    def __init__(self, store: MongoStore) -> None:
        self.uploads = store.db["tus_uploads"]
        self._call = store.call  # maps driver errors to StoreUnavailable

    @staticmethod
    def _state(doc: dict[str, Any] | None) -> TusState | None:
        if doc is None:
            return None
        doc = dict(doc)
        doc["id"] = doc.pop("_id")
        return TusState.from_doc(doc)

    async def open(self) -> None:
        await self._call(self.uploads.create_index([("expires_at", ASCENDING)], name="tus_expires"))
        await self._call(self.uploads.create_index([("client", ASCENDING), ("filehash", ASCENDING)],
                                                   name="tus_client"))

    async def create(self, state: TusState) -> None:
        doc = state.to_doc()
        doc["_id"] = doc.pop("id")
        await self._call(self.uploads.insert_one(doc))

    async def get(self, upload_id: str) -> TusState | None:
        return self._state(await self._call(self.uploads.find_one({"_id": upload_id})))

    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        free = {"$or": [{"lock_owner": None}, {"lock_owner": owner}, {"lock_until": {"$lt": now}}]}
        doc = await self._call(self.uploads.find_one_and_update(
            {"_id": upload_id, **free}, {"$set": {"lock_owner": owner, "lock_until": now + lease}},
            return_document=ReturnDocument.AFTER))
        if doc is not None:
            return self._state(doc)
        if await self._call(self.uploads.find_one({"_id": upload_id}, {"_id": True})) is None:
            return None
        raise Locked(upload_id)

    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        result = await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                          {"$set": {"lock_until": until}}))
        return result.matched_count > 0

    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        result = await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                          {"$set": changes}))
        return result.matched_count > 0

    async def release(self, upload_id: str, owner: str) -> None:
        await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                 {"$set": {"lock_owner": None, "lock_until": 0.0}}))

    async def delete(self, upload_id: str) -> bool:
        result = await self._call(self.uploads.delete_one({"_id": upload_id}))
        return result.deleted_count > 0

    def _expired_query(self, now: float) -> dict[str, Any]:
        return {"expires_at": {"$lt": now}, "$or": [{"lock_owner": None}, {"lock_until": {"$lt": now}}]}

    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        cursor = self.uploads.find(self._expired_query(now)).sort("expires_at", ASCENDING).limit(limit)
        docs = await self._call(cursor.to_list(length=limit))
        return [s for s in map(self._state, docs) if s is not None]

    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        result = await self._call(self.uploads.delete_one({"_id": upload_id, **self._expired_query(now)}))
        return result.deleted_count > 0

    async def ids(self) -> set[str]:
        docs = await self._call(self.uploads.find({}, {"_id": True}).to_list(length=None))
        return {d["_id"] for d in docs}

    async def usage(self, now: float, client: str | None = None) -> TusUsage:
        match: dict[str, Any] = {"filehash": None, "expires_at": {"$gte": now}}
        if client is not None:
            match["client"] = client
        cursor = await self._call(self.uploads.aggregate([
            {"$match": match},
            {"$group": {"_id": None, "count": {"$sum": 1}, "declared": {"$sum": {"$ifNull": ["$length", "$offset"]}}}},
        ]))
        docs = await self._call(cursor.to_list(length=1))
        return TusUsage(int(docs[0]["count"]), int(docs[0]["declared"])) if docs else TusUsage()

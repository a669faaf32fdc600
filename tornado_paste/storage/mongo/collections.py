"""Collections and members as two MongoDB collections. Positions come from an atomic ``$inc`` on the
collection's document; the upload-request quota is one ``update_one`` whose filter says the new totals
stay within the maximums (``$expr``), so concurrent reservations from any process never overshoot."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from tornado_paste.core.records import CollectionRecord, Member
from tornado_paste.storage.base import CollectionStore, DuplicateContent, StoreUnavailable

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore

_HIDE = {"_id": False, "next_position": False}


# Tries of a compare-and-set before the store is called busy (503): each loses only to another change.
CAS_ATTEMPTS = 50


class MongoCollectionStore(CollectionStore):
    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.collections = store.db["collections"]
        self.members_ = store.db["collection_members"]

    async def open(self) -> None:
        call = self.store.call
        await call(self.collections.create_index([("code", ASCENDING)], unique=True, name="code_unique"))
        await call(self.collections.create_index([("request_hash", ASCENDING)], unique=True, name="request_unique",
                                                 partialFilterExpression={"request_hash": {"$type": "string"}}))
        await call(self.collections.create_index("expires_at", sparse=True, name="expires_at"))
        await call(self.members_.create_index([("collection", ASCENDING), ("filehash", ASCENDING)], unique=True,
                                              name="member_unique"))
        await call(self.members_.create_index([("filehash", ASCENDING)], name="member_file"))

    async def create(self, collection: CollectionRecord) -> None:
        doc = collection.to_row()
        if doc.get("request_hash") is None:
            doc.pop("request_hash")  # the partial unique index only covers strings
        doc["next_position"] = 0
        try:
            await self.store.call(self.collections.insert_one(doc))
        except DuplicateKeyError as exc:
            raise DuplicateContent(str(exc)) from exc

    async def _one(self, query: dict[str, Any]) -> CollectionRecord | None:
        doc = await self.store.call(self.collections.find_one(query, _HIDE))
        return CollectionRecord.from_row(doc) if doc else None

    async def get(self, code: str) -> CollectionRecord | None:
        return await self._one({"code": code})

    async def get_by_request(self, request_hash: str) -> CollectionRecord | None:
        return await self._one({"request_hash": request_hash})

    async def update(self, code: str, changes: dict[str, Any]) -> CollectionRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a collection field: {sorted(unknown)}")
        if not changes:
            return await self.get(code)
        sets = {k: v for k, v in changes.items() if not (k == "request_hash" and v is None)}
        update: dict[str, Any] = {"$set": sets} if sets else {}
        if "request_hash" in changes and changes["request_hash"] is None:
            update["$unset"] = {"request_hash": ""}
        try:
            doc = await self.store.call(self.collections.find_one_and_update(
                {"code": code}, update, projection=_HIDE, return_document=ReturnDocument.AFTER))
        except DuplicateKeyError as exc:
            raise DuplicateContent(str(exc)) from exc
        return CollectionRecord.from_row(doc) if doc else None

    async def delete(self, code: str) -> bool:
        await self.store.call(self.members_.delete_many({"collection": code}))
        result = await self.store.call(self.collections.delete_one({"code": code}))
        return result.deleted_count > 0

    async def add_member(self, code: str, filehash: str, added_at: datetime, by_owner: bool,
                         owned: bool) -> tuple[Member, bool]:
        call = self.store.call
        query = {"collection": code, "filehash": filehash}
        existing = await call(self.members_.find_one(query, {"_id": False}))
        if existing is None:
            counter = await call(self.collections.find_one_and_update(
                {"code": code}, {"$inc": {"next_position": 1}}, projection={"next_position": True},
                return_document=ReturnDocument.AFTER))
            position = int(counter["next_position"]) if counter else 1
            member = Member(code, filehash, position, added_at, by_owner, owned)
            try:
                await call(self.members_.insert_one(member.to_row()))
                return member, True
            except DuplicateKeyError:
                pass  # a concurrent add of the same file won: take its row below
        flags = {k: True for k, on in (("by_owner", by_owner), ("owned", owned)) if on}
        if flags:
            await call(self.members_.update_one(query, {"$set": flags}))
        doc = await call(self.members_.find_one(query, {"_id": False}))
        return Member.from_row(doc), False

    async def remove_member(self, code: str, filehash: str) -> bool:
        result = await self.store.call(self.members_.delete_one({"collection": code, "filehash": filehash}))
        return result.deleted_count > 0

    async def members(self, code: str) -> list[Member]:
        found = self.members_.find({"collection": code}, {"_id": False}).sort("position", ASCENDING)
        return [Member.from_row(d) for d in await self.store.call(found.to_list())]

    async def containing(self, filehash: str) -> list[str]:
        found = self.members_.find({"filehash": filehash}, {"collection": True, "_id": False})
        return sorted(d["collection"] for d in await self.store.call(found.to_list()))

    async def reserve(self, code: str, files: int, nbytes: int) -> bool:
        # A compare-and-set of both counters (as they were read), retried when another change came in
        # between: atomic without $expr or a pipeline update, which nx-27017 (the tests' wire server)
        # gets wrong (docs/scale.md). Giving back (amounts <= 0) never goes below zero.
        giving_back = files <= 0 and nbytes <= 0
        for _attempt in range(CAS_ATTEMPTS):
            doc = await self.store.call(self.collections.find_one(
                {"code": code}, {"used_files": True, "used_bytes": True, "max_files": True, "max_bytes": True,
                                 "_id": False}))
            if doc is None:
                return giving_back
            used_files, used_bytes = doc.get("used_files") or 0, doc.get("used_bytes") or 0
            if giving_back:
                new_files, new_bytes = max(0, used_files + files), max(0, used_bytes + nbytes)
            else:
                new_files, new_bytes = used_files + files, used_bytes + nbytes
                max_files, max_bytes = doc.get("max_files"), doc.get("max_bytes")
                if (max_files is not None and new_files > max_files) or (max_bytes is not None
                                                                         and new_bytes > max_bytes):
                    return False
            result = await self.store.call(self.collections.update_one(
                {"code": code, "used_files": doc.get("used_files"), "used_bytes": doc.get("used_bytes")},
                {"$set": {"used_files": new_files, "used_bytes": new_bytes}}))
            if result.matched_count:
                return True
        raise StoreUnavailable("mongodb: a collection's usage kept changing; retry")

    async def claim_download(self, code: str) -> int | None:
        return await claim_download(self.store, self.collections, {"code": code})

    async def expired(self, now: datetime, limit: int) -> list[CollectionRecord]:
        found = self.collections.find({"expires_at": {"$ne": None, "$lte": now}}, _HIDE).sort(
            "expires_at", ASCENDING).limit(limit)
        return [CollectionRecord.from_row(d) for d in await self.store.call(found.to_list(length=limit))]


async def claim_download(store: MongoStore, collection: Any, query: dict[str, Any]) -> int | None:
    """One more download of a limited file or collection: the new count, or None when none is left (or
    there is no limit). A compare-and-set of ``downloads``, like ``reserve``."""
    for _attempt in range(CAS_ATTEMPTS):
        doc = await store.call(collection.find_one(query, {"downloads": True, "max_downloads": True, "_id": False}))
        if doc is None or doc.get("max_downloads") is None:
            return None
        count = doc.get("downloads") or 0
        if count >= doc["max_downloads"]:
            return None
        result = await store.call(collection.update_one({**query, "downloads": doc.get("downloads")},
                                                        {"$set": {"downloads": count + 1}}))
        if result.matched_count:
            return count + 1
    raise StoreUnavailable("mongodb: the download count kept changing; retry")

"""What a manage token changes on a file, and the exact download count, on the MongoDB ``files``
collection: ``find_one_and_update`` with an ``$expr`` filter (``downloads < max_downloads``), one
atomic document update whichever process or machine sends it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import FileControls

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore


class MongoFileControls(FileControls):
    def __init__(self, store: MongoStore) -> None:
        self.store = store

    async def update(self, filehash: str, changes: dict[str, Any]) -> FileRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a field a manage token changes: {sorted(unknown)}")
        files = self.store.files
        if changes:
            doc = await self.store.call(files.find_one_and_update(
                {"filehash": filehash}, {"$set": dict(changes)}, projection={"_id": False},
                return_document=ReturnDocument.AFTER))
        else:
            doc = await self.store.call(files.find_one({"filehash": filehash}, {"_id": False}))
        return FileRecord.from_row(doc) if doc else None

    async def claim_download(self, filehash: str) -> int | None:
        doc = await self.store.call(self.store.files.find_one_and_update(
            {"filehash": filehash, "max_downloads": {"$ne": None},
             "$expr": {"$lt": ["$downloads", "$max_downloads"]}},
            {"$inc": {"downloads": 1}}, projection={"downloads": True, "_id": False},
            return_document=ReturnDocument.BEFORE))
        # The document as matched (BEFORE): re-reading AFTER through the filter would miss the last claim.
        return int(doc.get("downloads") or 0) + 1 if doc else None

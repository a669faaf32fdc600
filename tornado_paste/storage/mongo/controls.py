"""What a manage token changes on a file, and the exact download count, on the MongoDB ``files``
collection: ``find_one_and_update`` with an ``$expr`` filter (``downloads < max_downloads``), one
atomic document update whichever process or machine sends it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import DuplicateContent, FileControls
from tornado_paste.storage.mongo.collections import claim_download

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
            values = dict(changes)
            if "private" in values:
                # The dedupe arbiter's flag follows the visibility (a derivative never has it).
                current = await self.store.call(files.find_one({"filehash": filehash}, {"parent_id": True}))
                if current is None:
                    return None
                values["public_original"] = not values["private"] and current.get("parent_id") is None
            try:
                # update_one, then read: nx-27017 (the tests' wire server) answers a find_one_and_update that
                # breaks a unique index with "no document" instead of the duplicate-key error.
                result = await self.store.call(files.update_one({"filehash": filehash}, {"$set": values}))
            except DuplicateKeyError as exc:  # public_original_sha256_unique or short_code_unique
                raise DuplicateContent(str(exc)) from exc
            if not result.matched_count:
                return None
            doc = await self.store.call(files.find_one({"filehash": filehash},
                                                       {"_id": False, "public_original": False}))
        else:
            doc = await self.store.call(files.find_one({"filehash": filehash}, {"_id": False}))
        return FileRecord.from_row(doc) if doc else None

    async def claim_download(self, filehash: str) -> int | None:
        return await claim_download(self.store, self.store.files, {"filehash": filehash})

"""Aggregates over the MongoDB ``files`` collection (one ``$group`` pipeline), for operators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tornado_paste.storage.base import FileStats, Inventory, TypeTotals

if TYPE_CHECKING:
    from tornado_paste.storage.mongo.store import MongoStore


class MongoFileStats(FileStats):
    def __init__(self, store: MongoStore) -> None:
        self.store = store

    async def summary(self) -> Inventory:
        derived = {"$ne": [{"$ifNull": ["$parent_id", None]}, None]}
        pipeline = [{"$group": {
            "_id": "$mimetype",
            "files": {"$sum": 1},
            "bytes": {"$sum": "$size"},
            "private": {"$sum": {"$cond": [{"$eq": ["$private", True]}, 1, 0]}},
            "derivatives": {"$sum": {"$cond": [derived, 1, 0]}},
            "derivative_bytes": {"$sum": {"$cond": [derived, "$size", 0]}},
        }}]
        cursor = await self.store.call(self.store.files.aggregate(pipeline))
        groups = await self.store.call(cursor.to_list(length=None))
        inventory = Inventory()
        for group in sorted(groups, key=lambda g: g["_id"]):
            inventory.by_type[group["_id"]] = TypeTotals(int(group["files"]), int(group["bytes"]))
            inventory.files += int(group["files"])
            inventory.bytes += int(group["bytes"])
            inventory.private += int(group["private"])
            inventory.derivatives += int(group["derivatives"])
            inventory.derivative_bytes += int(group["derivative_bytes"])
        return inventory

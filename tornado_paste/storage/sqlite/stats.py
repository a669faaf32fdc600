"""Aggregates over the SQLite ``files`` table, for operators."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tornado_paste.storage.base import FileStats, Inventory, TypeTotals

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore


class SQLiteFileStats(FileStats):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def summary(self) -> Inventory:
        def query(conn: sqlite3.Connection) -> Inventory:
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(private), 0),"
                " COALESCE(SUM(parent_id IS NOT NULL), 0),"
                " COALESCE(SUM(CASE WHEN parent_id IS NOT NULL THEN size ELSE 0 END), 0) FROM files").fetchone()
            inventory = Inventory(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
            for mimetype, files, size in conn.execute(
                    "SELECT mimetype, COUNT(*), SUM(size) FROM files GROUP BY mimetype ORDER BY mimetype"):
                inventory.by_type[mimetype] = TypeTotals(int(files), int(size))
            return inventory

        return await self.store.run(query)

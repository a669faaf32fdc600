"""The derivative index as a SQLite table beside ``files``."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tornado_paste.storage.base import DerivativeIndex

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS derivatives (
    parent_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    PRIMARY KEY (parent_id, key)
);
CREATE INDEX IF NOT EXISTS derivatives_file ON derivatives (file_id);
"""


class SQLiteDerivativeIndex(DerivativeIndex):
    """A table in the store's own database, used through the store's connection thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(SCHEMA))

    async def get(self, parent_id: int, key: str) -> int | None:
        def query(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT file_id FROM derivatives WHERE parent_id = ? AND key = ?",
                               (parent_id, key)).fetchone()
            return int(row[0]) if row else None

        return await self.store.run(query)

    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        def upsert(conn: sqlite3.Connection) -> int:
            # Autocommit connection: INSERT OR IGNORE is atomic, the SELECT sees whoever won.
            conn.execute("INSERT OR IGNORE INTO derivatives (parent_id, key, file_id) VALUES (?, ?, ?)",
                         (parent_id, key, file_id))
            row = conn.execute("SELECT file_id FROM derivatives WHERE parent_id = ? AND key = ?",
                               (parent_id, key)).fetchone()
            return int(row[0])

        return await self.store.run(upsert)

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        await self.store.run(lambda c: c.execute(
            "DELETE FROM derivatives WHERE parent_id = ? AND key = ? AND file_id = ?", (parent_id, key, file_id)))

    async def children(self, parent_id: int) -> list[int]:
        rows = await self.store.run(lambda c: c.execute(
            "SELECT DISTINCT file_id FROM derivatives WHERE parent_id = ?", (parent_id,)).fetchall())
        return [int(r[0]) for r in rows]

    async def forget(self, file_id: int) -> None:
        await self.store.run(lambda c: c.execute(
            "DELETE FROM derivatives WHERE parent_id = ? OR file_id = ?", (file_id, file_id)))

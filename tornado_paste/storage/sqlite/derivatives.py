"""The derivative index as a SQLite table beside ``files``."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tornado_paste.core.records import DerivativeEntry
from tornado_paste.storage.base import DerivativeIndex

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

TABLE = """
CREATE TABLE IF NOT EXISTS derivatives (
    parent_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    used_at REAL NOT NULL DEFAULT 0,
    pinned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, key)
);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS derivatives_file ON derivatives (file_id);
CREATE INDEX IF NOT EXISTS derivatives_lru ON derivatives (pinned, used_at);
"""
# Columns added after the first release: (name, definition) for ALTER TABLE on an older database.
_ADDED = (("size", "INTEGER NOT NULL DEFAULT 0"), ("used_at", "REAL NOT NULL DEFAULT 0"),
          ("pinned", "INTEGER NOT NULL DEFAULT 0"))
_COLUMNS = "parent_id, key, file_id, size, used_at, pinned"


def _migrate(conn: sqlite3.Connection) -> None:
    """Create the table, add the cache columns to an older one (sizes taken from the records), index it."""
    conn.executescript(TABLE)
    have = {row[1] for row in conn.execute("PRAGMA table_info(derivatives)")}
    missing = [(name, definition) for name, definition in _ADDED if name not in have]
    for name, definition in missing:
        conn.execute(f"ALTER TABLE derivatives ADD COLUMN {name} {definition}")
    if any(name == "size" for name, _d in missing):
        conn.execute("UPDATE derivatives SET size = COALESCE("
                     "(SELECT files.size FROM files WHERE files.id = derivatives.file_id), 0)")
    conn.executescript(INDEXES)


def _entry(row: sqlite3.Row | None) -> DerivativeEntry | None:
    if row is None:
        return None
    return DerivativeEntry(int(row["parent_id"]), row["key"], int(row["file_id"]), int(row["size"]),
                           float(row["used_at"]), bool(row["pinned"]))


class SQLiteDerivativeIndex(DerivativeIndex):
    """A table in the store's own database, used through the store's connection thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(_migrate)

    async def entry(self, parent_id: int, key: str) -> DerivativeEntry | None:
        return await self.store.run(lambda c: _entry(c.execute(
            f"SELECT {_COLUMNS} FROM derivatives WHERE parent_id = ? AND key = ?", (parent_id, key)).fetchone()))

    async def claim(self, parent_id: int, key: str, file_id: int, size: int = 0, used_at: float = 0.0,
                    pinned: bool = False) -> int:
        def upsert(conn: sqlite3.Connection) -> int:
            # Autocommit connection: INSERT OR IGNORE is atomic, the SELECT sees whoever won.
            conn.execute("INSERT OR IGNORE INTO derivatives (parent_id, key, file_id, size, used_at, pinned) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (parent_id, key, file_id, size, used_at, int(pinned)))
            row = conn.execute("SELECT file_id FROM derivatives WHERE parent_id = ? AND key = ?",
                               (parent_id, key)).fetchone()
            return int(row[0])

        return await self.store.run(upsert)

    async def touch(self, parent_id: int, key: str, used_at: float) -> None:
        await self.store.run(lambda c: c.execute(
            "UPDATE derivatives SET used_at = ? WHERE parent_id = ? AND key = ? AND used_at < ?",
            (used_at, parent_id, key, used_at)))

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

    async def count(self, parent_id: int) -> int:
        return await self.store.run(lambda c: int(c.execute(
            "SELECT COUNT(*) FROM derivatives WHERE parent_id = ? AND pinned = 0", (parent_id,)).fetchone()[0]))

    async def total_bytes(self) -> int:
        return await self.store.run(lambda c: int(c.execute(
            "SELECT COALESCE(SUM(size), 0) FROM derivatives WHERE pinned = 0").fetchone()[0]))

    async def least_recent(self, limit: int, parent_id: int | None = None) -> list[DerivativeEntry]:
        def query(conn: sqlite3.Connection) -> list[DerivativeEntry]:
            where, args = ("pinned = 0", ()) if parent_id is None else ("pinned = 0 AND parent_id = ?", (parent_id,))
            rows = conn.execute(f"SELECT {_COLUMNS} FROM derivatives WHERE {where} "
                                "ORDER BY used_at, parent_id, key LIMIT ?", (*args, limit)).fetchall()
            return [e for e in map(_entry, rows) if e is not None]

        return await self.store.run(query)

    async def refs(self, file_id: int) -> int:
        return await self.store.run(lambda c: int(c.execute(
            "SELECT COUNT(*) FROM derivatives WHERE file_id = ?", (file_id,)).fetchone()[0]))

"""The blocklist as a SQLite table beside ``files``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tornado_paste.storage.base import BlockEntry, BlockList

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocklist (
    sha256 TEXT PRIMARY KEY,
    reason TEXT NOT NULL DEFAULT '',
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS blocklist_ts ON blocklist (ts);
"""


class SQLiteBlockList(BlockList):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(SCHEMA))

    async def block(self, sha256s: Iterable[str], reason: str, ts: float) -> int:
        rows = [(h, reason, ts) for h in dict.fromkeys(sha256s)]

        def insert(conn: sqlite3.Connection) -> int:
            # One transaction for the whole batch: an imported list of 100,000 hashes is one commit.
            conn.execute("BEGIN")
            try:
                added = conn.executemany("INSERT OR IGNORE INTO blocklist (sha256, reason, ts) VALUES (?, ?, ?)",
                                         rows).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(added)

        return await self.store.run(insert) if rows else 0

    async def unblock(self, sha256: str) -> bool:
        return await self.store.run(lambda c: c.execute("DELETE FROM blocklist WHERE sha256 = ?",
                                                        (sha256,)).rowcount > 0)

    async def is_blocked(self, sha256: str) -> bool:
        return await self.store.run(lambda c: c.execute("SELECT 1 FROM blocklist WHERE sha256 = ?",
                                                        (sha256,)).fetchone() is not None)

    async def entries(self, limit: int = 1000) -> list[BlockEntry]:
        rows = await self.store.run(lambda c: c.execute(
            "SELECT sha256, reason, ts FROM blocklist ORDER BY ts DESC, sha256 LIMIT ?", (limit,)).fetchall())
        return [BlockEntry(r[0], r[1], float(r[2])) for r in rows]

    async def count(self) -> int:
        return await self.store.run(lambda c: int(c.execute("SELECT COUNT(*) FROM blocklist").fetchone()[0]))

"""Expiry queries over the SQLite ``files`` table (a partial index on ``expires_at``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import ExpiryIndex
from tornado_paste.storage.sqlite.codec import decode_record

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

def _iso(moment: datetime) -> str:
    # The exact form SQLiteStore writes, so text comparison orders correctly.
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


class SQLiteExpiryIndex(ExpiryIndex):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.execute(
            "CREATE INDEX IF NOT EXISTS files_expires_at ON files (expires_at) WHERE expires_at IS NOT NULL"))

    async def expired(self, now: datetime, limit: int) -> list[FileRecord]:
        def query(conn: sqlite3.Connection) -> list[FileRecord]:
            rows = conn.execute("SELECT * FROM files WHERE expires_at IS NOT NULL AND expires_at <= ? "
                                "ORDER BY expires_at LIMIT ?", (_iso(now), limit)).fetchall()
            return [r for r in map(decode_record, rows) if r is not None]

        return await self.store.run(query)

    async def set_expiry(self, file_id: int, expires_at: datetime | None) -> None:
        value = _iso(expires_at) if expires_at else None
        await self.store.run(lambda c: c.execute("UPDATE files SET expires_at = ? WHERE id = ?", (value, file_id)))

    async def children(self, parent_id: int) -> list[FileRecord]:
        def query(conn: sqlite3.Connection) -> list[FileRecord]:
            rows = conn.execute("SELECT * FROM files WHERE parent_id = ?", (parent_id,)).fetchall()
            return [r for r in map(decode_record, rows) if r is not None]

        return await self.store.run(query)

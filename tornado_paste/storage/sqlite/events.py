"""The event log as a SQLite table. AUTOINCREMENT under the single write lock hands out
cursors in commit order, so a reader polling ``cursor > last`` never misses an entry."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from tornado_paste.core.records import LogEntry
from tornado_paste.storage.base import EventLog

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    filehash TEXT NOT NULL,
    parent_filehash TEXT,
    private INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""


def _sqlite_entry(row: sqlite3.Row) -> LogEntry:
    return LogEntry(cursor=row["cursor"], type=row["type"], ts=row["ts"], filehash=row["filehash"],
                    parent_filehash=row["parent_filehash"], private=bool(row["private"]),
                    payload=bytes(row["payload"]))


class SQLiteEventLog(EventLog):
    """Uses the store's own connection and thread (``SQLiteStore.run``)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(_SQLITE_SCHEMA))

    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO events (type, ts, filehash, parent_filehash, private, payload) VALUES (?,?,?,?,?,?)",
                (type_, ts, filehash, parent_filehash, int(private), payload),
            )
            return int(cur.lastrowid)

        return await self.store.run(insert, group=True)

    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        def query(conn: sqlite3.Connection) -> list[LogEntry]:
            if upto is None:
                rows = conn.execute("SELECT * FROM events WHERE cursor > ? ORDER BY cursor LIMIT ?", (cursor, limit))
            else:
                rows = conn.execute("SELECT * FROM events WHERE cursor > ? AND cursor <= ? ORDER BY cursor LIMIT ?",
                                    (cursor, upto, limit))
            return [_sqlite_entry(r) for r in rows.fetchall()]

        return await self.store.run(query)

    async def last_cursor(self) -> int:
        # sqlite_sequence survives trimming the whole table, unlike MAX(cursor).
        def query(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            return int(row[0]) if row else 0

        return await self.store.run(query)

    async def trim(self, older_than: float, keep: int) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            removed = conn.execute("DELETE FROM events WHERE ts < ?", (older_than,)).rowcount
            row = conn.execute("SELECT cursor FROM events ORDER BY cursor DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
            if row is not None:
                removed += conn.execute("DELETE FROM events WHERE cursor <= ?", (row[0],)).rowcount
            return removed

        return await self.store.run(delete)

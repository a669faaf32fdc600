"""The durable event log behind the real-time feeds: one SQLite table or one MongoDB collection.

Each entry gets a cursor that only grows. The payload (the event without its
cursor) is stored as msgpack; a few columns beside it (file hash, parent file
hash, private flag, timestamp) let the feed filter and trim without unpacking.

SQLite hands out cursors in commit order (AUTOINCREMENT under the single write
lock), so a reader polling ``cursor > last`` never misses an entry. MongoDB's
cursors come from the store's counter (``next_id``) and two processes may
commit them out of order; the reader in ``events.py`` copes with that gap.
"""

from __future__ import annotations

import abc
import sqlite3
from dataclasses import dataclass
from typing import Any

import msgpack
from pymongo import ASCENDING, DESCENDING

from tornado_paste.storage.base import MetadataStore


@dataclass(frozen=True)
class LogEntry:
    cursor: int
    type: str
    ts: float  # seconds since the epoch (UTC)
    filehash: str
    parent_filehash: str | None
    private: bool
    payload: bytes  # msgpack of the event dict, without its cursor

    def body(self) -> dict[str, Any]:
        return msgpack.unpackb(self.payload, raw=False)


class EventLog(abc.ABC):
    """Append-only, cursor-ordered event storage shared by every process of a deployment."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Create the table/collection and its indexes if missing."""

    @abc.abstractmethod
    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        """Store an entry; returns its new cursor."""

    @abc.abstractmethod
    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        """Entries with ``cursor < c <= upto`` (no upper bound when None), oldest first, at most ``limit``."""

    @abc.abstractmethod
    async def last_cursor(self) -> int:
        """The highest cursor stored (0 when empty)."""

    @abc.abstractmethod
    async def trim(self, older_than: float, keep: int) -> int:
        """Drop entries with ``ts < older_than`` and all but the newest ``keep``; returns how many."""


def open_event_log(store: MetadataStore) -> EventLog:
    """The log implementation that lives beside the given metadata store."""
    from tornado_paste.storage.sqlite.files import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteEventLog(store)
    from tornado_paste.storage.mongo.files import MongoStore

    if isinstance(store, MongoStore):
        return MongoEventLog(store)
    raise TypeError(f"no event log for {type(store).__name__}")


# -- SQLite -------------------------------------------------------------------

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

    def __init__(self, store: Any) -> None:
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

        return await self.store.run(insert)

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


# -- MongoDB ------------------------------------------------------------------

class MongoEventLog(EventLog):
    """One ``events`` collection; cursors from the store's atomic counter."""

    COUNTER = "events"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.events = store.db["events"]

    async def open(self) -> None:
        call = self.store._call
        await call(self.events.create_index([("cursor", ASCENDING)], unique=True, name="cursor_unique"))
        await call(self.events.create_index([("ts", ASCENDING)], name="ts"))

    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        cursor = await self.store.next_id(self.COUNTER)
        await self.store._call(self.events.insert_one({
            "cursor": cursor, "type": type_, "ts": ts, "filehash": filehash,
            "parent_filehash": parent_filehash, "private": private, "payload": payload,
        }))
        return cursor

    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        bounds: dict[str, int] = {"$gt": cursor}
        if upto is not None:
            bounds["$lte"] = upto
        found = self.events.find({"cursor": bounds}, {"_id": False}).sort("cursor", ASCENDING).limit(limit)
        docs = await self.store._call(found.to_list(length=limit))
        return [LogEntry(cursor=int(d["cursor"]), type=d["type"], ts=float(d["ts"]), filehash=d["filehash"],
                         parent_filehash=d.get("parent_filehash"), private=bool(d.get("private")),
                         payload=bytes(d["payload"])) for d in docs]

    async def last_cursor(self) -> int:
        doc = await self.store._call(self.store.counters.find_one({"_id": self.COUNTER}))
        return int(doc["seq"]) if doc else 0

    async def trim(self, older_than: float, keep: int) -> int:
        call = self.store._call
        removed = (await call(self.events.delete_many({"ts": {"$lt": older_than}}))).deleted_count
        found = self.events.find({}, {"cursor": True}).sort("cursor", DESCENDING).skip(keep).limit(1)
        docs = await call(found.to_list(length=1))
        if docs:
            removed += (await call(self.events.delete_many({"cursor": {"$lte": docs[0]["cursor"]}}))).deleted_count
        return removed

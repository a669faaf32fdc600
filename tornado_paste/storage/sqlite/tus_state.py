"""tus upload state as a SQLite table (JSON columns for metadata and parts)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from tornado_paste.core.records import TusState, TusUsage
from tornado_paste.storage.base import Locked, TusStateStore

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tus_uploads (
    id TEXT PRIMARY KEY,
    "offset" INTEGER NOT NULL DEFAULT 0,
    length INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    concat TEXT,
    parts TEXT NOT NULL DEFAULT '[]',
    lock_owner TEXT,
    lock_until REAL NOT NULL DEFAULT 0,
    filehash TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    client TEXT
);
CREATE INDEX IF NOT EXISTS tus_uploads_expires ON tus_uploads (expires_at);
"""
_CLIENT_INDEX = "CREATE INDEX IF NOT EXISTS tus_uploads_client ON tus_uploads (client, filehash)"

_JSON_COLUMNS = ("metadata", "parts")


def _to_row(values: dict[str, Any]) -> dict[str, Any]:
    row = dict(values)
    for key in _JSON_COLUMNS:
        if key in row:
            row[key] = json.dumps(row[key])
    if "done" in row:
        row["done"] = int(bool(row["done"]))
    return row


def _from_row(row: sqlite3.Row | None) -> TusState | None:
    if row is None:
        return None
    values = dict(row)
    for key in _JSON_COLUMNS:
        values[key] = json.loads(values[key])
    values["done"] = bool(values["done"])
    return TusState.from_doc(values)


class SQLiteTusStateStore(TusStateStore):
    """A table in the SQLite store's file, used through its single connection thread."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store  # ``run(fn)`` executes fn(connection) on its thread

    async def open(self) -> None:
        def migrate(c: sqlite3.Connection) -> None:
            c.executescript(_SCHEMA)
            if "client" not in {row[1] for row in c.execute("PRAGMA table_info(tus_uploads)")}:
                c.execute("ALTER TABLE tus_uploads ADD COLUMN client TEXT")  # a table from before the caps
            c.execute(_CLIENT_INDEX)

        await self.store.run(migrate)

    async def create(self, state: TusState) -> None:
        row = _to_row(state.to_doc())
        cols = ",".join(f'"{k}"' for k in row)
        marks = ",".join("?" * len(row))
        await self.store.run(lambda c: c.execute(f"INSERT INTO tus_uploads ({cols}) VALUES ({marks})",
                                                 tuple(row.values())))

    async def get(self, upload_id: str) -> TusState | None:
        return await self.store.run(
            lambda c: _from_row(c.execute("SELECT * FROM tus_uploads WHERE id = ?", (upload_id,)).fetchone()))

    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        def take(c: sqlite3.Connection) -> TusState | None:
            cur = c.execute(
                "UPDATE tus_uploads SET lock_owner = ?, lock_until = ? "
                "WHERE id = ? AND (lock_owner IS NULL OR lock_owner = ? OR lock_until < ?)",
                (owner, now + lease, upload_id, owner, now))
            state = _from_row(c.execute("SELECT * FROM tus_uploads WHERE id = ?", (upload_id,)).fetchone())
            if state is not None and cur.rowcount == 0:
                raise Locked(upload_id)
            return state

        return await self.store.run(take)

    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        return await self.store.run(lambda c: c.execute(
            "UPDATE tus_uploads SET lock_until = ? WHERE id = ? AND lock_owner = ?",
            (until, upload_id, owner)).rowcount > 0)

    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        row = _to_row(changes)
        sets = ",".join(f'"{k}" = ?' for k in row)
        return await self.store.run(lambda c: c.execute(
            f"UPDATE tus_uploads SET {sets} WHERE id = ? AND lock_owner = ?",
            (*row.values(), upload_id, owner)).rowcount > 0)

    async def release(self, upload_id: str, owner: str) -> None:
        await self.store.run(lambda c: c.execute(
            "UPDATE tus_uploads SET lock_owner = NULL, lock_until = 0 WHERE id = ? AND lock_owner = ?",
            (upload_id, owner)))

    async def delete(self, upload_id: str) -> bool:
        return await self.store.run(
            lambda c: c.execute("DELETE FROM tus_uploads WHERE id = ?", (upload_id,)).rowcount > 0)

    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        def query(c: sqlite3.Connection) -> list[TusState]:
            rows = c.execute(
                "SELECT * FROM tus_uploads WHERE expires_at < ? AND (lock_owner IS NULL OR lock_until < ?) "
                "ORDER BY expires_at LIMIT ?", (now, now, limit)).fetchall()
            return [s for s in map(_from_row, rows) if s is not None]

        return await self.store.run(query)

    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        return await self.store.run(lambda c: c.execute(
            "DELETE FROM tus_uploads WHERE id = ? AND expires_at < ? AND (lock_owner IS NULL OR lock_until < ?)",
            (upload_id, now, now)).rowcount > 0)

    async def ids(self) -> set[str]:
        return await self.store.run(lambda c: {r[0] for r in c.execute("SELECT id FROM tus_uploads")})

    async def usage(self, now: float, client: str | None = None) -> TusUsage:
        where, args = "filehash IS NULL AND expires_at >= ?", (now,)
        if client is not None:
            where, args = where + " AND client = ?", (now, client)
        row = await self.store.run(lambda c: c.execute(
            f'SELECT COUNT(*), COALESCE(SUM(COALESCE(length, "offset")), 0) FROM tus_uploads WHERE {where}',
            args).fetchone())
        return TusUsage(int(row[0]), int(row[1]))

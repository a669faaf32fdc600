"""Collections and their members as two SQLite tables; the upload-request quota is one conditional
``UPDATE`` (``used_bytes + ? <= max_bytes``), atomic across processes under SQLite's write lock."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tornado_paste.core.records import CollectionRecord, Member
from tornado_paste.storage.base import CollectionStore, DuplicateContent
from tornado_paste.storage.sqlite.codec import iso

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    code TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    manage_token_hash TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 1,
    expires_at TEXT,
    password_hash TEXT,
    max_downloads INTEGER,
    downloads INTEGER NOT NULL DEFAULT 0,
    request_hash TEXT UNIQUE,
    request TEXT,
    max_files INTEGER,
    max_bytes INTEGER,
    used_files INTEGER NOT NULL DEFAULT 0,
    used_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS collections_expires_at ON collections (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS collection_members (
    collection TEXT NOT NULL,
    filehash TEXT NOT NULL,
    position INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    by_owner INTEGER NOT NULL DEFAULT 0,
    owned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, filehash)
);
CREATE INDEX IF NOT EXISTS collection_members_file ON collection_members (filehash);
"""
_COLUMNS = ("code", "title", "created_at", "manage_token_hash", "private", "expires_at", "password_hash",
            "max_downloads", "downloads", "request_hash", "request", "max_files", "max_bytes", "used_files",
            "used_bytes")


def _encode(name: str, value: Any) -> Any:
    if name in ("created_at", "expires_at"):
        return iso(value)
    if name == "private":
        return int(bool(value))
    if name == "request":
        return json.dumps(value) if value is not None else None
    return value


def _collection(row: sqlite3.Row | None) -> CollectionRecord | None:
    if row is None:
        return None
    values = dict(row)
    if values.get("request"):
        values["request"] = json.loads(values["request"])
    return CollectionRecord.from_row(values)


def _member(row: sqlite3.Row) -> Member:
    return Member.from_row(dict(row))


class SQLiteCollectionStore(CollectionStore):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(_SCHEMA))

    async def create(self, collection: CollectionRecord) -> None:
        row = collection.to_row()
        values = tuple(_encode(name, row[name]) for name in _COLUMNS)
        sql = f"INSERT INTO collections ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"
        try:
            await self.store.run(lambda c: c.execute(sql, values))
        except sqlite3.IntegrityError as exc:
            raise DuplicateContent(str(exc)) from exc

    async def get(self, code: str) -> CollectionRecord | None:
        return await self.store.run(
            lambda c: _collection(c.execute("SELECT * FROM collections WHERE code = ?", (code,)).fetchone()))

    async def get_by_request(self, request_hash: str) -> CollectionRecord | None:
        return await self.store.run(lambda c: _collection(
            c.execute("SELECT * FROM collections WHERE request_hash = ?", (request_hash,)).fetchone()))

    async def update(self, code: str, changes: dict[str, Any]) -> CollectionRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a collection field: {sorted(unknown)}")
        values = {name: _encode(name, value) for name, value in changes.items()}

        def apply(conn: sqlite3.Connection) -> CollectionRecord | None:
            if values:
                assignments = ", ".join(f"{name} = ?" for name in values)
                conn.execute(f"UPDATE collections SET {assignments} WHERE code = ?", (*values.values(), code))
            return _collection(conn.execute("SELECT * FROM collections WHERE code = ?", (code,)).fetchone())

        try:
            return await self.store.run(apply)
        except sqlite3.IntegrityError as exc:
            raise DuplicateContent(str(exc)) from exc

    async def delete(self, code: str) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM collection_members WHERE collection = ?", (code,))
                gone = conn.execute("DELETE FROM collections WHERE code = ?", (code,)).rowcount > 0
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return gone

        return await self.store.run(remove)

    async def add_member(self, code: str, filehash: str, added_at: datetime, by_owner: bool,
                         owned: bool) -> tuple[Member, bool]:
        def add(conn: sqlite3.Connection) -> tuple[Member, bool]:
            conn.execute("BEGIN IMMEDIATE")  # the next position and the insert under one write lock
            try:
                row = conn.execute("SELECT * FROM collection_members WHERE collection = ? AND filehash = ?",
                                   (code, filehash)).fetchone()
                created = row is None
                if created:
                    conn.execute(
                        "INSERT INTO collection_members (collection, filehash, position, added_at, by_owner, owned) "
                        "SELECT ?, ?, COALESCE(MAX(position), 0) + 1, ?, ?, ? FROM collection_members "
                        "WHERE collection = ?", (code, filehash, iso(added_at), int(by_owner), int(owned), code))
                else:
                    conn.execute("UPDATE collection_members SET by_owner = MAX(by_owner, ?), owned = MAX(owned, ?) "
                                 "WHERE collection = ? AND filehash = ?", (int(by_owner), int(owned), code, filehash))
                row = conn.execute("SELECT * FROM collection_members WHERE collection = ? AND filehash = ?",
                                   (code, filehash)).fetchone()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return _member(row), created

        return await self.store.run(add)

    async def remove_member(self, code: str, filehash: str) -> bool:
        return await self.store.run(lambda c: c.execute(
            "DELETE FROM collection_members WHERE collection = ? AND filehash = ?", (code, filehash)).rowcount > 0)

    async def members(self, code: str) -> list[Member]:
        return await self.store.run(lambda c: [_member(r) for r in c.execute(
            "SELECT * FROM collection_members WHERE collection = ? ORDER BY position", (code,)).fetchall()])

    async def containing(self, filehash: str) -> list[str]:
        return await self.store.run(lambda c: [r[0] for r in c.execute(
            "SELECT collection FROM collection_members WHERE filehash = ? ORDER BY collection", (filehash,))])

    async def reserve(self, code: str, files: int, nbytes: int) -> bool:
        if files <= 0 and nbytes <= 0:
            sql = ("UPDATE collections SET used_files = MAX(0, used_files + ?), used_bytes = MAX(0, used_bytes + ?) "
                   "WHERE code = ?")
            await self.store.run(lambda c: c.execute(sql, (files, nbytes, code)))
            return True
        sql = ("UPDATE collections SET used_files = used_files + ?, used_bytes = used_bytes + ? WHERE code = ? "
               "AND (max_files IS NULL OR used_files + ? <= max_files) "
               "AND (max_bytes IS NULL OR used_bytes + ? <= max_bytes)")
        return await self.store.run(lambda c: c.execute(sql, (files, nbytes, code, files, nbytes)).rowcount > 0)

    async def claim_download(self, code: str) -> int | None:
        def claim(conn: sqlite3.Connection) -> int | None:
            rows = conn.execute(
                "UPDATE collections SET downloads = downloads + 1 WHERE code = ? AND max_downloads IS NOT NULL "
                "AND downloads < max_downloads RETURNING downloads", (code,)).fetchall()
            return int(rows[0][0]) if rows else None

        return await self.store.run(claim)

    async def expired(self, now: datetime, limit: int) -> list[CollectionRecord]:
        def query(conn: sqlite3.Connection) -> list[CollectionRecord]:
            rows = conn.execute("SELECT * FROM collections WHERE expires_at IS NOT NULL AND expires_at <= ? "
                                "ORDER BY expires_at LIMIT ?", (iso(now), limit)).fetchall()
            return [c for c in map(_collection, rows) if c is not None]

        return await self.store.run(query)

"""Where tus upload state lives: one row/document per upload, in the metadata store's database.

Keeping the state (offset, length, metadata, expiry, concatenation info and the
PATCH lock) in the shared store rather than in process memory is what lets any
process behind nginx continue an upload that another one started; the bytes
themselves are in ``<data-dir>/tus/``, which every process shares.

The lock is a lease: ``acquire`` sets ``lock_owner``/``lock_until`` in one
atomic conditional update (SQLite ``UPDATE ... WHERE``, MongoDB
``find_one_and_update``), so two processes can never both hold it, and a
process that died mid-PATCH loses it when the lease runs out.
"""

from __future__ import annotations

import abc
import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from tornado_paste.storage.base import MetadataStore


@dataclass
class TusState:
    """One tus upload. Times are Unix seconds (floats): comparable across processes on a host."""

    id: str
    offset: int = 0
    # None while the client deferred the length (Upload-Defer-Length: 1).
    length: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    expires_at: float = 0.0
    # None, "partial" or "final"; a final upload lists its partial uploads' ids.
    concat: str | None = None
    parts: list[str] = field(default_factory=list)
    lock_owner: str | None = None
    lock_until: float = 0.0
    # Set once the bytes went through the ingest path: the public filehash of the result.
    filehash: str | None = None
    # True once all bytes are in (a partial upload is complete without being ingested).
    done: bool = False

    @property
    def deferred(self) -> bool:
        return self.length is None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TusState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


class Locked(Exception):
    """Another request holds this upload's PATCH lock."""


class TusStateStore(abc.ABC):
    """The persistence of tus uploads. Every method is a coroutine; errors surface as StoreUnavailable."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Create the table/collection and its indexes (idempotent)."""

    @abc.abstractmethod
    async def create(self, state: TusState) -> None: ...

    @abc.abstractmethod
    async def get(self, upload_id: str) -> TusState | None: ...

    @abc.abstractmethod
    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        """Take the lock if it is free or its lease ran out; returns the state, or None if unknown.

        Raises Locked when a live lease is held by someone else.
        """

    @abc.abstractmethod
    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        """Extend our lease; False if we no longer hold it."""

    @abc.abstractmethod
    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        """Change fields of an upload whose lock ``owner`` holds; False if it does not."""

    @abc.abstractmethod
    async def release(self, upload_id: str, owner: str) -> None:
        """Drop our lock (no-op if we no longer hold it)."""

    @abc.abstractmethod
    async def delete(self, upload_id: str) -> bool: ...

    @abc.abstractmethod
    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        """Uploads whose expiry passed and whose lock is free (what the sweeper may remove)."""

    @abc.abstractmethod
    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        """Delete only if still expired and unlocked (so a racing PATCH is never swept)."""

    @abc.abstractmethod
    async def ids(self) -> set[str]:
        """Every known upload id (for the orphan-file sweep)."""


# -- SQLite ---------------------------------------------------------------------------------------

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
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tus_uploads_expires ON tus_uploads (expires_at);
"""

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

    def __init__(self, store: Any) -> None:
        self.store = store  # a SQLiteStore: ``run(fn)`` executes fn(connection) on its thread

    async def open(self) -> None:
        await self.store.run(lambda c: c.executescript(_SCHEMA))

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


# -- MongoDB --------------------------------------------------------------------------------------

class MongoTusStateStore(TusStateStore):
    """A ``tus_uploads`` collection beside ``files``; ``_id`` is the upload id."""

    def __init__(self, store: Any) -> None:
        self.store = store  # a MongoStore: ``_call`` maps driver errors to StoreUnavailable
        self.uploads = store.db["tus_uploads"]

    async def _call(self, awaitable: Any) -> Any:
        return await self.store._call(awaitable)

    @staticmethod
    def _state(doc: dict[str, Any] | None) -> TusState | None:
        if doc is None:
            return None
        doc = dict(doc)
        doc["id"] = doc.pop("_id")
        return TusState.from_doc(doc)

    async def open(self) -> None:
        await self._call(self.uploads.create_index([("expires_at", ASCENDING)], name="tus_expires"))

    async def create(self, state: TusState) -> None:
        doc = state.to_doc()
        doc["_id"] = doc.pop("id")
        await self._call(self.uploads.insert_one(doc))

    async def get(self, upload_id: str) -> TusState | None:
        return self._state(await self._call(self.uploads.find_one({"_id": upload_id})))

    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        free = {"$or": [{"lock_owner": None}, {"lock_owner": owner}, {"lock_until": {"$lt": now}}]}
        doc = await self._call(self.uploads.find_one_and_update(
            {"_id": upload_id, **free}, {"$set": {"lock_owner": owner, "lock_until": now + lease}},
            return_document=ReturnDocument.AFTER))
        if doc is not None:
            return self._state(doc)
        if await self._call(self.uploads.find_one({"_id": upload_id}, {"_id": True})) is None:
            return None
        raise Locked(upload_id)

    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        result = await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                          {"$set": {"lock_until": until}}))
        return result.matched_count > 0

    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        result = await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                          {"$set": changes}))
        return result.matched_count > 0

    async def release(self, upload_id: str, owner: str) -> None:
        await self._call(self.uploads.update_one({"_id": upload_id, "lock_owner": owner},
                                                 {"$set": {"lock_owner": None, "lock_until": 0.0}}))

    async def delete(self, upload_id: str) -> bool:
        result = await self._call(self.uploads.delete_one({"_id": upload_id}))
        return result.deleted_count > 0

    def _expired_query(self, now: float) -> dict[str, Any]:
        return {"expires_at": {"$lt": now}, "$or": [{"lock_owner": None}, {"lock_until": {"$lt": now}}]}

    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        cursor = self.uploads.find(self._expired_query(now)).sort("expires_at", ASCENDING).limit(limit)
        docs = await self._call(cursor.to_list(length=limit))
        return [s for s in map(self._state, docs) if s is not None]

    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        result = await self._call(self.uploads.delete_one({"_id": upload_id, **self._expired_query(now)}))
        return result.deleted_count > 0

    async def ids(self) -> set[str]:
        docs = await self._call(self.uploads.find({}, {"_id": True}).to_list(length=None))
        return {d["_id"] for d in docs}


def state_store_for(store: MetadataStore) -> TusStateStore:
    """The tus state store that lives beside this metadata store."""
    from tornado_paste.storage.mongo.files import MongoStore

    if isinstance(store, MongoStore):
        return MongoTusStateStore(store)
    return SQLiteTusStateStore(store)

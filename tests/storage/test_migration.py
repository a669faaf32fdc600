"""Databases made before short codes were stored (sha256 unique across records, Sqids codes) open as
version 2: every record kept with its id, a random short code each, sha256 unique among public
originals only. SQLite copies the table; MongoDB backfills documents and swaps the index."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import timedelta

import pytest

from tornado_paste.core.records import FileRecord, utcnow
from tornado_paste.storage import DuplicateContent
from tornado_paste.storage.mongo.store import MongoStore
from tornado_paste.storage.sqlite.store import SQLiteStore

V1_SCHEMA = """
CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filehash TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at TEXT NOT NULL,
    delete_token_hash TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    width INTEGER,
    height INTEGER,
    expires_at TEXT,
    parent_id INTEGER,
    variant TEXT
);
CREATE INDEX files_public_id ON files (private, id);
"""

# (filehash, sha256 digit, private, parent_id)
V1_ROWS = [(f"{1:016x}.txt", "1", 0, None), (f"{2:016x}.txt", "2", 1, None), (f"{3:016x}.png", "3", 0, 1),
           (f"{4:016x}.txt", "4", 0, None)]


def new(n: int, sha: str, private: bool = False) -> FileRecord:
    return FileRecord(filehash=f"{n:016x}.bin", sha256=sha, filename="n.bin", mimetype="application/octet-stream",
                      size=1, uploaded_at=utcnow(), delete_token_hash="ab" * 32, private=private)


def make_v1_sqlite(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(V1_SCHEMA)
    stamp = (utcnow() - timedelta(days=1)).isoformat()
    for filehash, digit, private, parent in V1_ROWS:
        conn.execute("INSERT INTO files (filehash, sha256, filename, mimetype, size, uploaded_at, delete_token_hash,"
                     " private, parent_id) VALUES (?, ?, 'old.txt', 'text/plain', 3, ?, 'x', ?, ?)",
                     (filehash, digit * 64, stamp, private, parent))
    conn.execute("INSERT INTO files (filehash, sha256, filename, mimetype, size, uploaded_at, delete_token_hash)"
                 " VALUES ('ffffffffffffffff.txt', ?, 'gone.txt', 'text/plain', 1, ?, 'x')", ("9" * 64, stamp))
    conn.execute("DELETE FROM files WHERE filehash = 'ffffffffffffffff.txt'")  # sequence 5, max id 4
    conn.close()


@pytest.mark.gen_test
async def test_sqlite_v1_database_is_migrated_in_place(tmp_path):
    path = str(tmp_path / "v1.sqlite3")
    make_v1_sqlite(path)
    store = SQLiteStore(path)
    await store.open()
    try:
        olds = [await store.get_by_filehash(f) for f, *_ in V1_ROWS]
        assert [r.id for r in olds] == [1, 2, 3, 4]
        assert [(r.private, r.parent_id) for r in olds] == [(p == 1, parent) for _f, _d, p, parent in V1_ROWS]
        assert [len(r.short_code) for r in olds] == [8, 11, 8, 8]
        for rec in olds:
            assert (await store.get_by_short_code(rec.short_code)).id == rec.id
        # sha256 is now unique among public originals only.
        private_copy = await store.insert_file(new(10, "1" * 64, private=True))
        with pytest.raises(DuplicateContent):
            await store.insert_file(new(11, "1" * 64))
        assert private_copy.id == 6  # ids are never reused, even that of the row deleted before
        assert await store.count_sha256_refs("1" * 64) == 2
    finally:
        await store.close()
    again = SQLiteStore(path)  # a second open (another process, a restart) changes nothing
    await again.open()
    try:
        assert [(await again.get_by_filehash(r.filehash)).short_code for r in olds] == [r.short_code for r in olds]
    finally:
        await again.close()


@pytest.mark.gen_test
async def test_mongo_v1_documents_are_migrated():
    from pymongo_async_mock import AsyncMongoMockClient

    client = AsyncMongoMockClient()
    name = "migrate_" + uuid.uuid4().hex[:8]
    files = client[name]["files"]
    await files.create_index([("sha256", 1)], unique=True, name="sha256_unique")
    for n, (filehash, digit, private, parent) in enumerate(V1_ROWS, start=1):
        await files.insert_one({"id": n, "filehash": filehash, "sha256": digit * 64, "filename": "old.txt",
                                "mimetype": "text/plain", "size": 3, "uploaded_at": utcnow(),
                                "delete_token_hash": "x", "private": bool(private), "parent_id": parent})
    await client[name]["counters"].insert_one({"_id": "files", "seq": 4})
    store = MongoStore(client, name)
    await store.open()
    await store.open()
    olds = [await store.get_by_filehash(f) for f, *_ in V1_ROWS]
    assert [len(r.short_code) for r in olds] == [8, 11, 8, 8]
    assert len({r.short_code for r in olds}) == 4
    assert "sha256_unique" not in await files.index_information()
    assert (await store.get_public_original("1" * 64)).id == 1
    assert await store.get_public_original("2" * 64) is None  # private
    assert await store.get_public_original("3" * 64) is None  # a derivative
    await store.insert_file(new(10, "1" * 64, private=True))
    with pytest.raises(DuplicateContent):
        await store.insert_file(new(11, "1" * 64))


@pytest.mark.gen_test
async def test_sqlite_v1_migration_by_two_processes_at_once(tmp_path):
    """Each store has its own connection and thread, as two processes would: one migrates, the other waits."""
    path = str(tmp_path / "v1.sqlite3")
    make_v1_sqlite(path)
    stores = [SQLiteStore(path, timeout=10), SQLiteStore(path, timeout=10)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        codes = [[(await s.get_by_filehash(f)).short_code for f, *_ in V1_ROWS] for s in stores]
        assert codes[0] == codes[1] and len(set(codes[0])) == 4
    finally:
        for s in stores:
            await s.close()

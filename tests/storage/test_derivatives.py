"""Contract test of the derivative index on every backend."""

from __future__ import annotations

import pytest


@pytest.fixture
def index(backend):
    return backend.derivatives


@pytest.mark.gen_test
async def test_derivative_index_contract(index):
    assert await index.get(1, "w=10") is None
    assert await index.claim(1, "w=10", 100) == 100
    # A second writer for the same (parent, key) gets the first writer's id back.
    assert await index.claim(1, "w=10", 101) == 100
    assert await index.get(1, "w=10") == 100
    assert await index.claim(1, "w=20", 102) == 102
    assert await index.claim(2, "w=10", 100) == 100  # another parent may share a derivative
    assert sorted(await index.children(1)) == [100, 102]
    # discard only drops an entry that still points where the caller saw it point.
    await index.discard(1, "w=10", 999)
    assert await index.get(1, "w=10") == 100
    await index.discard(1, "w=10", 100)
    assert await index.get(1, "w=10") is None
    assert await index.claim(1, "w=10", 103) == 103
    # forget: as a parent and as a derivative.
    await index.forget(1)
    assert await index.children(1) == []
    assert await index.get(2, "w=10") == 100
    await index.forget(100)
    assert await index.get(2, "w=10") is None


@pytest.mark.gen_test
async def test_cache_accounting_and_least_recently_used_order(index):
    """Sizes and last uses per entry: totals, per-parent counts and the LRU order leave pinned entries out."""
    assert await index.total_bytes() == 0 and await index.least_recent(10) == []
    assert await index.claim(1, "a", 10, size=100, used_at=50.0) == 10
    assert await index.claim(1, "b", 11, size=200, used_at=40.0) == 11
    assert await index.claim(2, "a", 12, size=300, used_at=60.0) == 12
    assert await index.claim(2, "up", 13, size=5000, used_at=1.0, pinned=True) == 13
    # A lost claim changes nothing of the winner's entry.
    assert await index.claim(1, "a", 99, size=1, used_at=999.0) == 10
    first = await index.entry(1, "a")
    assert (first.parent_id, first.key, first.file_id, first.size, first.used_at, first.pinned) == (
        1, "a", 10, 100, 50.0, False)
    assert (await index.entry(2, "up")).pinned is True
    assert await index.entry(3, "a") is None
    assert await index.total_bytes() == 600
    assert (await index.count(1), await index.count(2), await index.count(3)) == (2, 1, 0)
    assert [(e.parent_id, e.key) for e in await index.least_recent(10)] == [(1, "b"), (1, "a"), (2, "a")]
    assert [(e.parent_id, e.key) for e in await index.least_recent(1)] == [(1, "b")]
    assert [e.key for e in await index.least_recent(10, parent_id=2)] == ["a"]
    # touch moves the last use forward, never back.
    await index.touch(1, "b", 70.0)
    await index.touch(1, "a", 10.0)
    await index.touch(9, "zz", 10.0)  # unknown: no effect, no error
    assert (await index.entry(1, "b")).used_at == 70.0 and (await index.entry(1, "a")).used_at == 50.0
    assert [(e.parent_id, e.key) for e in await index.least_recent(10)] == [(1, "a"), (2, "a"), (1, "b")]
    # refs counts every entry pointing to a file, pinned or not, whatever the parent.
    assert await index.claim(3, "same", 12, size=300, used_at=80.0) == 12
    assert await index.claim(4, "pin", 12, size=300, used_at=80.0, pinned=True) == 12
    assert await index.refs(12) == 3 and await index.refs(13) == 1 and await index.refs(77) == 0
    # Evicting an entry (discard) takes it out of every total.
    await index.discard(1, "a", 10)
    assert await index.entry(1, "a") is None and await index.get(1, "a") is None
    assert await index.total_bytes() == 800 and await index.count(1) == 1
    await index.forget(12)
    assert await index.refs(12) == 0 and await index.total_bytes() == 200
    assert [(e.parent_id, e.key) for e in await index.least_recent(10)] == [(1, "b")]


@pytest.mark.gen_test
async def test_sqlite_database_from_before_the_cache_is_migrated(tmp_path):
    """Old tables get the new columns on open: sizes taken from the records, old entries evictable."""
    import sqlite3

    from tornado_paste.storage.sqlite.store import SQLiteStore

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            CREATE TABLE files (id INTEGER PRIMARY KEY AUTOINCREMENT, filehash TEXT NOT NULL UNIQUE,
                sha256 TEXT NOT NULL UNIQUE, filename TEXT NOT NULL, mimetype TEXT NOT NULL, size INTEGER NOT NULL,
                uploaded_at TEXT NOT NULL, delete_token_hash TEXT NOT NULL, private INTEGER NOT NULL DEFAULT 0,
                width INTEGER, height INTEGER, expires_at TEXT, parent_id INTEGER, variant TEXT);
            INSERT INTO files VALUES (7, 'f.png', 'ab', 'f.png', 'image/png', 1234, '2020-01-01T00:00:00+00:00',
                'x', 0, NULL, NULL, NULL, 1, NULL);
            CREATE TABLE derivatives (parent_id INTEGER NOT NULL, key TEXT NOT NULL, file_id INTEGER NOT NULL,
                PRIMARY KEY (parent_id, key));
            INSERT INTO derivatives VALUES (1, 'w=10', 7), (1, 'w=20', 8);
            CREATE TABLE tus_uploads (id TEXT PRIMARY KEY, "offset" INTEGER NOT NULL DEFAULT 0, length INTEGER,
                metadata TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, expires_at REAL NOT NULL, concat TEXT,
                parts TEXT NOT NULL DEFAULT '[]', lock_owner TEXT, lock_until REAL NOT NULL DEFAULT 0,
                filehash TEXT, done INTEGER NOT NULL DEFAULT 0);
            INSERT INTO tus_uploads (id, length, created_at, expires_at) VALUES ('a', 5, 1, 10);
        """)
    store = SQLiteStore(str(path))
    await store.open()
    try:
        await store.open()
        assert (await store.derivatives.entry(1, "w=10")).size == 1234
        assert await store.derivatives.total_bytes() == 1234  # the record of w=20 is gone: 0 bytes
        assert [e.key for e in await store.derivatives.least_recent(5)] == ["w=10", "w=20"]
        assert (await store.tus_state.get("a")).client is None
        assert (await store.tus_state.usage(now=5.0)).count == 1
    finally:
        await store.close()


@pytest.mark.gen_test
async def test_mongo_entries_from_before_the_cache_get_their_size(tmp_path):
    from tests.stores import make_store

    store = make_store("mongo-mock", tmp_path)
    await store.db["files"].insert_one({"id": 7, "size": 1234, "sha256": "ab", "filehash": "f.png"})
    await store.db["derivatives"].insert_many([{"parent_id": 1, "key": "w=10", "file_id": 7},
                                               {"parent_id": 1, "key": "w=20", "file_id": 8}])
    await store.open()
    try:
        assert (await store.derivatives.entry(1, "w=10")).size == 1234
        assert (await store.derivatives.entry(1, "w=20")).size == 0
        assert await store.derivatives.total_bytes() == 1234 and await store.derivatives.count(1) == 2
    finally:
        await store.close()

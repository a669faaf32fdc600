"""Contract test of the derivative index on both backends (SQLite file, MongoDB mock or real server)."""

from __future__ import annotations

import os
import uuid

import pytest

from tornado_paste.derivative_index import index_for
from tornado_paste.store.mongo import MongoStore
from tornado_paste.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "mongomock"]
if os.environ.get("TORNADO_PASTE_TEST_MONGO_URL"):
    BACKENDS.append("mongodb")


@pytest.fixture(params=BACKENDS)
def store(request, io_loop, tmp_path):
    if request.param == "sqlite":
        store = SQLiteStore(str(tmp_path / "index.sqlite3"))
    elif request.param == "mongomock":
        from pymongo_async_mock import AsyncMongoMockClient

        store = MongoStore(AsyncMongoMockClient(), "test_" + uuid.uuid4().hex[:8])
    else:
        store = MongoStore.from_url(os.environ["TORNADO_PASTE_TEST_MONGO_URL"], "test_" + uuid.uuid4().hex[:8])
    io_loop.run_sync(store.open)
    yield store
    if request.param == "mongodb":
        io_loop.run_sync(lambda: store.client.drop_database(store.db.name))
    io_loop.run_sync(store.close)


@pytest.mark.gen_test
async def test_derivative_index_contract(store):
    index = index_for(store)
    await index.open()
    await index.open()  # idempotent (every process runs it at start-up)
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

"""Contract test of the derivative index on both backends (SQLite file, MongoDB mock or real server)."""

from __future__ import annotations

import pytest

from tests.stores import BACKENDS, make_store
from tornado_paste.storage.derivatives import MemoryDerivativeIndex, index_for


@pytest.fixture(params=[*BACKENDS, "memory"])
def index(request, io_loop, tmp_path):
    if request.param == "memory":
        yield MemoryDerivativeIndex()
        return
    store = make_store(request.param, tmp_path)
    io_loop.run_sync(store.open)
    yield index_for(store)
    if request.param == "mongo-real":
        io_loop.run_sync(lambda: store.client.drop_database(store.db.name))
    io_loop.run_sync(store.close)


@pytest.mark.gen_test
async def test_derivative_index_contract(index):
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

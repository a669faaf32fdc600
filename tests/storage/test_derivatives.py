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

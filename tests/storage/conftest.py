"""The ``backend`` fixture: every storage contract test runs on SQLite, MongoDB and memory."""

from __future__ import annotations

import pytest

from tests.stores import ALL_BACKENDS, make_store


@pytest.fixture(params=ALL_BACKENDS)
def backend(request, io_loop, tmp_path):
    store = make_store(request.param, tmp_path)
    io_loop.run_sync(store.open)
    io_loop.run_sync(store.open)  # idempotent: every process opens it at start-up
    yield store
    if request.param == "mongo-real":
        io_loop.run_sync(lambda: store.client.drop_database(store.db.name))
    io_loop.run_sync(store.close)

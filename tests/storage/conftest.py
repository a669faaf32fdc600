"""The ``backend`` fixture: every storage contract test runs on SQLite, MongoDB (the nx-27017 wire server;
a real one too when TORNADO_PASTE_TEST_MONGO_URL is set) and memory."""

from __future__ import annotations

import pytest

from tests.stores import ALL_BACKENDS, dropped_after, store_for


@pytest.fixture(params=ALL_BACKENDS)
def backend(request, io_loop, tmp_path):
    store = store_for(request, request.param, tmp_path)
    io_loop.run_sync(store.open)
    io_loop.run_sync(store.open)  # idempotent: every process opens it at start-up
    yield store
    if dropped_after(request.param):
        io_loop.run_sync(lambda: store.client.drop_database(store.db.name))
    io_loop.run_sync(store.close)

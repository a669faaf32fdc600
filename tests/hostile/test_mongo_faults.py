"""MongoDB going away and coming back while the server runs: 503 + Retry-After, then recovery.

The connection itself is simulated (pymongo-async-mock behind a switch that makes
every call fail the way PyMongo does when no server is reachable); the
unreachable-URL case with the real driver is in test_faults.py. With
TORNADO_PASTE_TEST_MONGO_URL set, the same flow also runs against a real server.
"""

from __future__ import annotations

import inspect
import json
import os

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from pymongo_async_mock import AsyncMongoMockClient

from tests.conftest import body_of, path_of
from tests.faults import blob_files, staging_files
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore


class SwitchableMongo(MongoStore):
    """A MongoStore whose server can be 'unplugged'."""

    down = False

    async def call(self, awaitable):
        if self.down:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            awaitable = self._unreachable()
        return await super().call(awaitable)

    @staticmethod
    async def _unreachable():
        raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")


@pytest.fixture(params=["mock", "real"])
def services(request, io_loop, settings):
    if request.param == "mock":
        store = SwitchableMongo(AsyncMongoMockClient(tz_aware=True), "tp_test")
    else:
        url = os.environ.get("TORNADO_PASTE_TEST_MONGO_URL")
        if not url:
            pytest.skip("set TORNADO_PASTE_TEST_MONGO_URL to run against a real MongoDB")
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=500)
        store = SwitchableMongo(client, f"tp_test_{os.getpid()}")
    svc = build_services(settings, store=store)
    io_loop.run_sync(svc.start)
    yield svc
    if request.param == "real":
        io_loop.run_sync(lambda: store.client.drop_database(store.db.name))
    io_loop.run_sync(svc.stop)


@pytest.mark.gen_test(timeout=30)
async def test_mongodb_down_then_back_without_restart(upload, fetch, services):
    before = body_of(await upload(b"stored while up", "a.txt"))
    services.store.down = True
    resp = await upload(b"sent while down", "b.txt")
    assert resp.code == 503 and resp.headers["Retry-After"] == "2"
    assert json.loads(resp.body)["error"]["code"] == "unavailable"
    assert (await fetch(path_of(before["url_i"]))).code == 503  # the lookup needs the store
    assert (await fetch("/healthz")).code == 503
    assert staging_files(services.settings.data_dir) == []
    assert {p.name for p in blob_files(services.settings.data_dir)} == {before["sha256"]}
    services.store.down = False
    assert (await fetch("/healthz")).code == 200
    after = await upload(b"sent while down", "b.txt")
    assert after.code == 201
    assert (await fetch(path_of(body_of(after)["url_i"]))).body == b"sent while down"
    assert (await fetch(path_of(before["url_i"]))).body == b"stored while up"

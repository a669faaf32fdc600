"""The tus endpoints end to end with the MongoDB store (the nx-27017 wire server): state in a collection."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.conftest import body_of, path_of
from tests.stores import store_for
from tests.tus_helpers import TUS, create, head, patch, upload_all
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.tus_state import MongoTusStateStore


@pytest.fixture
def services(request, io_loop, settings, tmp_path):
    svc = build_services(settings, store=store_for(request, "mongo-wire", tmp_path))
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


@pytest.mark.gen_test
async def test_upload_terminate_and_concat_on_mongo(fetch, services):
    assert isinstance(services.tus.state, MongoTusStateStore)
    data = os.urandom(120_000)
    path, last = await upload_all(fetch, data, 50_000)
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert (await head(fetch, path)).headers["Upload-Offset"] == str(len(data))

    _, doomed = await create(fetch, 10)
    assert (await patch(fetch, doomed, 0, b"abc")).code == 204
    assert (await fetch(doomed, method="DELETE", headers=dict(TUS))).code == 204
    assert (await head(fetch, doomed)).code == 404

    parts = [os.urandom(20_000), os.urandom(30_000)]

    async def send(part: bytes) -> str:
        _, part_path = await create(fetch, len(part), headers={"Upload-Concat": "partial"})
        assert (await patch(fetch, part_path, 0, part)).code == 204
        return part_path

    paths = await asyncio.gather(*(send(p) for p in parts))
    final, _ = await create(fetch, headers={"Upload-Concat": "final;" + " ".join(paths)})
    assert final.code == 201
    joined = body_of(await fetch(path_of(final.headers["X-File-Location"])))
    assert joined["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()

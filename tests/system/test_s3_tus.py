"""tus on S3 (a real Ceph RGW) with MongoDB (the nx-27017 wire server): PATCHes become multipart parts
and a tail object in the bucket, so an upload started on one machine is resumed on another (separate
data dirs, nothing shared but the bucket and the database); refusals, resets, terminations,
concatenation and expiry leave nothing in the bucket but committed blobs."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import time
import uuid

import pytest
import tornado.httpclient

from handlers.routes import make_app
from run import make_server
from settings import Settings
from tests.conftest import body_of, path_of
from tests.faults import half_upload
from tests.helpers import free_port
from tests.system.test_s3_app import committed, leftovers, s3_settings
from tests.tus_helpers import TUS, checksum, create, head, metadata, patch
from tornado_paste.services import build_services

pytestmark = pytest.mark.system

MIB = 1 << 20
PART = 5 * MIB


class Machine:
    """One app 'machine' in this process: its own data dir, Services and HTTP server."""

    def __init__(self, services, server, port: int) -> None:
        self.services, self.server, self.port = services, server, port
        self.base = f"http://127.0.0.1:{port}"
        self.client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=16)

    async def fetch(self, path: str, **kwargs):
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("request_timeout", 60)
        if kwargs.get("method") in ("POST", "PATCH", "PUT") and kwargs.get("body") is None:
            kwargs["body"] = b""
        return await self.client.fetch(self.base + path, **kwargs)


@pytest.fixture
def machines(io_loop, tmp_path, s3_server, mongo_wire_url):
    common = s3_settings(s3_server, mongo_url=mongo_wire_url, mongo_database="tp_tus_" + uuid.uuid4().hex[:8])
    made = []
    for name in ("a", "b"):
        port = free_port()
        settings = Settings(address="127.0.0.1", port=port, data_dir=str(tmp_path / name),
                            base_url=f"http://127.0.0.1:{port}", tus_sweep_interval=0, **common).validated()
        services = build_services(settings)
        io_loop.run_sync(services.start)
        server = make_server(make_app(services), settings)
        server.listen(port, "127.0.0.1")
        made.append(Machine(services, server, port))
    yield made
    for m in made:
        m.client.close()
        m.server.stop()
        io_loop.run_sync(m.services.stop)


async def tus_objects(blobs) -> list[str]:
    await blobs.settle()
    found = []
    async for item in blobs.conn.pages("list_objects_v2", "Contents", Prefix=f"{blobs.config.prefix}tus/"):
        found.append(item["Key"])
    async for upload in blobs.conn.pages("list_multipart_uploads", "Uploads", Prefix=f"{blobs.config.prefix}tus/"):
        found.append("multipart:" + upload["Key"])
    return found


@pytest.mark.gen_test(timeout=180)
async def test_an_upload_started_on_one_machine_is_finished_on_the_other(machines):
    a, b = machines
    data = os.urandom(2 * PART + 3 * MIB + 17)
    response, path = await create(a.fetch, len(data), meta=metadata(filename="both.bin"))
    assert response.code == 201
    cuts = [0, 3 * MIB, PART + 100, 2 * PART + 5, len(data)]  # parts and tails across PATCHes
    for i, (start, end) in enumerate(itertools.pairwise(cuts)):
        machine = (a, b)[i % 2]  # alternate machines: each resumes from what the other left in the bucket
        assert (await head(machine.fetch, path)).headers["Upload-Offset"] == str(start)
        done = await patch(machine.fetch, path, start, data[start:end])
        assert done.code == 204, done.body
    card = body_of(await b.fetch(path_of(done.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    got = await a.fetch(path_of(card["url_i"]))
    assert got.code == 200 and got.body == data
    assert await tus_objects(a.services.blobs) == []
    assert await leftovers(a.services.blobs) == committed(card["sha256"])


@pytest.mark.gen_test(timeout=180)
async def test_one_machine_whole_upload_keeps_the_running_hash(machines, monkeypatch):
    a, _ = machines
    rehashed = []
    resumable = a.services.tus.remote
    real = resumable.hash_object

    async def spy(*args, **kwargs):
        rehashed.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(resumable, "hash_object", spy)
    data = os.urandom(PART + 999)
    _response, path = await create(a.fetch, len(data))
    for start in range(0, len(data), 2 * MIB):
        assert (await patch(a.fetch, path, start, data[start:start + 2 * MIB])).code == 204
    assert rehashed == []  # every PATCH here: the digest was ready, no second read of the bytes
    assert await tus_objects(a.services.blobs) == []


@pytest.mark.gen_test(timeout=180)
async def test_checksum_mismatch_and_resets_keep_the_committed_bytes_only(machines):
    a, b = machines
    data = os.urandom(PART + 2 * MIB)
    _, path = await create(a.fetch, len(data))
    assert (await patch(a.fetch, path, 0, data[:MIB])).code == 204
    bad = await patch(b.fetch, path, MIB, data[MIB:3 * MIB], headers={"Upload-Checksum": checksum("sha1", b"x")})
    assert bad.code == 460
    assert (await head(a.fetch, path)).headers["Upload-Offset"] == str(MIB)
    # A client that vanishes mid-PATCH: what arrived counts (tus), and is resumable elsewhere.
    half = await half_upload(b.port, data[MIB:MIB + 6 * MIB // 2], len(data) - MIB, path=path, method="PATCH",
                             ctype="application/offset+octet-stream",
                             headers={**TUS, "Upload-Offset": str(MIB)})
    await asyncio.sleep(1.0)
    half.close()
    for _ in range(100):
        offset = int((await head(a.fetch, path)).headers["Upload-Offset"])
        if offset > MIB and b.services.inflight == 0:
            break
        await asyncio.sleep(0.1)
    assert MIB < offset <= MIB + 3 * MIB
    last = await patch(a.fetch, path, offset, data[offset:])
    assert last.code == 204
    card = body_of(await a.fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert await tus_objects(a.services.blobs) == []


@pytest.mark.gen_test(timeout=180)
async def test_terminate_concat_and_expiry_leave_nothing_in_the_bucket(machines):
    a, b = machines
    _, doomed = await create(a.fetch, 3 * PART)
    assert (await patch(a.fetch, doomed, 0, os.urandom(PART + 10))).code == 204
    assert await tus_objects(a.services.blobs) != []
    assert (await b.fetch(doomed, method="DELETE", headers=dict(TUS))).code == 204
    assert await tus_objects(a.services.blobs) == []

    parts = [os.urandom(PART + 1), os.urandom(1000)]
    paths = []
    for machine, part in zip((a, b), parts, strict=True):
        _, part_path = await create(machine.fetch, len(part), headers={"Upload-Concat": "partial"})
        assert (await patch(machine.fetch, part_path, 0, part)).code == 204
        paths.append(part_path)
    final, _ = await create(b.fetch, headers={"Upload-Concat": "final;" + " ".join(paths)})
    assert final.code == 201, final.body
    joined = body_of(await a.fetch(path_of(final.headers["X-File-Location"])))
    assert joined["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert await tus_objects(a.services.blobs) == []

    _, stale = await create(a.fetch, 2 * PART)
    assert (await patch(a.fetch, stale, 0, os.urandom(PART + 5))).code == 204
    tus = b.services.tus
    assert await tus.sweep(now=time.time() + tus.expiry + 10) >= 1
    assert (await head(a.fetch, stale)).code == 404
    assert await tus_objects(a.services.blobs) == []

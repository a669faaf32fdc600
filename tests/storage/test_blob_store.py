"""The blob-store contract (storage/blobs/base.py) on the local directory and on a real S3 server (Ceph
RGW, tests/system/s3_server.py): staging, commit, reads, ranges, retire/restore, sweeps, and on S3 what
must never stay behind (multipart uploads in progress, staging objects)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid

import pytest

from tornado_paste.storage.blobs.base import BlobMissing, BlobStoreMisconfigured, BlobStoreUnavailable, StagingDiscarded
from tornado_paste.storage.blobs.local import LocalBlobStore
from tornado_paste.storage.blobs.s3 import S3BlobStore
from tornado_paste.storage.blobs.s3_client import S3Config

MIB = 1 << 20
PART = 5 * MIB


def s3_config(server, **changes) -> S3Config:
    base = dict(bucket=server.bucket, endpoint_url=server.endpoint_url, region=server.region,
                prefix=f"t-{uuid.uuid4().hex[:10]}/", access_key=server.access_key, secret_key=server.secret_key,
                part_size=PART, connect_timeout=2.0, read_timeout=10.0, max_attempts=2)
    base.update(changes)
    return S3Config(**base)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.system)])
def blobs(request, io_loop, tmp_path):
    if request.param == "local":
        store = LocalBlobStore(str(tmp_path / "data"))
    else:
        server = request.getfixturevalue("s3_server")
        store = S3BlobStore(s3_config(server), str(tmp_path / "data"), sweep_interval=0)
    store.ensure_dirs()
    io_loop.run_sync(store.start)
    yield store
    io_loop.run_sync(store.stop)


@pytest.fixture
def s3_blobs(request, io_loop, tmp_path, s3_server):
    store = S3BlobStore(s3_config(s3_server), str(tmp_path / "data"), sweep_interval=0)
    store.ensure_dirs()
    io_loop.run_sync(store.start)
    yield store
    io_loop.run_sync(store.stop)


async def stage(blobs, data: bytes, chunk: int = 256 << 10):
    staging = blobs.stage(64)
    for i in range(0, len(data), chunk):
        pending = staging.write(data[i:i + chunk])
        if pending is not None:
            await pending
    return staging


async def store_bytes(blobs, data: bytes) -> str:
    staging = await stage(blobs, data)
    sha = await staging.finish()
    await blobs.commit(staging, sha)
    staging.discard()
    return sha


async def leftovers(store: S3BlobStore) -> dict[str, list[str]]:
    """What of ours is in the bucket besides committed blobs: uploads in progress, staged, retired."""
    await store.settle()
    prefix = store.config.prefix
    found: dict[str, list[str]] = {"uploads": [], "staging": [], "retired": []}
    async for upload in store.conn.pages("list_multipart_uploads", "Uploads", Prefix=prefix):
        found["uploads"].append(upload["Key"])
    for area in ("staging", "retired"):
        async for item in store.conn.pages("list_objects_v2", "Contents", Prefix=f"{prefix}{area}/"):
            found[area].append(item["Key"])
    return found


NOTHING = {"uploads": [], "staging": [], "retired": []}


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("size", [0, 1000, PART + 123, 3 * PART + 7])
async def test_stage_commit_read_and_ranges(blobs, size):
    data = os.urandom(size)
    staging = await stage(blobs, data)
    assert staging.size == size and staging.head == data[:64]
    sha = await staging.finish()
    assert sha == hashlib.sha256(data).hexdigest()
    assert not await blobs.exists(sha)  # nothing under the content address before the commit
    await blobs.commit(staging, sha)
    await blobs.commit(staging, sha)  # idempotent
    staging.discard()
    assert await blobs.exists(sha) and await blobs.size(sha) == size
    assert await blobs.read(sha) == data
    assert await blobs.read(sha, 10, 20) == data[10:30]
    streamed = b"".join([piece async for piece in blobs.stream(sha)])
    assert streamed == data
    if size:
        start, end = size // 3, size - size // 5
        assert b"".join([p async for p in blobs.stream(sha, start, end)]) == data[start:end]
    async with blobs.local_copy(sha) as path:
        with open(path, "rb") as f:
            assert f.read() == data
    async with blobs.local_copy(sha, 100) as path:
        with open(path, "rb") as f:
            assert f.read()[:100] == data[:100]
    listed = dict(await blobs.list_blobs())
    assert abs(listed[sha] - time.time()) < 120
    if isinstance(blobs, S3BlobStore):
        assert await leftovers(blobs) == NOTHING


@pytest.mark.gen_test(timeout=60)
async def test_missing_blobs(blobs):
    sha = "0" * 64
    assert not await blobs.exists(sha) and await blobs.size(sha) is None
    with pytest.raises(BlobMissing):
        await blobs.read(sha)
    with pytest.raises(BlobMissing):
        async with blobs.local_copy(sha):
            pass
    assert await blobs.retire(sha) is None


@pytest.mark.gen_test(timeout=60)
async def test_retire_restore_purge(blobs):
    data = os.urandom(PART + 10)
    sha = await store_bytes(blobs, data)
    parked = await blobs.retire(sha)
    assert parked is not None and not await blobs.exists(sha)
    await blobs.restore(parked, sha)
    assert await blobs.read(sha) == data
    parked = await blobs.retire(sha)
    await blobs.purge(parked)
    assert not await blobs.exists(sha)
    if isinstance(blobs, S3BlobStore):
        assert await leftovers(blobs) == NOTHING


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("when", ["writing", "finishing", "finished", "committed"])
async def test_discard_leaves_nothing_behind(blobs, when):
    data = os.urandom(2 * PART + 5)
    staging = blobs.stage(64)
    staging.write(data[:PART + 1])  # a part in flight
    if when == "writing":
        staging.discard()
    elif when == "finishing":
        staging.write(data[PART + 1:])
        finishing = asyncio.ensure_future(staging.finish())
        await asyncio.sleep(0)
        staging.discard()
        staging.discard()
        with pytest.raises(StagingDiscarded):
            await finishing
    else:
        staging.write(data[PART + 1:])
        sha = await staging.finish()
        if when == "committed":
            await blobs.commit(staging, sha)
        staging.discard()
        if when == "finished":
            with pytest.raises(StagingDiscarded):
                await blobs.commit(staging, sha)
        assert await blobs.exists(sha) == (when == "committed")
    if isinstance(blobs, S3BlobStore):
        assert await leftovers(blobs) == NOTHING
    else:
        assert os.listdir(blobs.tmp_dir) == []


@pytest.mark.gen_test(timeout=60)
async def test_adopted_files_commit_like_uploads(blobs):
    for size in (10, PART * 2 + 3):
        data = os.urandom(size)
        path = blobs.staging_path(".img")
        with open(path, "wb") as f:
            f.write(data)
        staging = await blobs.adopt(path, 16)
        sha = await staging.finish()
        assert sha == hashlib.sha256(data).hexdigest() and staging.head == data[:16]
        await blobs.commit(staging, sha)
        staging.discard()
        assert await blobs.read(sha) == data
        assert not os.path.exists(path)


# -- S3 only -----------------------------------------------------------------------------------------


@pytest.mark.system
@pytest.mark.gen_test(timeout=60)
async def test_s3_backpressure_bounds_parts_in_flight(s3_blobs):
    staging = s3_blobs.stage(64)
    waits = 0
    peak = 0
    for _ in range(8):
        pending = staging.write(os.urandom(PART))
        peak = max(peak, len(staging._inflight))
        if pending is not None:
            waits += 1
            await pending
    assert waits >= 1 and peak <= s3_blobs.config.upload_concurrency
    sha = await staging.finish()
    await s3_blobs.commit(staging, sha)
    staging.discard()
    assert await s3_blobs.size(sha) == 8 * PART


@pytest.mark.system
@pytest.mark.gen_test(timeout=90)
async def test_s3_copies_above_the_copy_limit_part_by_part(s3_blobs):
    s3_blobs.copy_limit = PART  # CopyObject's real limit is 5 GiB
    s3_blobs.copy_part_size = PART
    data = os.urandom(2 * PART + 99)
    sha = await store_bytes(s3_blobs, data)
    assert await s3_blobs.read(sha) == data
    parked = await s3_blobs.retire(sha)
    await s3_blobs.restore(parked, sha)
    assert await s3_blobs.read(sha) == data
    assert await leftovers(s3_blobs) == NOTHING


@pytest.mark.system
@pytest.mark.gen_test(timeout=90)
async def test_s3_sweep_aborts_orphans_of_dead_processes_and_old_ones(s3_blobs, tmp_path, s3_server):
    client, bucket, prefix = s3_blobs.client, s3_blobs.bucket, s3_blobs.config.prefix
    host = s3_blobs._tag.split(".")[0]
    dead = f"{prefix}staging/{host}.999999.dead"
    alive = f"{prefix}staging/{host}.{os.getppid()}.alive"
    foreign = f"{prefix}staging/otherhost.123.young"
    for key in (dead, alive, foreign):
        await client.create_multipart_upload(Bucket=bucket, Key=key)
    await client.put_object(Bucket=bucket, Key=f"{prefix}retired/{host}.999998.parked", Body=b"x")
    removed = await s3_blobs.sweep(24 * 3600)
    assert removed == 2
    left = await leftovers(s3_blobs)
    assert sorted(left["uploads"]) == sorted([alive, foreign]) and left["retired"] == []
    # Older than the bound: anyone's goes, from any machine's periodic sweep.
    assert await s3_blobs._sweep_remote(0.0, lambda pid: True, startup=False) == 2
    assert await leftovers(s3_blobs) == NOTHING


@pytest.mark.system
@pytest.mark.gen_test(timeout=60)
async def test_s3_wrong_credentials_are_a_start_up_error(s3_server, tmp_path):
    store = S3BlobStore(s3_config(s3_server, secret_key="wrong" * 8), str(tmp_path), sweep_interval=0)
    with pytest.raises(BlobStoreMisconfigured, match="refused"):
        await store.start()
    await store.stop()
    missing = S3BlobStore(s3_config(s3_server, bucket="no-such-bucket-here"), str(tmp_path), sweep_interval=0)
    with pytest.raises(BlobStoreMisconfigured):
        await missing.start()
    await missing.stop()


@pytest.mark.gen_test(timeout=60)
async def test_s3_store_down_is_unavailable_within_the_timeouts(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there
    config = S3Config(bucket="b", endpoint_url=f"http://127.0.0.1:{port}", access_key="a", secret_key="b",
                      connect_timeout=0.5, read_timeout=1.0, max_attempts=2)
    store = S3BlobStore(config, str(tmp_path), sweep_interval=0)
    started = time.monotonic()
    await store.start()  # unreachable at start-up: a warning, not a failure
    with pytest.raises(BlobStoreUnavailable):
        await store.exists("a" * 64)
    staging = store.stage(64)
    with pytest.raises(BlobStoreUnavailable):
        for _ in range(3):
            pending = staging.write(b"x" * (8 << 20))
            if pending is not None:
                await pending
        await staging.finish()
    staging.discard()
    await store.stop()
    assert time.monotonic() - started < 20

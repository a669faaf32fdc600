"""The read-only routes' record cache (core/record_cache.py): what it keeps, what drops an entry, and
how long another process's write can go unseen. Time is a fake clock: nothing here waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tornado_paste.core.record_cache import RecordCache
from tornado_paste.core.records import FileRecord
from tornado_paste.storage.memory import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(n: int, **fields) -> FileRecord:
    return FileRecord(filehash=f"{n:016x}.bin", sha256=f"{n:064x}", filename=f"f{n}.bin",
                      mimetype="application/octet-stream", size=10, uploaded_at=datetime.now(UTC),
                      delete_token_hash="x", **fields)


async def setup(ttl: float = 1.0, size: int = 100):
    store = MemoryStore()
    await store.open()
    reads: list[str] = []
    real_get = store.get_by_filehash

    async def counted(filehash: str):
        reads.append(filehash)
        return await real_get(filehash)

    store.get_by_filehash = counted  # type: ignore[method-assign]
    # What another process writes with: the store's own methods, before this process's cache wraps them.
    other = {"update": store.controls.update, "delete_file": store.delete_file}
    clock = Clock()
    cache = RecordCache(store, ttl, size, clock=clock)
    cache.track_writes(store)
    return store, cache, clock, reads, other


@pytest.mark.gen_test
async def test_a_hot_record_is_read_from_the_store_once_per_ttl():
    store, cache, clock, reads, _ = await setup()
    rec = await store.insert_file(record(1))
    for _ in range(5):
        assert (await cache.by_filehash(rec.filehash)).filename == "f1.bin"
    assert reads == [rec.filehash]
    clock.now += 1.0
    await cache.by_filehash(rec.filehash)
    assert reads == [rec.filehash] * 2


@pytest.mark.gen_test
@pytest.mark.parametrize("fields", [{"max_downloads": 3}, {"password_hash": "argon2-hash"}])
async def test_guarded_records_are_never_kept(fields):
    store, cache, _, reads, _ = await setup()
    rec = await store.insert_file(record(2, **fields))
    for _ in range(3):
        await cache.by_filehash(rec.filehash)
    assert len(reads) == 3  # every download of a limited or protected file asks the store


@pytest.mark.gen_test
async def test_misses_are_not_kept():
    store, cache, _, _, _ = await setup()
    assert await cache.by_filehash(f"{3:016x}.bin") is None
    rec = await store.insert_file(record(3))  # an upload in another process, just after
    assert (await cache.by_filehash(rec.filehash)) is not None


@pytest.mark.gen_test
async def test_this_processs_writes_are_seen_at_once():
    store, cache, _, _, _ = await setup()
    rec = await store.insert_file(record(4))
    await cache.by_filehash(rec.filehash)
    await store.controls.update(rec.filehash, {"filename": "renamed.bin"})
    assert (await cache.by_filehash(rec.filehash)).filename == "renamed.bin"
    await store.controls.update(rec.filehash, {"password_hash": "argon2-hash"})
    assert (await cache.by_filehash(rec.filehash)).password_hash == "argon2-hash"
    await store.controls.update(rec.filehash, {"password_hash": None})
    await cache.by_filehash(rec.filehash)
    assert await store.delete_file(rec.id)
    assert await cache.by_filehash(rec.filehash) is None
    assert await cache.by_short_code(rec.short_code) is None


@pytest.mark.gen_test
async def test_another_processs_write_is_seen_within_the_ttl():
    store, cache, clock, _, other = await setup(ttl=1.0)
    rec = await store.insert_file(record(5))
    await cache.by_filehash(rec.filehash)
    assert await other["delete_file"](rec.id)
    clock.now += 0.5
    assert await cache.by_filehash(rec.filehash) is not None  # the documented bound: up to ttl stale
    clock.now += 0.5
    assert await cache.by_filehash(rec.filehash) is None


@pytest.mark.gen_test
async def test_a_lookup_racing_a_write_keeps_nothing():
    store, cache, _, _, _ = await setup()
    rec = await store.insert_file(record(6))
    started, release = asyncio.Event(), asyncio.Event()
    real_get = store.get_by_filehash

    async def slow(filehash: str):
        old = await real_get(filehash)  # read before the write lands...
        started.set()
        await release.wait()  # ...returned after it
        return old

    store.get_by_filehash = slow  # type: ignore[method-assign]
    lookup = asyncio.ensure_future(cache.by_filehash(rec.filehash))
    await started.wait()
    await store.controls.update(rec.filehash, {"filename": "new.bin"})
    release.set()
    assert (await lookup).filename == "f6.bin"  # that request saw the old record, as without a cache
    store.get_by_filehash = real_get  # type: ignore[method-assign]
    assert (await cache.by_filehash(rec.filehash)).filename == "new.bin"  # but nobody after it does


@pytest.mark.gen_test
async def test_a_replaced_short_code_stops_working_at_once():
    store, cache, _, _, _ = await setup()
    rec = await store.insert_file(record(7))
    assert (await cache.by_short_code(rec.short_code)).filehash == rec.filehash
    await store.controls.update(rec.filehash, {"private": True, "short_code": "NewPrivateCode123"})
    assert await cache.by_short_code(rec.short_code) is None
    assert (await cache.by_short_code("NewPrivateCode123")).filehash == rec.filehash


@pytest.mark.gen_test
async def test_bounded_and_callers_get_their_own_copy():
    store, cache, _, _, _ = await setup(size=2)
    recs = [await store.insert_file(record(10 + n)) for n in range(3)]
    for rec in recs:
        await cache.by_filehash(rec.filehash)
    assert len(cache._records) == 2 and recs[0].filehash not in cache._records
    mine = await cache.by_filehash(recs[2].filehash)
    mine.downloads = 99
    assert (await cache.by_filehash(recs[2].filehash)).downloads == 0


@pytest.mark.gen_test
async def test_ttl_zero_is_off():
    store, cache, _, reads, _ = await setup(ttl=0)
    rec = await store.insert_file(record(20))
    await cache.by_filehash(rec.filehash)
    await cache.by_filehash(rec.filehash)
    assert len(reads) == 2

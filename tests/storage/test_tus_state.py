"""One contract for the tus state store, run on every backend."""

from __future__ import annotations

import pytest

from tornado_paste.core.records import TusState, TusUsage
from tornado_paste.storage.base import Locked


@pytest.fixture
def tus_store(backend):
    return backend.tus_state


def new_state(upload_id: str = "a" * 32, **kw) -> TusState:
    base = dict(id=upload_id, length=100, metadata={"filename": "f.bin"}, created_at=1000.0, expires_at=2000.0)
    base.update(kw)
    return TusState(**base)


@pytest.mark.gen_test
async def test_create_get_roundtrip(tus_store):
    await tus_store.create(new_state(concat="final", parts=["b" * 32, "c" * 32], length=None))
    got = await tus_store.get("a" * 32)
    assert got.length is None and got.deferred
    assert got.metadata == {"filename": "f.bin"}
    assert got.parts == ["b" * 32, "c" * 32]
    assert got.concat == "final"
    assert got.offset == 0 and not got.done and got.lock_owner is None
    assert await tus_store.get("f" * 32) is None
    assert await tus_store.ids() == {"a" * 32}


@pytest.mark.gen_test
async def test_lock_is_exclusive_until_released_or_lease_ends(tus_store):
    await tus_store.create(new_state())
    mine = await tus_store.acquire("a" * 32, "one", now=1500.0, lease=30)
    assert mine.lock_owner == "one"
    with pytest.raises(Locked):
        await tus_store.acquire("a" * 32, "two", now=1510.0, lease=30)
    assert await tus_store.update("a" * 32, "two", offset=50) is False  # not the holder
    assert await tus_store.update("a" * 32, "one", offset=50, length=80) is True
    assert await tus_store.renew("a" * 32, "one", 1600.0)
    with pytest.raises(Locked):
        await tus_store.acquire("a" * 32, "two", now=1590.0, lease=30)
    # The lease ran out (the holder died): someone else may take it; the old holder is locked out.
    taken = await tus_store.acquire("a" * 32, "two", now=1601.0, lease=30)
    assert taken.lock_owner == "two" and taken.offset == 50 and taken.length == 80
    assert await tus_store.renew("a" * 32, "one", 1700.0) is False
    await tus_store.release("a" * 32, "one")  # no effect: not ours any more
    assert (await tus_store.get("a" * 32)).lock_owner == "two"
    await tus_store.release("a" * 32, "two")
    assert (await tus_store.get("a" * 32)).lock_owner is None
    assert await tus_store.acquire("b" * 32, "one", now=1500.0, lease=30) is None


@pytest.mark.gen_test
async def test_update_done_and_filehash(tus_store):
    await tus_store.create(new_state())
    await tus_store.acquire("a" * 32, "one", now=1500.0, lease=30)
    await tus_store.update("a" * 32, "one", done=True, filehash="0123456789abcdef.bin", offset=100)
    got = await tus_store.get("a" * 32)
    assert got.done is True and got.filehash == "0123456789abcdef.bin" and got.offset == 100


@pytest.mark.gen_test
async def test_expired_and_sweep_skip_locked(tus_store):
    await tus_store.create(new_state("a" * 32, expires_at=100.0))
    await tus_store.create(new_state("b" * 32, expires_at=100.0))
    await tus_store.create(new_state("c" * 32, expires_at=5000.0))
    await tus_store.acquire("b" * 32, "patcher", now=150.0, lease=100)  # a PATCH is running on b
    expired = await tus_store.expired(now=200.0)
    assert [s.id for s in expired] == ["a" * 32]
    assert await tus_store.delete_if_expired("b" * 32, now=200.0) is False
    assert await tus_store.delete_if_expired("c" * 32, now=200.0) is False
    assert await tus_store.delete_if_expired("a" * 32, now=200.0) is True
    assert await tus_store.get("a" * 32) is None
    # Once the lease is over, b is sweepable too.
    assert [s.id for s in await tus_store.expired(now=300.0)] == ["b" * 32]
    assert await tus_store.delete("b" * 32) is True
    assert await tus_store.delete("b" * 32) is False
    assert await tus_store.ids() == {"c" * 32}


@pytest.mark.gen_test
async def test_usage_counts_open_uploads_per_client(tus_store):
    """Open = not ingested and not expired; a deferred length counts its bytes so far; finished frees it."""
    assert await tus_store.usage(now=1500.0) == TusUsage(0, 0)
    await tus_store.create(new_state("a" * 32, length=100, client="10.0.0.1"))
    await tus_store.create(new_state("b" * 32, length=None, offset=30, client="10.0.0.1"))
    await tus_store.create(new_state("c" * 32, length=7, client="10.0.0.2"))
    await tus_store.create(new_state("d" * 32, length=50, client="10.0.0.1", expires_at=1000.0))  # expired
    await tus_store.create(new_state("e" * 32, length=40, client=None))
    assert (await tus_store.get("a" * 32)).client == "10.0.0.1"
    assert await tus_store.usage(now=1500.0, client="10.0.0.1") == TusUsage(2, 130)
    assert await tus_store.usage(now=1500.0, client="10.0.0.2") == TusUsage(1, 7)
    assert await tus_store.usage(now=1500.0, client="10.0.0.9") == TusUsage(0, 0)
    assert await tus_store.usage(now=1500.0) == TusUsage(4, 177)
    assert await tus_store.usage(now=900.0, client="10.0.0.1") == TusUsage(3, 180)
    # A finished partial upload still holds its bytes: it counts. An ingested one does not.
    await tus_store.acquire("a" * 32, "me", now=1500.0, lease=30)
    await tus_store.update("a" * 32, "me", done=True, offset=100)
    assert await tus_store.usage(now=1500.0, client="10.0.0.1") == TusUsage(2, 130)
    await tus_store.update("a" * 32, "me", filehash="0123456789abcdef.bin")
    assert await tus_store.usage(now=1500.0, client="10.0.0.1") == TusUsage(1, 30)
    # The deferred length, once known, counts instead of the offset; a terminated upload frees its slot.
    await tus_store.acquire("b" * 32, "me", now=1500.0, lease=30)
    await tus_store.update("b" * 32, "me", length=60)
    assert await tus_store.usage(now=1500.0, client="10.0.0.1") == TusUsage(1, 60)
    await tus_store.delete("b" * 32)
    assert await tus_store.usage(now=1500.0, client="10.0.0.1") == TusUsage(0, 0)

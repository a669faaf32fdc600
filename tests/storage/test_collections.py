"""CollectionStore on every backend: collections, ordered members, the atomic upload-request quota."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tornado_paste.core.records import CollectionRecord, utcnow
from tornado_paste.storage import DuplicateContent


def collection(code: str = "Abc123def45", **changes) -> CollectionRecord:
    values = dict(code=code, title="Holiday 🌴", created_at=utcnow(), manage_token_hash="cd" * 32)
    values.update(changes)
    return CollectionRecord(**values)


@pytest.mark.gen_test
async def test_create_get_update_delete_round_trip(backend):
    store = backend.collections
    original = collection(request_hash="ef" * 32, request={"max_file_size": 10, "allowed_types": ["image/*"]},
                          max_files=3, max_bytes=100, expires_at=utcnow() + timedelta(days=1))
    await store.create(original)
    assert await store.get(original.code) == original
    assert await store.get_by_request("ef" * 32) == original
    assert await store.get("nope") is None and await store.get_by_request("00" * 32) is None
    with pytest.raises(DuplicateContent):
        await store.create(collection(original.code))
    with pytest.raises(DuplicateContent):
        await store.create(collection("Other000000", request_hash="ef" * 32))
    changed = await store.update(original.code, {"title": "Renamed", "private": False, "password_hash": "$a",
                                                 "max_downloads": 2, "request_hash": None})
    assert (changed.title, changed.private, changed.password_hash, changed.max_downloads) == ("Renamed", False, "$a", 2)
    assert changed.request_hash is None and await store.get_by_request("ef" * 32) is None
    assert await store.get(original.code) == changed
    assert await store.update("nope", {"title": "x"}) is None
    with pytest.raises(ValueError):
        await store.update(original.code, {"used_bytes": 0})
    await store.add_member(original.code, "0123456789abcdef.txt", utcnow(), False, False)
    assert await store.delete(original.code) is True
    assert await store.get(original.code) is None and await store.members(original.code) == []
    assert await store.containing("0123456789abcdef.txt") == []
    assert await store.delete(original.code) is False


@pytest.mark.gen_test
async def test_members_keep_their_order_and_flags_only_turn_on(backend):
    store = backend.collections
    await store.create(collection("Ord00000000"))
    await store.create(collection("Ord00000001"))
    names = [f"{n:016x}.txt" for n in range(4)]
    for name in names:
        member, created = await store.add_member("Ord00000000", name, utcnow(), False, False)
        assert created and member.filehash == name
    again, created = await store.add_member("Ord00000000", names[1], utcnow(), True, True)
    assert not created and again.by_owner and again.owned
    again, _ = await store.add_member("Ord00000000", names[1], utcnow(), False, False)
    assert again.by_owner and again.owned
    assert [m.filehash for m in await store.members("Ord00000000")] == names
    assert await store.remove_member("Ord00000000", names[0]) is True
    assert await store.remove_member("Ord00000000", names[0]) is False
    await store.add_member("Ord00000000", names[0], utcnow(), False, False)  # back, now last
    assert [m.filehash for m in await store.members("Ord00000000")] == [*names[1:], names[0]]
    await store.add_member("Ord00000001", names[2], utcnow(), False, False)
    assert await store.containing(names[2]) == ["Ord00000000", "Ord00000001"]


@pytest.mark.gen_test
async def test_concurrent_adds_get_distinct_positions(backend):
    store = backend.collections
    await store.create(collection("Par00000000"))
    names = [f"{n:016x}.bin" for n in range(10)]
    results = await asyncio.gather(*(store.add_member("Par00000000", n, utcnow(), False, True) for n in names))
    assert all(created for _m, created in results)
    positions = [m.position for m in await store.members("Par00000000")]
    assert len(set(positions)) == 10 and positions == sorted(positions)


@pytest.mark.gen_test
async def test_reserve_stops_at_the_exact_byte_and_file(backend):
    store = backend.collections
    await store.create(collection("Quo00000000", max_files=2, max_bytes=1000))
    assert await store.reserve("Quo00000000", 1, 0)
    assert await store.reserve("Quo00000000", 0, 999)
    assert await store.reserve("Quo00000000", 0, 1)  # exactly the quota
    assert not await store.reserve("Quo00000000", 0, 1)  # the byte that crosses it
    assert await store.reserve("Quo00000000", 1, 0)
    assert not await store.reserve("Quo00000000", 1, 0)  # a third file
    assert await store.reserve("Quo00000000", -1, -400)
    got = await store.get("Quo00000000")
    assert (got.used_files, got.used_bytes) == (1, 600)
    assert await store.reserve("Quo00000000", -5, -5000)  # never below zero
    got = await store.get("Quo00000000")
    assert (got.used_files, got.used_bytes) == (0, 0)
    await store.create(collection("Unb00000000"))
    assert await store.reserve("Unb00000000", 100, 10**12)  # no maximums: unbounded
    assert not await store.reserve("missing0000", 1, 1)


@pytest.mark.gen_test
async def test_concurrent_reservations_never_overshoot(backend):
    store = backend.collections
    await store.create(collection("Con00000000", max_bytes=10_000))
    results = await asyncio.gather(*(store.reserve("Con00000000", 0, 700) for _ in range(30)))
    assert results.count(True) == 14
    assert (await store.get("Con00000000")).used_bytes == 9800


@pytest.mark.gen_test
async def test_claim_download_and_expired(backend):
    store = backend.collections
    await store.create(collection("Dl000000000", max_downloads=1, expires_at=utcnow() - timedelta(seconds=5)))
    await store.create(collection("Live0000000", expires_at=utcnow() + timedelta(days=1)))
    results = await asyncio.gather(*(store.claim_download("Dl000000000") for _ in range(4)))
    assert sorted(results, key=str) == [1, None, None, None]
    assert await store.claim_download("Live0000000") is None
    assert [c.code for c in await store.expired(utcnow(), 10)] == ["Dl000000000"]

"""One contract, every backend: SQLite, MongoDB (mock always, real when configured), memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tornado_paste.core.records import FileRecord, utcnow
from tornado_paste.storage import DuplicateContent


def record(n: int, private: bool = False, sha: str | None = None, parent_id: int | None = None) -> FileRecord:
    return FileRecord(
        filehash=f"{n:016x}.txt", sha256=sha or f"{n:064x}", filename=f"név {n}.txt", mimetype="text/plain",
        size=n, uploaded_at=utcnow() - timedelta(seconds=100 - n), delete_token_hash="ab" * 32,
        private=private, width=None, height=None, parent_id=parent_id,
        variant={"w": 1, "h": 1} if parent_id is not None else None,
    )


@pytest.fixture
def store(backend):
    return backend


@pytest.mark.gen_test
async def test_insert_assigns_increasing_ids_and_round_trips(store):
    first = await store.insert_file(record(1))
    second = await store.insert_file(record(2))
    assert first.id is not None and second.id > first.id
    got = await store.get_by_id(first.id)
    assert got == first
    assert got.uploaded_at.tzinfo is not None
    assert (await store.get_by_filehash(second.filehash)).id == second.id
    assert (await store.get_by_short_code(second.short_code)).id == second.id
    assert (await store.get_public_original(second.sha256)).id == second.id


@pytest.mark.gen_test
async def test_variant_and_dimensions_round_trip(store):
    rec = record(3)
    rec.width, rec.height, rec.parent_id = 640, 480, 1
    rec.variant = {"w": 64, "h": 48, "mode": "fill", "format": "jpeg"}
    saved = await store.insert_file(rec)
    got = await store.get_by_id(saved.id)
    assert (got.width, got.height, got.parent_id, got.variant) == (640, 480, 1, rec.variant)


@pytest.mark.gen_test
async def test_unknown_lookups_return_none(store):
    assert await store.get_by_id(12345) is None
    assert await store.get_by_filehash("0" * 16 + ".txt") is None
    assert await store.get_by_short_code("AAAAAAAA") is None
    assert await store.get_public_original("f" * 64) is None


@pytest.mark.gen_test
async def test_short_codes_are_stored_unique_and_random(store):
    public, private = record(6), record(7, private=True)
    assert (len(public.short_code), len(private.short_code)) == (8, 11)
    saved = [await store.insert_file(public), await store.insert_file(private)]
    for rec in saved:
        got = await store.get_by_short_code(rec.short_code)
        assert got == rec
    clash = record(8)
    clash.short_code = public.short_code
    with pytest.raises(DuplicateContent):
        await store.insert_file(clash)
    clash = record(9)
    clash.filehash = private.filehash
    with pytest.raises(DuplicateContent):
        await store.insert_file(clash)
    assert await store.get_by_filehash(record(8).filehash) is None


@pytest.mark.gen_test
async def test_sha256_is_unique_among_public_originals_only(store):
    sha = "a" * 64
    original = await store.insert_file(record(4, sha=sha))
    with pytest.raises(DuplicateContent):
        await store.insert_file(record(5, sha=sha))
    # Private copies and derivatives of the same bytes are records of their own.
    others = [await store.insert_file(record(n, private=True, sha=sha)) for n in (11, 12)]
    others.append(await store.insert_file(record(13, sha=sha, parent_id=original.id)))
    others.append(await store.insert_file(record(14, private=True, sha=sha, parent_id=original.id)))
    assert len({r.id for r in [original, *others]}) == 5
    assert await store.count_sha256_refs(sha) == 5
    assert (await store.get_public_original(sha)).id == original.id
    # Once the public original is gone, the private copies are never offered in its place...
    assert await store.delete_file(original.id)
    assert await store.get_public_original(sha) is None
    assert await store.count_sha256_refs(sha) == 4
    # ...and a new public original may be stored.
    again = await store.insert_file(record(15, sha=sha))
    assert (await store.get_public_original(sha)).id == again.id


@pytest.mark.gen_test
async def test_concurrent_inserts_of_same_public_bytes_leave_one_record(store):
    results = await asyncio.gather(*(store.insert_file(record(10 + i, sha="b" * 64)) for i in range(10)),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, FileRecord)]
    assert len(winners) == 1
    assert all(isinstance(r, DuplicateContent) for r in results if r not in winners)


@pytest.mark.gen_test
async def test_concurrent_inserts_of_same_private_bytes_each_stay(store):
    results = await asyncio.gather(*(store.insert_file(record(30 + i, private=True, sha="c" * 64))
                                     for i in range(10)))
    assert len({r.id for r in results}) == 10
    assert await store.count_sha256_refs("c" * 64) == 10
    assert await store.get_public_original("c" * 64) is None


@pytest.mark.gen_test
async def test_latest_pages_newest_first_and_hides_private(store):
    saved = [await store.insert_file(record(20 + i, private=(i % 3 == 0))) for i in range(9)]
    public = [r.id for r in reversed(saved) if not r.private]
    assert await store.count_public() == len(public)
    page1 = await store.latest(4)
    assert [r.id for r in page1] == public[:4]
    page2 = await store.latest(4, before_id=page1[-1].id)
    assert [r.id for r in page2] == public[4:8]


@pytest.mark.gen_test
async def test_delete(store):
    saved = await store.insert_file(record(40))
    assert await store.delete_file(saved.id) is True
    assert await store.get_by_id(saved.id) is None
    assert await store.delete_file(saved.id) is False
    assert await store.count_sha256_refs(saved.sha256) == 0


@pytest.mark.gen_test
async def test_ping(store):
    await store.ping()


@pytest.mark.gen_test
async def test_with_sha256_lists_every_record_of_those_bytes(store):
    """Public and private records sharing a blob all answer (the operator's view), oldest first."""
    first = await store.insert_file(record(70, sha="c" * 64))
    second = await store.insert_file(record(71, private=True, sha="c" * 64))
    await store.insert_file(record(72, sha="d" * 64))
    assert [r.id for r in await store.with_sha256("c" * 64)] == [first.id, second.id]
    assert [r.id for r in await store.with_sha256("c" * 64, limit=1)] == [first.id]
    assert await store.with_sha256("e" * 64) == []

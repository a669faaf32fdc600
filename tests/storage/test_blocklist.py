"""Contract tests of the blocklist and the file statistics on every backend."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import TypeTotals

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.gen_test
async def test_blocklist_contract(backend):
    blocks = backend.blocklist
    assert await blocks.count() == 0
    assert not await blocks.is_blocked(A)
    assert await blocks.entries() == []
    assert await blocks.block([A, B, A], "court order 1", 100.0) == 2  # duplicates in one call count once
    assert await blocks.is_blocked(A) and await blocks.is_blocked(B)
    assert not await blocks.is_blocked(C)
    # Blocking again is idempotent and keeps the first reason.
    assert await blocks.block([B, C], "second list", 200.0) == 1
    assert await blocks.count() == 3
    entries = await blocks.entries()
    assert [e.sha256 for e in entries] == [C, A, B]  # newest first, then by hash
    assert {e.sha256: e.reason for e in entries} == {A: "court order 1", B: "court order 1", C: "second list"}
    assert [e.sha256 for e in await blocks.entries(limit=1)] == [C]
    assert await blocks.unblock(A)
    assert not await blocks.unblock(A)
    assert not await blocks.is_blocked(A)
    assert await blocks.count() == 2
    assert await blocks.block([], "nothing", 1.0) == 0


@pytest.mark.gen_test
async def test_blocklist_takes_a_long_list_in_one_call(backend):
    hashes = [f"{n:064x}" for n in range(2500)]
    assert await backend.blocklist.block(hashes, "import", 5.0) == 2500
    assert await backend.blocklist.count() == 2500
    assert await backend.blocklist.is_blocked(hashes[-1])


def _record(n: int, mimetype: str, size: int, **kw) -> FileRecord:
    return FileRecord(filehash=f"{n:016x}.bin", sha256=f"{n:064x}", filename=f"f{n}", mimetype=mimetype, size=size,
                      uploaded_at=datetime(2026, 1, 1, tzinfo=UTC), delete_token_hash="x", **kw)


@pytest.mark.gen_test
async def test_file_stats_contract(backend):
    empty = await backend.stats.summary()
    assert (empty.files, empty.bytes, empty.private, empty.derivatives, empty.by_type) == (0, 0, 0, 0, {})
    parent = await backend.insert_file(_record(1, "image/png", 1000))
    await backend.insert_file(_record(2, "image/png", 200, parent_id=parent.id, variant={"w": 10}))
    await backend.insert_file(_record(3, "text/plain", 30, private=True))
    await backend.insert_file(_record(4, "application/pdf", 4000))
    summary = await backend.stats.summary()
    assert dataclasses.astuple(summary)[:5] == (4, 5230, 1, 1, 200)
    assert summary.by_type == {"application/pdf": TypeTotals(1, 4000), "image/png": TypeTotals(2, 1200),
                               "text/plain": TypeTotals(1, 30)}
    assert list(summary.by_type) == sorted(summary.by_type)

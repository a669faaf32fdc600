"""Contract test of the expiry index on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tornado_paste.core.records import FileRecord


def _record(n: int, expires_at: datetime | None) -> FileRecord:
    return FileRecord(filehash=f"{n:016x}.bin", sha256=f"{n:064x}", filename=f"f{n}.bin",
                      mimetype="application/octet-stream", size=n, uploaded_at=datetime(2026, 1, 1, tzinfo=UTC),
                      delete_token_hash="x", expires_at=expires_at)


@pytest.mark.gen_test
async def test_expiry_index_contract(backend):
    store = backend
    index = backend.expiry
    now = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    ids = {}
    for n, delta in enumerate([-3600, -60, 0, 60, None], start=1):
        rec = await store.insert_file(_record(n, None if delta is None else now + timedelta(seconds=delta)))
        ids[n] = rec.id
    expired = await index.expired(now, 10)
    assert [r.filehash for r in expired] == [f"{1:016x}.bin", f"{2:016x}.bin", f"{3:016x}.bin"]  # soonest first
    assert all(r.expires_at.tzinfo is not None for r in expired)
    assert len(await index.expired(now, 2)) == 2
    await index.set_expiry(ids[1], now + timedelta(days=1))
    await index.set_expiry(ids[2], None)
    assert [r.id for r in await index.expired(now, 10)] == [ids[3]]
    assert (await store.get_by_id(ids[2])).expires_at is None
    assert (await store.get_by_id(ids[1])).expires_at == now + timedelta(days=1)
    child = _record(9, None)
    child.parent_id = ids[4]
    child.variant = {"w": 10, "h": 10}
    child = await store.insert_file(child)
    assert [r.id for r in await index.children(ids[4])] == [child.id]
    assert await index.children(ids[5]) == []

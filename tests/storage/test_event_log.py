"""Contract tests for the event log: the same behaviour on every backend."""

from __future__ import annotations

import msgpack
import pytest

from tornado_paste.storage.base import EventLog


@pytest.fixture
def store(backend):
    return backend


async def _opened(store) -> EventLog:
    return store.event_log


async def _append(event_log: EventLog, n: int, ts: float = 1000.0, private: bool = False,
                  parent: str | None = None) -> list[int]:
    cursors = []
    for i in range(n):
        payload = msgpack.packb({"type": "file.created", "ts": "x", "file": {"n": i}})
        cursors.append(await event_log.append("file.created", ts + i, f"{i:016x}.txt", parent, private, payload))
    return cursors


@pytest.mark.gen_test
async def test_cursors_increase_and_read_back_in_order(store):
    event_log = await _opened(store)
    assert await event_log.last_cursor() == 0
    cursors = await _append(event_log, 5, parent="aaaaaaaaaaaaaaaa.png", private=True)
    assert cursors == sorted(cursors) and len(set(cursors)) == 5
    assert await event_log.last_cursor() == cursors[-1]

    entries = await event_log.read_after(cursors[1], 10)
    assert [e.cursor for e in entries] == cursors[2:]
    first = entries[0]
    assert first.body() == {"type": "file.created", "ts": "x", "file": {"n": 2}}
    assert first.private is True and first.parent_filehash == "aaaaaaaaaaaaaaaa.png"
    assert first.filehash == f"{2:016x}.txt" and first.ts == 1002.0

    assert [e.cursor for e in await event_log.read_after(0, 2)] == cursors[:2]
    assert [e.cursor for e in await event_log.read_after(cursors[0], 10, upto=cursors[2])] == cursors[1:3]
    assert await event_log.read_after(cursors[-1], 10) == []


@pytest.mark.gen_test
async def test_trim_by_age_and_count(store):
    event_log = await _opened(store)
    cursors = await _append(event_log, 10, ts=1000.0)
    # Age: entries with ts < 1003 go (three of them).
    assert await event_log.trim(older_than=1003.0, keep=100) == 3
    assert [e.cursor for e in await event_log.read_after(0, 100)] == cursors[3:]
    # Count: keep the newest four.
    assert await event_log.trim(older_than=0.0, keep=4) == 3
    assert [e.cursor for e in await event_log.read_after(0, 100)] == cursors[6:]
    # Cursors keep growing after a trim, even one that empties the log.
    assert await event_log.trim(older_than=1e12, keep=4) == 4
    assert await event_log.last_cursor() == cursors[-1]
    (new,) = await _append(event_log, 1)
    assert new > cursors[-1]

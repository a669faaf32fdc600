"""Contract tests for the event log: the same behaviour on SQLite (a real file) and MongoDB."""

from __future__ import annotations

import os
import uuid

import msgpack
import pytest

from tornado_paste.storage.eventlog import EventLog, open_event_log
from tornado_paste.storage.mongo.files import MongoStore
from tornado_paste.storage.sqlite.files import SQLiteStore

BACKENDS = ["sqlite", "mongo-mock"]
if os.environ.get("TORNADO_PASTE_TEST_MONGO_URL"):
    BACKENDS.append("mongo-real")


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path, io_loop):
    if request.param == "sqlite":
        backend = SQLiteStore(str(tmp_path / "events.sqlite3"))
    elif request.param == "mongo-mock":
        from pymongo_async_mock import AsyncMongoMockClient

        backend = MongoStore(AsyncMongoMockClient(), "tp_events_test")
    else:
        database = f"tp_events_test_{uuid.uuid4().hex[:8]}"
        backend = MongoStore.from_url(os.environ["TORNADO_PASTE_TEST_MONGO_URL"], database)
    io_loop.run_sync(backend.open)
    yield backend
    if request.param == "mongo-real":
        io_loop.run_sync(lambda: backend.client.drop_database(backend.db.name))
    io_loop.run_sync(backend.close)


async def _opened(store) -> EventLog:
    event_log = open_event_log(store)
    await event_log.open()
    await event_log.open()  # idempotent: every process opens it at start-up
    return event_log


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

"""Events across processes on MongoDB: pushed by a change stream when the server has them (the nx-27017
wire server does), with resume tokens carried over restarts; and the polling fallback on its own
(push switched off, and a MongoDB stand-in without change streams)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from settings import Settings
from tests.stores import make_store
from tornado_paste.core.records import FileRecord, utcnow
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore


def record() -> FileRecord:
    return FileRecord(filehash=uuid.uuid4().hex[:16] + ".txt", sha256=uuid.uuid4().hex * 2, filename="a.txt",
                      mimetype="text/plain", size=1, uploaded_at=utcnow(), delete_token_hash="x", id=1)


@pytest.fixture
def pair(request, io_loop, tmp_path):
    """Two 'processes' (own Services, own client, own data dir) on one MongoDB database."""
    kind, overrides = request.param
    database = "tp_push_" + uuid.uuid4().hex[:8]
    made = []
    for name in ("a", "b"):
        settings = Settings(data_dir=str(tmp_path / name), **overrides).validated()
        if kind == "mongo-wire":
            store = MongoStore.from_url(request.getfixturevalue("mongo_wire_url"), database)
        else:
            store = make_store("mongo-mock", tmp_path)
            if made:  # the mock shares nothing between clients: give B A's client
                store = MongoStore(made[0].store.client, made[0].store.db.name)
        svc = build_services(settings, store=store)
        io_loop.run_sync(svc.start)
        made.append(svc)
    yield made
    for svc in made:
        io_loop.run_sync(svc.stop)


async def until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def delivered_to(b, a, timeout: float) -> float:
    """Seconds from A's publish until B's long-poll has the event."""
    waiting = asyncio.ensure_future(b.events.poll(None, None, timeout, 10))
    assert await until(lambda: b.events.counts["longpoll"] == 1)
    started = time.monotonic()
    rec = record()
    await a.events.record("file.created", rec)
    got, _ = await waiting
    assert [e.filehash for e in got] == [rec.filehash]
    return time.monotonic() - started


# A poll interval so long that only a push can deliver within the test's bound.
PUSH = ("mongo-wire", {"events_poll_interval": 30.0})


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("pair", [PUSH], indirect=True)
async def test_other_processes_events_are_pushed(pair):
    a, b = pair
    assert await until(lambda: a.events.push and b.events.push), "the change streams did not open"
    for _ in range(3):
        assert await delivered_to(b, a, timeout=20) < 3.0


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("pair", [PUSH], indirect=True)
async def test_resume_token_carries_over_a_reader_restart(pair):
    a, b = pair
    assert await until(lambda: b.events.push)
    await delivered_to(b, a, timeout=20)  # the stream has seen a change: its token names it
    await b.events.stop()
    token = b.events.resume_token
    assert token is not None
    for _ in range(3):  # while B's reader is down
        await a.events.record("file.created", record())
    watch = b.store.event_log.watch(token)
    try:
        assert await watch.open()
        seen = 0
        deadline = time.monotonic() + 10
        while seen < 3 and time.monotonic() < deadline:
            seen += await watch.wait(1.0)
        assert seen == 3, "the changes made while the reader was down are replayed from the token"
    finally:
        await watch.close()
    # And the restarted feed picks the token up again and is pushed to.
    await b.events.start()
    assert await until(lambda: b.events.push)
    assert await delivered_to(b, a, timeout=20) < 3.0


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("pair", [("mongo-wire", {"events_push": False, "events_poll_interval": 0.1}),
                                  ("mongo-mock", {"events_poll_interval": 0.1})],
                         ids=["push-off", "no-change-streams"], indirect=True)
async def test_polling_fallback_delivers_on_its_own(pair):
    a, b = pair
    await asyncio.sleep(0.3)  # time for a watcher to have opened, if one were going to
    assert not a.events.push and not b.events.push
    for _ in range(2):
        assert await delivered_to(b, a, timeout=20) < 3.0

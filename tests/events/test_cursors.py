"""Cursors the log cannot serve, on SQLite and MongoDB over real HTTP and WebSocket: ahead of the log
(400 + the current cursor / a ``reset`` frame) and behind the retained window (``gap``)."""

from __future__ import annotations

import asyncio
import json
import time

import msgpack
import pytest
import tornado.websocket

from tests.conftest import body_of
from tests.events.test_feed import read, unique, uploaded
from tests.stores import make_store
from tornado_paste.services import build_services


@pytest.fixture
def settings_overrides():
    # No recent buffer: every replay reads the log, as a process that did not see the events would.
    return {"events_poll_interval": 0.05, "events_buffer": 0}


@pytest.fixture(params=["sqlite", "mongo-mock"])
def services(request, io_loop, settings, tmp_path):
    store = None if request.param == "sqlite" else make_store("mongo-mock", tmp_path)
    svc = build_services(settings, store=store)
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


async def _events(services, upload, count):
    cards = [await uploaded(upload, unique(f"cursor {n}")) for n in range(count)]
    deadline = time.monotonic() + 10
    while services.events.high < count:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    return cards


async def _connect(http_port, query):
    return await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{http_port}/ws{query}")


@pytest.mark.gen_test(timeout=60)
async def test_a_cursor_ahead_of_the_log_is_answered(fetch, upload, services, http_port):
    await _events(services, upload, 2)
    ahead = await fetch("/api/v1/events?cursor=999&timeout=5")
    assert ahead.code == 400
    answer = body_of(ahead)
    assert answer["error"]["code"] == "cursor_ahead" and answer["cursor"] == 2
    packed = await fetch("/api/v1/events?cursor=999&timeout=5", headers={"Accept": "application/msgpack"})
    assert packed.code == 400 and msgpack.unpackb(packed.body)["cursor"] == 2
    assert (await fetch("/api/v1/events?cursor=2&timeout=0")).code == 200  # the current cursor is fine

    conn = await _connect(http_port, "?cursor=999")
    try:
        assert await read(conn) == {"type": "reset", "cursor": 2}
        # ...and then live events from there on, as if it had connected now.
        card = await uploaded(upload, unique("after reset"))
        event = await read(conn)
        assert event["type"] == "file.created" and event["cursor"] == 3
        assert event["file"]["filehash"] == card["filehash"]
    finally:
        conn.close()
    binary = await _connect(http_port, "?cursor=999&format=msgpack")
    try:
        assert await read(binary) == {"type": "reset", "cursor": 3}
    finally:
        binary.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_cursor_behind_the_retained_window_is_told_it_missed_events(fetch, upload, services, http_port):
    await _events(services, upload, 5)
    assert await services.store.event_log.trim(0, 2) == 3  # only cursors 4 and 5 are left
    polled = body_of(await fetch("/api/v1/events?cursor=1&timeout=0"))
    assert polled["gap"] is True
    assert [e["cursor"] for e in polled["events"]] == [4, 5] and polled["cursor"] == 5
    # Right before the oldest kept event nothing was missed.
    assert "gap" not in body_of(await fetch("/api/v1/events?cursor=3&timeout=0"))
    assert "gap" not in body_of(await fetch("/api/v1/events?cursor=5&timeout=0"))

    conn = await _connect(http_port, "?cursor=1")
    try:
        assert await read(conn) == {"type": "gap", "cursor": 1, "oldest": 4, "current": 5}
        assert [(await read(conn))["cursor"] for _ in range(2)] == [4, 5]
    finally:
        conn.close()
    clean = await _connect(http_port, "?cursor=3")
    try:
        assert (await read(clean))["cursor"] == 4  # no gap frame: straight to the events
    finally:
        clean.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_trimmed_empty_log_is_a_gap_too(fetch, upload, services):
    await _events(services, upload, 2)
    await services.store.event_log.trim(time.time() + 60, 0)
    polled = body_of(await fetch("/api/v1/events?cursor=0&timeout=0"))
    assert polled["gap"] is True and polled["events"] == [] and polled["cursor"] == 2
    assert json.loads((await fetch("/api/v1/events?cursor=2&timeout=0")).body).get("gap") is None

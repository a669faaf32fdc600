"""Fan-out on the real app: one frame per event for every socket, one write per socket per dispatch,
waiting long-polls answered with one shared body, and what real clients receive stays the same."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import connect as ws_connect

from handlers import ws_frames
from tests.events.test_feed import WAIT, eventually, unique, uploaded
from tornado_paste.core.records import FileRecord, LogEntry, utcnow
from tornado_paste.events import subscribers
from tornado_paste.events.subscribers import Event, poll_answer


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"events_poll_interval": 0.1}


def counting(monkeypatch, module: Any, name: str) -> list[Any]:
    """Replace ``module.name`` by a wrapper that records each call's first argument."""
    calls: list[Any] = []
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


async def recv(client) -> dict[str, Any]:
    message = await asyncio.wait_for(client.recv(), WAIT)
    return msgpack.unpackb(message, raw=False) if isinstance(message, bytes) else json.loads(message)


@pytest.mark.gen_test(timeout=90)
async def test_one_frame_is_built_per_event_for_all_sockets(monkeypatch, upload, services, http_port):
    built = counting(monkeypatch, ws_frames, "server_frame")
    url = f"ws://127.0.0.1:{http_port}/ws"
    # Half the clients offer permessage-deflate (the websockets default, as browsers do): the feed
    # declines it, so every socket takes the same uncompressed frame.
    clients = [await ws_connect(url, compression="deflate" if i % 2 else None) for i in range(12)]
    try:
        await eventually(lambda: services.events.counts["ws"] == len(clients))
        assert all(c.protocol.extensions == [] for c in clients)
        card = await uploaded(upload, unique("fan-out"))
        received = [await recv(c) for c in clients]
        assert {e["file"]["filehash"] for e in received} == {card["filehash"]}
        assert len(built) == 1  # once for twelve sockets
    finally:
        for client in clients:
            await client.close()


async def stored(services) -> FileRecord:
    record = FileRecord(filehash=uuid.uuid4().hex[:16] + ".txt", sha256=uuid.uuid4().hex * 2, filename="a.txt",
                        mimetype="text/plain", size=1, uploaded_at=utcnow(), delete_token_hash="x")
    return await services.store.insert_file(record)


@pytest.mark.gen_test(timeout=90)
async def test_a_burst_goes_out_in_one_write_per_socket_in_order(monkeypatch, services, base, http_port):
    feed = services.events
    feed._task.cancel()  # drive the reader by hand: the burst must arrive as one page
    writes = counting(monkeypatch, ws_frames.FrameWriter, "write")
    url = f"ws://127.0.0.1:{http_port}/ws"
    clients = [await ws_connect(url, compression=None) for _ in range(3)]
    clients.append(await ws_connect(url + "?format=msgpack", compression=None))
    try:
        await eventually(lambda: feed.counts["ws"] == len(clients))
        record = await stored(services)
        cursors = [await feed.record("file.created", record) for _ in range(5)]
        await feed._poll()
        assert len(writes) == len(clients)  # five events, one write per socket
        for client in clients:
            assert [(await recv(client))["cursor"] for _ in cursors] == cursors
        # A reconnect with a cursor from the middle of the burst gets the rest, in order, then live.
        late = await ws_connect(f"{url}?cursor={cursors[1]}", compression=None)
        try:
            assert [(await recv(late))["cursor"] for _ in cursors[2:]] == cursors[2:]
        finally:
            await late.close()
    finally:
        for client in clients:
            await client.close()


@pytest.mark.gen_test(timeout=90)
async def test_waiting_long_polls_share_one_prebuilt_answer(monkeypatch, upload, fetch, services):
    bodies = counting(monkeypatch, subscribers, "poll_answer")
    polls = [asyncio.ensure_future(fetch("/api/v1/events?timeout=50", request_timeout=WAIT)) for _ in range(8)]
    await eventually(lambda: services.events.counts["longpoll"] == len(polls))
    card = await uploaded(upload, unique("shared answer"))
    answers = await asyncio.gather(*polls)
    assert all(a.code == 200 for a in answers)
    assert len({a.body for a in answers}) == 1  # the same bytes for everyone...
    assert len(bodies) == 1  # ...built once
    answer = json.loads(answers[0].body)
    assert [e["file"]["filehash"] for e in answer["events"]] == [card["filehash"]]
    assert answer["cursor"] == answer["events"][-1]["cursor"]


def _event(cursor: int, name: str) -> Event:
    body = {"type": "file.created", "ts": "2026-01-01T00:00:00.000Z", "file": {"filename": name}}
    return Event(LogEntry(cursor, "file.created", 0.0, f"{cursor}.txt", None, False, msgpack.packb(body)))


@pytest.mark.parametrize("gap", [False, True])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_assembled_answers_are_the_bytes_json_and_msgpack_give(gap, count):
    events = [_event(i + 1, f"ünïcode {i}.txt") for i in range(count)]
    answer: dict[str, Any] = {"events": [e.body for e in events], "cursor": 7}
    if gap:
        answer["gap"] = True
    as_json = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    assert poll_answer(events, 7, "json", gap=gap) == as_json
    assert poll_answer(events, 7, "msgpack", gap=gap) == msgpack.packb(answer, use_bin_type=True)

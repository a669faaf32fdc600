"""The real-time feeds end to end on a real port: /ws (WebSocket) and /api/v1/events (long-poll)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any

import msgpack
import pytest
import tornado.websocket
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import body_of
from tornado_paste.core.records import FileRecord, utcnow

WAIT = 15.0  # generous upper bound for anything that should happen "soon" on a loaded machine


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"events_poll_interval": 0.1}


@pytest.fixture
def ws(base, http_port):
    opened: list[tornado.websocket.WebSocketClientConnection] = []

    async def _connect(query: str = "") -> tornado.websocket.WebSocketClientConnection:
        conn = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{http_port}/ws{query}")
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


async def read(conn, timeout: float = WAIT) -> Any:
    message = await asyncio.wait_for(conn.read_message(), timeout)
    assert message is not None, f"socket closed: {conn.close_code} {conn.close_reason}"
    return msgpack.unpackb(message, raw=False) if isinstance(message, bytes) else json.loads(message)


async def eventually(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def uploaded(upload, data: bytes, name: str = "f.txt", private: bool = False) -> dict[str, Any]:
    response = await upload(data, name, fields={"private": "1"} if private else None)
    assert response.code == 201, response.body
    return body_of(response)


async def derive(services, parent_card: dict[str, Any]) -> FileRecord:
    """A stand-in for a resize result: a derivative record, published as the images feature will."""
    parent = await services.store.get_by_filehash(parent_card["filehash"])
    record = FileRecord(filehash=uuid.uuid4().hex[:16] + ".png", sha256=uuid.uuid4().hex * 2, filename="small.png",
                        mimetype="image/png", size=10, uploaded_at=utcnow(), delete_token_hash="x",
                        private=parent.private, parent_id=parent.id, variant={"w": 10, "h": 10})
    record = await services.store.insert_file(record)
    await services.ingestor.publish("file.derived", record)
    return record


def unique(tag: str) -> bytes:
    return f"{tag} {uuid.uuid4().hex}\n".encode()


# -- WebSocket ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_live_delivery(ws, upload, services):
    conn = await ws()
    await eventually(lambda: services.events.counts["ws"] == 1)
    assert services.inflight == 0  # an open feed never holds up a graceful shutdown
    card = await uploaded(upload, unique("live"))
    event = await read(conn)
    assert set(event) == {"type", "cursor", "ts", "file"}
    assert event["type"] == "file.created"
    assert event["file"]["filehash"] == card["filehash"]
    assert event["file"]["url_p"] == card["url_p"]
    assert "delete_token" not in event["file"]
    assert event["ts"].endswith("Z") and isinstance(event["cursor"], int)


@pytest.mark.gen_test(timeout=60)
async def test_replay_from_cursor_then_live(ws, upload, fetch):
    cards = [await uploaded(upload, unique(f"replay {i}")) for i in range(3)]
    first = body_of(await fetch("/api/v1/events?cursor=0&timeout=0"))["events"][0]
    assert first["file"]["filehash"] == cards[0]["filehash"]

    conn = await ws(f"?cursor={first['cursor']}")
    replayed = [await read(conn), await read(conn)]
    assert [e["file"]["filehash"] for e in replayed] == [c["filehash"] for c in cards[1:]]
    assert replayed[0]["cursor"] < replayed[1]["cursor"]
    live = await uploaded(upload, unique("after replay"))
    event = await read(conn)
    assert event["file"]["filehash"] == live["filehash"] and event["cursor"] > replayed[1]["cursor"]


@pytest.mark.gen_test(timeout=60)
async def test_private_files_stay_out_of_the_public_feed(ws, upload, fetch, services):
    conn = await ws("?cursor=0")
    secret = await uploaded(upload, unique("private"), private=True)
    public = await uploaded(upload, unique("public"))
    assert (await read(conn))["file"]["filehash"] == public["filehash"]  # the private one was skipped

    polled = body_of(await fetch("/api/v1/events?cursor=0&timeout=0"))
    assert [e["file"]["filehash"] for e in polled["events"]] == [public["filehash"]]
    assert polled["cursor"] >= polled["events"][0]["cursor"]

    # Whoever holds the private file's hash follows it, derivatives included; the public feed does not.
    follower = await ws(f"?file={secret['filehash']}&cursor=0")
    assert (await read(follower))["file"]["filehash"] == secret["filehash"]
    child = await derive(services, secret)
    event = await read(follower)
    assert event["type"] == "file.derived" and event["file"]["filehash"] == child.filehash
    marker = await uploaded(upload, unique("marker"))
    assert (await read(conn))["file"]["filehash"] == marker["filehash"]


@pytest.mark.gen_test(timeout=60)
async def test_per_file_filter(ws, upload, services):
    mine = await uploaded(upload, unique("mine"))
    conn = await ws(f"?file={mine['filehash']}")
    await eventually(lambda: services.events.counts["ws"] == 1)
    await uploaded(upload, unique("someone else's"))
    child = await derive(services, mine)
    event = await read(conn)
    assert event["type"] == "file.derived"
    assert event["file"]["filehash"] == child.filehash
    # The card says it is a copy, never whose (the per-file feed already tells its follower).
    assert event["file"]["variant"] == {"w": 10, "h": 10} and "parent_id" not in event["file"]


@pytest.mark.gen_test(timeout=60)
async def test_msgpack_frames_match_json_frames(ws, upload):
    for i in range(2):
        await uploaded(upload, unique(f"fmt {i}"))
    as_json = await ws("?cursor=0")
    as_msgpack = await ws("?cursor=0&format=msgpack")
    raw = await asyncio.wait_for(as_msgpack.read_message(), WAIT)
    assert isinstance(raw, bytes)  # a binary frame
    first_json = await read(as_json)
    assert msgpack.unpackb(raw, raw=False) == first_json
    assert await read(as_json) == await read(as_msgpack)


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("query, code", [
    ("?cursor=abc", "bad_cursor"), ("?cursor=-1", "bad_cursor"), ("?format=xml", "bad_format"),
    ("?file=0000000000000000.txt", "unknown_file"), ("?file=../etc", "unknown_file"),
])
async def test_bad_input_is_refused_before_the_upgrade(fetch, query, code):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    response = await fetch("/ws" + query, headers=headers)
    assert response.code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body)["error"]["code"] == code
    if "format" not in query:
        polled = await fetch("/api/v1/events" + query)
        assert polled.code == 400 and json.loads(polled.body)["error"]["code"] == code


@pytest.mark.gen_test(timeout=60)
async def test_plain_get_on_ws_asks_for_an_upgrade(fetch):
    response = await fetch("/ws")
    assert response.code == 426
    assert json.loads(response.body)["error"]["code"] == "upgrade_required"


@pytest.fixture
def tight_queue(settings_overrides):
    settings_overrides.update(events_ws_send_queue=4, events_ws_send_buffer_size=4096)


@pytest.mark.gen_test(timeout=90)
async def test_slow_consumer_is_cut_off(tight_queue, upload, services, base, http_port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", http_port))
    async with ws_connect(f"ws://127.0.0.1:{http_port}/ws", sock=sock, max_queue=1) as client:
        await eventually(lambda: services.events.counts["ws"] == 1)
        card = await uploaded(upload, unique("flood"))
        record = await services.store.get_by_filehash(card["filehash"])
        # The client reads nothing; the server must give up on it after a bounded backlog.
        for _ in range(2000):
            if services.events.counts["ws"] == 0:
                break
            await services.events.record("file.created", record)
            await asyncio.sleep(0)
        await eventually(lambda: services.events.counts["ws"] == 0)
        received = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(client.recv(), WAIT)
                received += 1
        assert received > 0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


@pytest.fixture
def fast_pings(settings_overrides):
    settings_overrides.update(events_ws_ping_interval=0.2, events_ws_ping_timeout=0.2)


@pytest.mark.gen_test(timeout=60)
async def test_dead_peer_is_reaped(fast_pings, services, base, http_port):
    # A bare socket completes the handshake and then never answers a ping.
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    status = await asyncio.wait_for(reader.readline(), WAIT)
    assert b" 101 " in status
    await eventually(lambda: services.events.counts["ws"] == 1)
    await eventually(lambda: services.events.counts["ws"] == 0)
    writer.close()


@pytest.mark.gen_test(timeout=60)
async def test_shutdown_closes_sockets_going_away(ws, services):
    conn = await ws()
    await eventually(lambda: services.events.counts["ws"] == 1)
    await services.events.stop()
    assert await asyncio.wait_for(conn.read_message(), WAIT) is None
    assert conn.close_code == 1001


# -- long-poll ------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_longpoll_answers_at_once_when_events_exist(upload, fetch):
    card = await uploaded(upload, unique("ready"))
    response = await fetch("/api/v1/events?cursor=0&timeout=50", request_timeout=WAIT)
    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = body_of(response)
    assert [e["file"]["filehash"] for e in answer["events"]] == [card["filehash"]]
    assert answer["cursor"] == answer["events"][-1]["cursor"]


@pytest.mark.gen_test(timeout=60)
async def test_longpoll_times_out_empty(fetch):
    response = await fetch("/api/v1/events?timeout=0.2&cursor=0", headers={"Accept": "application/msgpack"})
    assert response.code == 200 and response.headers["Content-Type"] == "application/msgpack"
    assert body_of(response) == {"events": [], "cursor": 0}


@pytest.mark.gen_test(timeout=60)
async def test_longpoll_returns_early_on_a_new_event(upload, fetch, services):
    waiting = asyncio.ensure_future(fetch("/api/v1/events?cursor=0&timeout=50", request_timeout=WAIT))
    await eventually(lambda: services.events.counts["longpoll"] == 1)
    card = await uploaded(upload, unique("wake"))
    answer = body_of(await waiting)
    assert [e["file"]["filehash"] for e in answer["events"]] == [card["filehash"]]
    # Continuing from the returned cursor waits for what comes next, not what was seen.
    again = body_of(await fetch(f"/api/v1/events?cursor={answer['cursor']}&timeout=0.1"))
    assert again == {"events": [], "cursor": answer["cursor"]}


@pytest.mark.gen_test(timeout=60)
async def test_longpoll_disconnect_cancels_the_wait(services, base, http_port):
    _reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(b"GET /api/v1/events?timeout=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    await eventually(lambda: services.events.counts["longpoll"] == 1)
    assert services.inflight == 0
    writer.close()
    await eventually(lambda: services.events.counts["longpoll"] == 0, timeout=20)


@pytest.mark.gen_test(timeout=60)
async def test_longpoll_refuses_bad_timeout(fetch):
    for query in ("timeout=abc", "timeout=-1", "timeout=nan", "timeout=inf"):
        response = await fetch(f"/api/v1/events?{query}")
        assert response.code == 400, query
        assert json.loads(response.body)["error"]["code"] == "bad_timeout"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("binary", [False, True])
def test_prebuilt_frames_match_the_rfc_framing(size, binary):
    from websockets.frames import Frame, Opcode

    from handlers.ws_frames import server_frame

    payload = b"x" * size
    expected = Frame(Opcode.BINARY if binary else Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert server_frame(payload, binary) == expected

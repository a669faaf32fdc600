"""handlers/ws_frames.py, the adapter over Tornado's WebSocket internals, on a bare app of its own:
shared frames reach real clients intact and in order, a slow reader's backlog is bounded, a socket
that negotiated permessage-deflate still gets correct messages, and the Tornado attributes it relies
on are still there."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import msgpack
import pytest
import tornado.iostream
import tornado.web
import tornado.websocket
from websockets.asyncio.client import connect as ws_connect

from handlers.ws_frames import CLOSED, FULL, WRITTEN, FrameWriter, event_frames, server_frame
from tornado_paste.core.records import LogEntry
from tornado_paste.events.subscribers import Event

WAIT = 15.0
LIMIT = 4


def event(cursor: int, blob: str = "") -> Event:
    body = {"type": "file.created", "ts": "2026-01-01T00:00:00.000Z", "file": {"filehash": f"{cursor}.txt",
                                                                              "blob": blob}}
    return Event(LogEntry(cursor, "file.created", 0.0, f"{cursor}.txt", None, False,
                          msgpack.packb(body, use_bin_type=True)))


class Plain(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        binary = self.get_query_argument("format", "json") == "msgpack"
        self.writer = FrameWriter(self.ws_connection, binary, LIMIT)
        self.application.settings["opened"].append(self)

    def on_close(self) -> None:
        self.application.settings["closed"].append(self)


class Deflate(Plain):
    def get_compression_options(self) -> dict[str, object]:
        return {}  # permessage-deflate when the client offers it


@pytest.fixture
def app():
    return tornado.web.Application([(r"/plain", Plain), (r"/deflate", Deflate)], opened=[], closed=[])


async def eventually(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def recv_json(client) -> dict:
    message = await asyncio.wait_for(client.recv(), WAIT)
    return msgpack.unpackb(message, raw=False) if isinstance(message, bytes) else json.loads(message)


@pytest.mark.gen_test(timeout=60)
async def test_shared_frames_reach_real_clients_in_order(app, server, http_port):
    events = [event(i) for i in range(1, 6)]
    async with ws_connect(f"ws://127.0.0.1:{http_port}/plain", compression=None) as a, \
            ws_connect(f"ws://127.0.0.1:{http_port}/plain?format=msgpack", compression=None) as b:
        await eventually(lambda: len(app.settings["opened"]) == 2)
        for handler in app.settings["opened"]:
            # What the adapter reads of Tornado: if an upgrade renames it, this fails here.
            conn = handler.ws_connection
            for name in ("stream", "client_terminated", "server_terminated", "_compressor"):
                assert hasattr(conn, name), name
            assert type(conn.stream) is tornado.iostream.IOStream and not conn.stream.writing()
        shared: dict[str, bytes] = {}
        for handler in app.settings["opened"]:
            assert handler.writer.write(events[:1]) == WRITTEN  # one event: its own frame
            assert handler.writer.write(events[1:], shared) == WRITTEN  # four frames in one write
        assert set(shared) == {"ws.json", "ws.msgpack"}  # built once per format, for every socket
        for client in (a, b):
            assert [(await recv_json(client))["cursor"] for _ in events] == [1, 2, 3, 4, 5]


def test_event_frames_are_built_once_and_reused():
    one, two = event(1), event(2)
    first = event_frames([one, two], binary=False)
    assert one.encoded["ws.json"] == server_frame(one.json_frame().encode(), False)
    assert first == one.encoded["ws.json"] + two.encoded["ws.json"]
    assert event_frames([one], binary=False) is one.encoded["ws.json"]  # the same bytes object, no copy
    shared: dict[str, bytes] = {}
    assert event_frames([one, two], False, shared) is event_frames([one, two], False, shared)


@pytest.mark.gen_test(timeout=90)
async def test_a_slow_reader_holds_at_most_limit_writes(app, server, http_port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no autotuning
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", http_port))
    async with ws_connect(f"ws://127.0.0.1:{http_port}/plain", sock=sock, max_queue=1, compression=None):
        await eventually(lambda: len(app.settings["opened"]) == 1)
        handler = app.settings["opened"][0]
        handler.ws_connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = event(1, "x" * 16384)
        frame = len(event_frames([big], binary=False))
        statuses = [handler.writer.write([big]) for _ in range(200)]  # the client reads nothing
        assert FULL in statuses  # the kernel buffers filled, then LIMIT writes queued, then no more
        assert handler.writer.queued == LIMIT
        stream = handler.ws_connection.stream
        # What waits in user space is bounded by the limit, however many writes were attempted.
        assert len(stream._write_buffer) <= (LIMIT + 1) * frame


@pytest.mark.gen_test(timeout=60)
async def test_closing_connection_gets_no_more_frames(app, server, http_port):
    async with ws_connect(f"ws://127.0.0.1:{http_port}/plain", compression=None):
        await eventually(lambda: len(app.settings["opened"]) == 1)
        handler = app.settings["opened"][0]
        handler.close(1001)
        assert handler.writer.write([event(1)]) == CLOSED  # nothing may follow a close frame


@pytest.mark.gen_test(timeout=60)
async def test_a_deflate_socket_gets_its_own_compressed_messages(app, server, http_port):
    events = [event(i, "compressible " * 50) for i in range(1, 4)]
    async with ws_connect(f"ws://127.0.0.1:{http_port}/deflate", compression="deflate") as squeezed, \
            ws_connect(f"ws://127.0.0.1:{http_port}/deflate", compression=None) as plain:
        await eventually(lambda: len(app.settings["opened"]) == 2)
        assert [e.name for e in squeezed.protocol.extensions] == ["permessage-deflate"]
        shared: dict[str, bytes] = {}
        writers = sorted((h.writer for h in app.settings["opened"]), key=lambda w: w.compressed)
        assert [w.compressed for w in writers] == [False, True]
        for writer in writers:
            assert writer.write(events, shared) == WRITTEN
        for client in (squeezed, plain):
            received = [await recv_json(client) for _ in events]
            assert received == [e.body for e in events]
        # The deflate socket's messages really went through its own compressor (RSV1, smaller).
        payload = sum(len(e.json_frame()) for e in events)
        assert 0 < writers[1]._conn._wire_bytes_out < payload / 2

"""Pre-built WebSocket frames written straight to many sockets: the one adapter over Tornado's
WebSocket internals (``handlers/events.py`` is its only user).

Why: the feed sends the same event to thousands of sockets. ``write_message`` frames the payload
again for every socket, and every ``IOStream.write`` costs a Future, two callbacks run on the next
loop turn and (through ``write_message``) a task: about three times the ``send()`` itself. A server
never masks its frames (RFC 6455 section 5.1), so without compression a frame is the same bytes for
every socket: build it once per event and format (``event_frames``), and give it to each socket's
kernel buffer with one ``send()`` when nothing is queued ahead of it (``FrameWriter.write``).

What this relies on in Tornado 6 (``tests/handlers/test_ws_frames.py`` fails if it changes):

- ``WebSocketProtocol.stream``, ``.client_terminated``, ``.server_terminated``: the connection's
  IOStream and closing flags (attributes, not documented API; ``is_closing()`` reads the same);
- ``IOStream.writing()``, ``IOStream.socket``, ``IOStream.write``, ``IOStream.closed()`` (public);
- ``WebSocketProtocol13._compressor``: set when permessage-deflate was negotiated. Such a socket
  keeps its own compression context, so it gets its own ``write_message`` per event instead.

Order: a direct ``send()`` happens only while the stream has nothing queued, so it never overtakes
Tornado's own frames (pings, close); whatever the kernel does not take at once is queued on the
stream, behind them, and counted: past ``limit`` queued writes the socket is a slow consumer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import tornado.iostream
import tornado.websocket

from tornado_paste.events.subscribers import Event

# What FrameWriter.write did.
WRITTEN, CLOSED, FULL = 0, 1, 2


def server_frame(payload: bytes, binary: bool) -> bytes:
    """One final, unmasked server frame (RFC 6455 section 5.2) holding ``payload``."""
    first = 0x80 | (0x2 if binary else 0x1)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def payload_of(event: Event, binary: bool) -> bytes:
    return event.msgpack_frame() if binary else event.json_frame().encode("utf-8")


def event_frames(events: Sequence[Event], binary: bool, shared: dict[str, bytes] | None = None) -> bytes:
    """The frames of ``events``, one per event, back to back: one write carries them all.

    Each event's frame is kept on the event (every socket and every replay reuses it); ``shared``
    (a ``Batch``'s cache) keeps the joined bytes of a group for all its sockets.
    """
    key = "ws.msgpack" if binary else "ws.json"
    if len(events) == 1:
        shared = None  # the event's own frame is the answer: no copy to keep
    elif shared is not None and key in shared:
        return shared[key]
    frames = []
    for event in events:
        frame = event.encoded.get(key)
        if frame is None:
            frame = event.encoded[key] = server_frame(payload_of(event, binary), binary)
        frames.append(frame)
    wire = frames[0] if len(frames) == 1 else b"".join(frames)
    if shared is not None:
        shared[key] = wire
    return wire


class FrameWriter:
    """One socket's side of the fan-out: writes shared frame bytes, bounds what waits in user space."""

    __slots__ = ("_compressed", "_conn", "_direct", "_sock", "_stream", "binary", "last_write", "limit", "queued")

    def __init__(self, conn: tornado.websocket.WebSocketProtocol, binary: bool, limit: int) -> None:
        self._conn = conn
        self._stream: tornado.iostream.IOStream = conn.stream  # type: ignore[attr-defined]
        self._sock = self._stream.socket
        # TLS streams keep their own record state and compressed sockets their own context:
        # those take Tornado's path (IOStream.write / write_message), which is always correct.
        self._direct = type(self._stream) is tornado.iostream.IOStream
        # Negotiated in the handshake, before the socket opens: fixed for the connection's life.
        self._compressed = getattr(conn, "_compressor", None) is not None
        self.binary = binary
        self.limit = limit
        self.queued = 0  # writes handed to the stream and not yet on the wire
        self.last_write: Any = None  # the Future of the newest queued write (None: nothing queued)

    @property
    def compressed(self) -> bool:
        return self._compressed

    def closing(self) -> bool:
        return self._conn.is_closing()

    def write(self, events: Sequence[Event], shared: dict[str, bytes] | None = None) -> int:
        """Send ``events`` (in order) now, or queue them on the stream.

        Returns ``WRITTEN``; ``CLOSED`` when the connection is closing (nothing was written: no
        frame may follow a close); ``FULL`` when ``limit`` writes already wait (a slow reader: the
        caller cuts it off instead of buffering more). Called once per socket per dispatch, so
        it stays flat: one closing check, one ``send()`` in the usual case.
        """
        conn, stream = self._conn, self._stream
        if stream.closed() or conn.client_terminated or conn.server_terminated:  # is_closing(), inlined
            return CLOSED
        if self._compressed:
            return self._write_messages(events)
        wire = event_frames(events, self.binary, shared)
        if self._direct and not stream.writing():
            try:
                sent = self._sock.send(wire)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # a dead peer: IOStream.write below meets the error and closes the stream its way
            if sent == len(wire):
                return WRITTEN
            if sent:
                # Part of a frame is on the wire: the rest must follow whatever the backlog.
                self._enqueue(memoryview(wire)[sent:])
                return WRITTEN
        if self.queued >= self.limit:
            return FULL
        self._enqueue(wire)
        return WRITTEN

    def _enqueue(self, wire: bytes | memoryview) -> None:
        try:
            future = self._stream.write(wire)
        except tornado.iostream.StreamClosedError:
            return  # the close callback takes the subscriber away
        self._queued(future)

    def _write_messages(self, events: Sequence[Event]) -> int:
        if self.queued >= self.limit:
            return FULL
        for event in events:
            try:
                future = self._conn.write_message(payload_of(event, self.binary), binary=self.binary)
            except tornado.websocket.WebSocketClosedError:
                return CLOSED
            self._queued(future)
        return WRITTEN

    def _queued(self, future: Any) -> None:
        self.queued += 1
        self.last_write = future
        future.add_done_callback(self._written)

    def _written(self, future: Any) -> None:
        self.queued -= 1
        if future is self.last_write:
            self.last_write = None
        if not future.cancelled():
            future.exception()  # a closed socket is expected here; mark the error as seen

"""The real-time feeds: ``GET /ws`` (WebSocket) and ``GET /api/v1/events`` (long-poll).

Both are thin adapters between a client and ``tornado_paste.events.feed.EventFeed``:
they parse and check the query (400 JSON before any upgrade), then subscribe.
Neither counts as an in-flight request: a feed stays open for hours and must
not hold up a graceful shutdown.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.parse
from collections.abc import Sequence
from typing import Any

import msgpack
import tornado.iostream
import tornado.websocket

from handlers.base import APIError, BaseHandler
from handlers.cors import allowed_origin
from handlers.errors import status_of
from handlers.files import FILEHASH_PATTERN
from handlers.guard import unlocked
from handlers.negotiation import MSGPACK
from handlers.ws_frames import FULL, WRITTEN, FrameWriter
from tornado_paste import errors
from tornado_paste.core.ingest import token_matches
from tornado_paste.events.cursors import check_cursor
from tornado_paste.events.feed import COLLECTION_KEY, EventFeed
from tornado_paste.events.subscribers import Batch, Event, Waiter, poll_answer
from tornado_paste.limits.feedgate import FeedRefused, FeedSlot

_FILEHASH_RE = re.compile(rf"^{FILEHASH_PATTERN}$")
# Events in one long-poll answer; the client asks again at once with the new cursor for more.
LONGPOLL_LIMIT = 100
# RFC 6455 close codes: 1013 "try again later" tells a slow client to reconnect with its cursor.
CLOSE_SLOW_CONSUMER = 1013
CLOSE_GOING_AWAY = 1001


def _parse_cursor(handler: BaseHandler) -> int | None:
    raw = handler.get_query_argument("cursor", None)
    if raw is None or raw == "":
        return None
    # ASCII only: '²'.isdigit() is True and int('²') raises (a 500 before).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise APIError(400, "bad_cursor", "'cursor' must be a non-negative integer from an earlier event")
    return int(raw)


async def _parse_file(handler: BaseHandler) -> str | None:
    filehash = handler.get_query_argument("file", None)
    if filehash is None:
        return None
    if not _FILEHASH_RE.match(filehash) or await handler.services.store.get_by_filehash(filehash) is None:
        raise APIError(400, "unknown_file", "'file' must be the filehash of a stored file")
    return filehash


async def _parse_scope(handler: BaseHandler) -> str | None:
    """``?file=<filehash>`` or ``?collection=<code>`` (its ``collection.updated`` events), or None (public)."""
    code = handler.get_query_argument("collection", None)
    if code is None:
        return await _parse_file(handler)
    collections = handler.services.shares.collections
    try:
        coll = await collections.get(code)
    except (errors.NotFound, errors.Gone):
        raise APIError(400, "unknown_collection", "'collection' must be the code of a live collection") from None
    # A password-protected collection's feed: its grant (cookie or header), or its manage token (?token=,
    # redacted from every log: a WebSocket cannot send headers from a page).
    if not unlocked(handler, coll) and not token_matches(handler.get_query_argument("token", None),
                                                         coll.manage_token_hash):
        raise APIError(401, "password_required", "this collection is protected by a password; unlock it first")
    return COLLECTION_KEY + coll.code


def _take_feed_slot(handler: BaseHandler, kind: str) -> FeedSlot | None:
    """A slot of this client's open feeds and of the process's (tornado_paste/feedgate.py), or the
    JSON refusal (429 for this client, 503 for everyone), counted as ``<kind>.refused.<client|total>``."""
    limits = handler.services.limits
    gate = getattr(limits, "feeds", None)
    if gate is None:
        return None
    try:
        return gate.acquire(kind, handler.request.remote_ip or "unknown")
    except FeedRefused as exc:
        handler.services.metrics.incr(f"{kind}.refused.{exc.reason}")
        raise APIError(status_of(exc), exc.code, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None


class EventSocketHandler(BaseHandler, tornado.websocket.WebSocketHandler):
    """``/ws?cursor=N&file=<filehash>|collection=<code>&format=json|msgpack``: replay after N, then live."""

    route_name = "ws"
    kind = "ws"
    filehash: str | None = None
    feed_slot: FeedSlot | None = None

    @property
    def feed(self) -> EventFeed:
        return self.services.events

    def prepare(self) -> None:
        super().prepare()
        self._leave()  # not an in-flight request (see the module docstring)

    # Server pings; a peer silent for the timeout is closed (dead peers reaped).
    @property
    def ping_interval(self) -> float | None:
        return self.services.settings.events_ws_ping_interval or None

    @property
    def ping_timeout(self) -> float | None:
        return self.services.settings.events_ws_ping_timeout or None

    @property
    def max_message_size(self) -> int:
        return 4096  # clients have nothing to say; this is a one-way feed

    def check_origin(self, origin: str) -> bool:
        """Pages served under the configured public URL may connect (it may differ from Host)."""
        public = urllib.parse.urlsplit(self.services.links.base)
        parsed = urllib.parse.urlsplit(origin)
        if (parsed.scheme, parsed.netloc) == (public.scheme, public.netloc):
            return True
        if allowed_origin(self.services.settings, origin) is not None:
            return True  # an origin let in by cors_origins may open the feed too
        return super().check_origin(origin)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        fmt = self.get_query_argument("format", "json")
        if fmt not in ("json", "msgpack"):
            raise APIError(400, "bad_format", "'format' must be json or msgpack")
        self.binary = fmt == "msgpack"
        self.after = _parse_cursor(self)
        self.filehash = await _parse_scope(self)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise APIError(426, "upgrade_required", "this is a WebSocket endpoint; long-poll /api/v1/events instead",
                           headers={"Upgrade": "websocket"})
        # Before the upgrade: a refused client gets a JSON 429/503, not a socket.
        self.feed_slot = _take_feed_slot(self, "ws")
        await super().get(*args, **kwargs)

    def _release_feed_slot(self) -> None:
        slot, self.feed_slot = self.feed_slot, None
        if slot is not None:
            slot.release()

    def on_finish(self) -> None:
        # Called for the 101 as well (the socket lives on, its slot with it: on_close gives it back);
        # any other answer (403 origin, 400 handshake) means no socket, so the slot goes now.
        if self.get_status() != 101:
            self._release_feed_slot()
        super().on_finish()

    # -- lifecycle -------------------------------------------------------------
    async def open(self, *args: Any, **kwargs: Any) -> None:
        settings = self.services.settings
        self.live = False
        self.gone = False
        assert self.ws_connection is not None
        # Frames built once per event go straight to this socket; past events_ws_send_queue
        # writes waiting in user space it is a slow consumer (ws_frames.py).
        self.writer = FrameWriter(self.ws_connection, self.binary, settings.events_ws_send_queue)
        if settings.events_ws_send_buffer_size:
            sock = self.ws_connection.stream.socket  # type: ignore[attr-defined]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.events_ws_send_buffer_size)
        self.set_nodelay(True)
        feed = self.feed
        feed.subscribe(self)
        self.last_sent = feed.high if self.after is None else self.after
        if self.after is not None:
            check = await check_cursor(feed, self.after)
            if check.ahead:  # events that never come: from now on, and say so
                self.last_sent = check.current
                self._control(check.reset_frame())
            elif check.gap:  # trimmed events cannot be replayed: say so, then replay what is left
                self._control(check.gap_frame())
        await self._replay()

    def _control(self, frame: dict[str, Any]) -> None:
        """A frame of the feed itself (``reset``, ``gap``), in the connection's format."""
        payload = msgpack.packb(frame, use_bin_type=True) if self.binary else json.dumps(frame)
        try:
            self.write_message(payload, binary=self.binary)
        except tornado.websocket.WebSocketClosedError:
            self.on_close()

    async def _replay(self) -> None:
        """Send the backlog page by page (one write each), each page flushed before the next; then go live.

        Live events dispatched meanwhile are not lost: they are in the feed's
        recent buffer or the log, and the next page reads up to the new ``high``.
        """
        page = max(1, self.writer.limit // 2)
        feed = self.feed
        while not self.gone:
            upto = feed.high
            if self.last_sent >= upto:
                self.live = True  # same tick as the check: nothing can slip in between
                return
            events, considered = await feed.events_after(self.last_sent, upto, self.filehash, page)
            if events and not self._send(events):
                return
            self.last_sent = max(self.last_sent, considered)
            flushing = self.writer.last_write
            if flushing is not None:
                try:
                    await flushing
                except tornado.iostream.StreamClosedError:
                    return

    def on_message(self, message: str | bytes) -> None:
        pass  # one-way feed

    def on_close(self) -> None:
        self.gone = True
        self._release_feed_slot()
        self.feed.unsubscribe(self)

    # -- the Subscriber side (called by the feed) ---------------------------------
    def deliver(self, batch: Batch) -> int:
        if not self.live:
            return 0  # still replaying: the replay reads these from the buffer
        events = batch.events
        if events[0].cursor <= self.last_sent:  # it has some already (rare): only the rest, unshared
            events = batch.after(self.last_sent)
            return len(events) if events and self._send(events) else 0
        # The group's joined frames are built once and shared by every socket taking the whole batch.
        return len(events) if self._send(events, batch.encoded) else 0

    def shutdown(self) -> None:
        self.gone = True
        self.close(CLOSE_GOING_AWAY, "server shutting down")

    def _send(self, events: Sequence[Event], shared: dict[str, bytes] | None = None) -> bool:
        status = self.writer.write(events, shared)
        if status == WRITTEN:
            self.last_sent = events[-1].cursor
            return True
        if status == FULL:
            self._cut_off()
        else:
            self.on_close()
        return False

    def _cut_off(self) -> None:
        """The client reads slower than events arrive: drop it rather than buffer without end."""
        self.services.metrics.incr("ws.slow_consumer_closed")
        self.on_close()
        self.close(CLOSE_SLOW_CONSUMER, "slow consumer: send queue full; reconnect with your cursor")


class EventPollHandler(BaseHandler):
    """``/api/v1/events?cursor=N&timeout=S&file=<filehash>``: the long-poll feed."""

    route_name = "events_poll"
    waiter: Waiter | None = None

    def prepare(self) -> None:
        super().prepare()
        self._leave()  # not an in-flight request (see the module docstring)

    def _timeout(self) -> float:
        settings = self.services.settings
        raw = self.get_query_argument("timeout", None)
        if raw is None or raw == "":
            return min(settings.events_longpoll_timeout, settings.events_longpoll_max_timeout)
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf"):
            raise APIError(400, "bad_timeout", "'timeout' must be a number of seconds")
        return min(value, settings.events_longpoll_max_timeout)

    async def get(self) -> None:
        media = self.api_type()
        after = _parse_cursor(self)
        timeout = self._timeout()
        filehash = await _parse_scope(self)
        feed: EventFeed = self.services.events
        gap = False
        if after is not None:
            check = await check_cursor(feed, after)
            if check.ahead:
                self.send_data({"error": {"code": "cursor_ahead", "message": f"cursor {after} is ahead of this "
                                          f"server's event log; continue from the current cursor"},
                                "cursor": check.current}, 400, media_type=media)
                return
            gap = check.gap
        slot = _take_feed_slot(self, "longpoll")
        self.waiter = Waiter(filehash, after or 0)
        try:
            events, cursor = await feed.poll(after, filehash, timeout, LONGPOLL_LIMIT, self.waiter)
        finally:
            if slot is not None:
                slot.release()
        if self.waiter.abandoned:
            return  # the client went away; there is no one to answer
        self.set_header("Cache-Control", "no-store")
        # Waiters woken by the same dispatch share one pre-built body; otherwise it is assembled
        # from each event's cached encoding. "gap": events after the cursor were trimmed.
        fmt = "msgpack" if media == MSGPACK else "json"
        body = None if gap else self.waiter.shared_body(events, cursor, fmt)
        if body is None:
            body = poll_answer(events, cursor, fmt, gap=gap)
        self.set_header("Content-Type", MSGPACK if fmt == "msgpack" else "application/json; charset=utf-8")
        self.finish(body)

    def compute_etag(self) -> str | None:
        return None  # a no-store answer that differs every time: hashing it for an ETag is waste

    def on_connection_close(self) -> None:
        if self.waiter is not None:
            self.waiter.abandon()
        super().on_connection_close()

"""One event as subscribers see it (decoded once, encoded once per wire format), a ``Batch`` of them
(what one dispatch hands to a group of subscribers, its wire forms built once for all of them), the
Subscriber protocol the handlers implement, and the long-poll ``Waiter``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgpack

from tornado_paste.core.records import LogEntry


def iso_ms(ts: float) -> str:
    """ISO 8601 UTC with milliseconds: clients can measure delivery lag from it."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Event:
    """One logged event, decoded once per process and encoded once per wire format."""

    __slots__ = ("_json", "_msgpack", "body", "cursor", "encoded", "filehash", "parent_filehash", "private", "ts",
                 "type")

    def __init__(self, entry: LogEntry) -> None:
        self.cursor = entry.cursor
        self.type = entry.type
        self.ts = entry.ts
        self.filehash = entry.filehash
        self.parent_filehash = entry.parent_filehash
        self.private = entry.private
        body = entry.body()
        # The public shape: {"type", "cursor", "ts", "file"}; collection events add "collection" and
        # "action" (and carry "file" when a visible file was added or removed).
        self.body: dict[str, Any] = {"type": body["type"], "cursor": entry.cursor, "ts": body["ts"]}
        for key in ("collection", "action", "file"):
            if key in body:
                self.body[key] = body[key]
        self._json: str | None = None
        self._msgpack: bytes | None = None
        # Wire forms adapters build once per event and share between their subscribers.
        self.encoded: dict[str, bytes] = {}

    def visible_to(self, filehash: str | None) -> bool:
        """Public feed (None): public events only. Per-file feed: the file and its derivatives."""
        if filehash is None:
            return not self.private
        return filehash == self.filehash or filehash == self.parent_filehash

    def json_frame(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
        return self._json

    def msgpack_frame(self) -> bytes:
        if self._msgpack is None:
            self._msgpack = msgpack.packb(self.body, use_bin_type=True)
        return self._msgpack


def poll_answer(events: Sequence[Event], cursor: int, fmt: str, gap: bool = False) -> bytes:
    """The long-poll answer ``{"events": [...], "cursor": N[, "gap": true]}`` as JSON or msgpack bytes.

    Assembled from each event's own cached encoding, so an event is serialised once however many
    answers carry it; the bytes are those ``json.dumps``/``msgpack.packb`` give for the same dict.
    """
    if fmt == "msgpack":
        packer = msgpack.Packer(use_bin_type=True)
        parts = [packer.pack_map_header(3 if gap else 2), packer.pack("events"),
                 packer.pack_array_header(len(events)), *(e.msgpack_frame() for e in events),
                 packer.pack("cursor"), packer.pack(cursor)]
        if gap:
            parts += [packer.pack("gap"), packer.pack(True)]
        return b"".join(parts)
    tail = ',"gap":true}' if gap else "}"
    return ('{"events":[' + ",".join(e.json_frame() for e in events) + '],"cursor":' + str(cursor)
            + tail).encode("utf-8")


class Batch:
    """The events of one dispatch that one group of subscribers sees (the public feed, or one file's
    followers), in cursor order, with ``upto``: every cursor up to it was considered.

    The group shares it, so wire forms built from it (``encoded``: a WebSocket adapter's frames, the
    long-poll body) are built once per dispatch, not once per subscriber.
    """

    __slots__ = ("encoded", "events", "upto")

    def __init__(self, events: Sequence[Event], upto: int) -> None:
        self.events = events
        self.upto = upto
        self.encoded: dict[str, bytes] = {}

    def after(self, cursor: int) -> Sequence[Event]:
        """The events past ``cursor``: the batch's own sequence when all of them are (the usual case)."""
        if self.events[0].cursor > cursor:
            return self.events
        return [e for e in self.events if e.cursor > cursor]

    def poll_body(self, fmt: str) -> bytes:
        """The long-poll answer carrying exactly this batch, built once per format."""
        key = "poll." + fmt
        body = self.encoded.get(key)
        if body is None:
            body = self.encoded[key] = poll_answer(self.events, self.upto, fmt)
        return body


class Subscriber(Protocol):
    """Anything the hub hands events to (a WebSocket, a waiting long-poll)."""

    kind: str  # "ws" or "longpoll": which gauge it counts in
    filehash: str | None  # None: the public feed

    def deliver(self, batch: Batch) -> int:
        """Take a batch (events already visible to this subscriber, in order); return how many of
        them were sent or kept (0: none, e.g. it was still replaying or already had them).

        Must not block or await: the hub calls it for every subscriber in turn.
        """

    def shutdown(self) -> None:
        """The process is stopping: let go (close the socket, answer the request)."""


class Waiter:
    """A long-poll in progress: keeps the first events that arrive and wakes its request."""

    kind = "longpoll"

    def __init__(self, filehash: str | None, after: int) -> None:
        self.filehash = filehash
        self.after = after
        self.events: list[Event] = []
        # The batch when ``events`` is exactly one whole batch: its pre-built answer fits this waiter.
        self.whole: Batch | None = None
        self.abandoned = False
        self._ready = asyncio.get_running_loop().create_future()

    def deliver(self, batch: Batch) -> int:
        fresh = batch.after(max(self.after, self.events[-1].cursor if self.events else 0))
        if not fresh:
            return 0
        self.whole = batch if not self.events and fresh is batch.events else None
        self.events.extend(fresh)
        if not self._ready.done():
            self._ready.set_result(None)
        return len(fresh)

    def shared_body(self, events: Sequence[Event], cursor: int, fmt: str) -> bytes | None:
        """The batch's pre-built answer when (``events``, ``cursor``) is exactly that batch, else None."""
        whole = self.whole
        if (whole is None or cursor != whole.upto or len(events) != len(whole.events)
                or (events and events[0] is not whole.events[0])):
            return None  # a backlog read from the log, a cut at the limit, or a later cursor
        return whole.poll_body(fmt)

    def shutdown(self) -> None:
        if not self._ready.done():
            self._ready.set_result(None)

    def abandon(self) -> None:
        """The client went away: stop waiting now rather than at the timeout."""
        self.abandoned = True
        self.shutdown()

    async def wait(self, timeout: float) -> None:
        # One timer on the future itself: wait_for(shield(...)) costs two more futures and a task
        # per waiting request, and a thousand of them wake at once on every event.
        timer = asyncio.get_running_loop().call_later(timeout, self.shutdown)
        try:
            await self._ready
        finally:
            timer.cancel()

"""One event as subscribers see it (decoded once, encoded once per wire format), the Subscriber
protocol the handlers implement, and the long-poll ``Waiter``."""

from __future__ import annotations

import asyncio
import json
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


class Subscriber(Protocol):
    """Anything the hub hands events to (a WebSocket, a waiting long-poll)."""

    kind: str  # "ws" or "longpoll": which gauge it counts in
    filehash: str | None  # None: the public feed

    def deliver(self, event: Event) -> bool:
        """Take one event (already visible to this subscriber); True when it was sent/kept.

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
        self.abandoned = False
        self._ready = asyncio.get_running_loop().create_future()

    def deliver(self, event: Event) -> bool:
        if event.cursor <= self.after:
            return False
        self.events.append(event)
        if not self._ready.done():
            self._ready.set_result(None)
        return True

    def shutdown(self) -> None:
        if not self._ready.done():
            self._ready.set_result(None)

    def abandon(self) -> None:
        """The client went away: stop waiting now rather than at the timeout."""
        self.abandoned = True
        self.shutdown()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            pass

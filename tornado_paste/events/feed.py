"""Real-time events: the ingest listener that logs them, one log reader per process, the fan-out hub.

How an event travels:

1. ``ingestor.publish(type, record)`` calls ``EventFeed.record`` (an ingest
   listener), which appends it to the shared event log (``eventlog.py``) and
   wakes this process's reader at once.
2. Each process runs ONE reader task. It reads the log when woken, so events written by
   any process of the deployment reach every process, in cursor order. Wake-ups come from
   this process's own appends and, on MongoDB with change streams (a replica set), from a
   watcher task on the log (push: other machines' events arrive at once; its resume token
   carries over a lost stream or a restarted reader); without them the reader polls every
   ``events_poll_interval`` seconds. With push the poll stays as a slow safety net.
3. The reader hands each page of new events to the subscribers (WebSockets, long-polls) of
   this process through an index (public feed / per-file), without a task or
   queue per idle subscriber: delivery is one synchronous pass, one ``Batch`` per group
   (its wire forms built once for the whole group), and each subscriber bounds its own backlog.

Private (unlisted) files: their events are logged with a private flag and never
reach the public feed. A subscriber that names a file (``?file=<filehash>``)
hears that file's events and those of its derivatives, private or not: knowing
the filehash is what gives access to an unlisted file anyway, so this reveals
nothing new. A derivative of a private file is private too.

Nothing here imports HTTP; handlers adapt subscribers to sockets and requests.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterable

import msgpack

from settings import Settings
from tornado_paste.core.cards import Links
from tornado_paste.core.records import FileRecord, LogEntry
from tornado_paste.core.tasks import cancel_and_wait
from tornado_paste.events.subscribers import Batch, Event, Subscriber, Waiter, iso_ms
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import EventLog, FileStore, StoreUnavailable

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset({"file.created", "file.deleted", "file.derived", "collection.updated"})
# The log key of a collection's events: subscribers naming ``?collection=<code>`` listen on it.
COLLECTION_KEY = "collection:"
# Entries read per log query (reader and replays).
PAGE = 500
# A cursor missing between two stored ones is an insert still in flight on another process (MongoDB
# takes cursors from a counter before inserting); the reader waits this long for it, then moves on.
GAP_GRACE = 2.0
# Seconds between two trims of the log by this process.
TRIM_INTERVAL = 60.0
# With push (change streams) the reader still polls this rarely, unless a gap is pending.
PUSH_SAFETY_POLL = 5.0
# Longest wait in one watcher call (it returns earlier as soon as a change arrives).
WATCH_SLICE = 30.0


class EventFeed:
    """This process's view of the shared event log: reader task, recent events, subscribers."""

    def __init__(self, event_log: EventLog, store: FileStore, links: Links, metrics: Metrics,
                 settings: Settings) -> None:
        self.log = event_log
        self.store = store
        self.links = links
        self.metrics = metrics
        self.settings = settings
        # Every event up to ``high`` has been handed to this process's subscribers.
        self.high = 0
        # Recent events, oldest first; every dispatched event with cursor > ``_floor`` is in it.
        self._recent: collections.deque[Event] = collections.deque(maxlen=settings.events_buffer)
        self._floor = 0
        self._public: set[Subscriber] = set()
        self._by_file: dict[str, set[Subscriber]] = {}
        # Subscribers by kind; sampled once a second as ws.subscribers / longpoll.subscribers (services.py).
        self.counts = {"ws": 0, "longpoll": 0}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gap_at: int | None = None
        self._gap_since = 0.0
        self._last_trim = 0.0
        self._store_warned = False
        # Push: True while a change stream wakes the reader; its resume token survives restarts.
        self.push = False
        self.resume_token: object = None
        self._watcher: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self.high = self._floor = await self.log.last_cursor()
        await self._trim()
        self._task = asyncio.create_task(self._run(), name="event-reader")
        if getattr(self.settings, "events_push", True):
            self._watcher = asyncio.create_task(self._watch(), name="event-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        watcher, self._watcher = self._watcher, None
        await cancel_and_wait(watcher)
        self.push = False
        for sub in list(self._all_subscribers()):
            self.unsubscribe(sub)
            try:
                sub.shutdown()
            except Exception:
                log.exception("subscriber shutdown failed")

    @property
    def buffered_from(self) -> int:
        """Every event after this cursor is in the recent buffer (replays from here need no query)."""
        return self._floor

    def wake(self) -> None:
        """Poll the log now (a local publish should not wait for the next tick)."""
        self._wake.set()

    # -- producing -------------------------------------------------------------
    async def record(self, event_type: str, record: FileRecord) -> int | None:
        """Append an event for ``record`` to the log (the ingest listener). Returns its cursor."""
        if event_type not in EVENT_TYPES:
            log.warning("ignoring unknown event type %r", event_type)
            return None
        private = record.private
        parent_filehash = None
        if record.parent_id is not None:
            parent = await self.store.get_by_id(record.parent_id)
            if parent is not None:
                parent_filehash = parent.filehash
                private = private or parent.private
        ts = time.time()
        body = {"type": event_type, "ts": iso_ms(ts), "file": self.links.card(record)}
        payload = msgpack.packb(body, use_bin_type=True)
        cursor = await self.log.append(event_type, ts, record.filehash, parent_filehash, private, payload)
        self.metrics.incr("events.published")
        self.wake()
        return cursor

    async def record_collection(self, code: str, action: str, body: dict[str, object]) -> int:
        """Append a ``collection.updated`` event. Always private: only subscribers that name the
        collection (and so hold its code) hear it, never the public feed."""
        ts = time.time()
        payload = msgpack.packb({"type": "collection.updated", "ts": iso_ms(ts), **body}, use_bin_type=True)
        cursor = await self.log.append("collection.updated", ts, COLLECTION_KEY + code, None, True, payload)
        self.metrics.incr("events.published")
        self.wake()
        return cursor

    # -- subscribing -----------------------------------------------------------
    async def on_ingest(self, event_type: str, record: FileRecord) -> None:
        """The ingest listener: every file event goes to the log."""
        await self.record(event_type, record)

    def subscribe(self, sub: Subscriber) -> None:
        if sub.filehash is None:
            self._public.add(sub)
        else:
            self._by_file.setdefault(sub.filehash, set()).add(sub)
        self.counts[sub.kind] += 1

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub.filehash is None:
            if sub not in self._public:
                return
            self._public.discard(sub)
        else:
            subs = self._by_file.get(sub.filehash)
            if not subs or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._by_file[sub.filehash]
        self.counts[sub.kind] -= 1

    def _all_subscribers(self) -> Iterable[Subscriber]:
        yield from self._public
        for subs in self._by_file.values():
            yield from subs

    # -- reading back ----------------------------------------------------------
    async def events_after(self, after: int, upto: int, filehash: str | None,
                           limit: int) -> tuple[list[Event], int]:
        """Events with ``after < cursor <= upto`` visible to ``filehash``, at most ``limit``.

        Returns them and the cursor up to which everything was considered (the
        last event's cursor when ``limit`` cut the list short, else ``upto``).
        Served from memory when the recent buffer covers ``after``, else from the log.
        """
        found: list[Event] = []
        if after >= upto:
            return found, after
        if after >= self._floor:
            for event in self._recent:
                if after < event.cursor <= upto and event.visible_to(filehash):
                    found.append(event)
                    if len(found) == limit:
                        return found, event.cursor
            return found, upto
        position = after
        while True:
            entries = await self.log.read_after(position, PAGE, upto)
            for entry in entries:
                event = Event(entry)
                if event.visible_to(filehash):
                    found.append(event)
                    if len(found) == limit:
                        return found, event.cursor
            if len(entries) < PAGE:
                return found, upto
            position = entries[-1].cursor

    async def poll(self, after: int | None, filehash: str | None, timeout: float,
                   limit: int, waiter: Waiter | None = None) -> tuple[list[Event], int]:
        """The long-poll: events after ``after`` at once if there are any, else wait up to ``timeout``.

        ``after=None`` means "from now". Pass your own ``waiter`` to be able to
        ``abandon()`` the wait when the client disconnects.
        """
        start = self.high if after is None else after
        waiter = waiter or Waiter(filehash, start)
        # Subscribe first: whatever is dispatched while we read the backlog is caught by the waiter.
        waiter.after = max(start, self.high)
        self.subscribe(waiter)
        try:
            if start < waiter.after:
                events, considered = await self.events_after(start, waiter.after, filehash, limit)
                if events:
                    return events, considered
            if not waiter.events:
                await waiter.wait(timeout)
            events = waiter.events[:limit]
            if len(waiter.events) > limit:
                return events, events[-1].cursor
            return events, max(waiter.after, self.high)
        finally:
            self.unsubscribe(waiter)

    # -- the watcher (push) ---------------------------------------------------------
    async def _watch(self) -> None:
        """Wake the reader on every change another process appended; reopen a lost stream where it was."""
        interval = self.settings.events_poll_interval
        while True:
            watch = self.log.watch(self.resume_token)
            if watch is None:
                return  # this backend has no push: the reader polls
            try:
                if not await watch.open():
                    return
                if not self.push:
                    log.info("event log: change stream open; other processes' events are pushed")
                self.push = True
                while True:
                    if await watch.wait(WATCH_SLICE):
                        self.wake()
                    self.resume_token = watch.resume_token
            except StoreUnavailable as exc:
                self.resume_token = watch.resume_token
                if self.push:
                    log.warning("event log: change stream lost (%s); polling until it is back", exc)
                self.push = False
                await asyncio.sleep(max(interval, 1.0))
            finally:
                await watch.close()

    # -- the reader --------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            interval = self.settings.events_poll_interval
            if self.push and self._gap_at is None:
                interval = max(interval, PUSH_SAFETY_POLL)
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation (stop()).
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._poll()
                if time.monotonic() - self._last_trim > TRIM_INTERVAL:
                    await self._trim()
                self._store_warned = False
            except StoreUnavailable as exc:
                if not self._store_warned:
                    log.warning("event reader: store unavailable (%s); retrying", exc)
                    self._store_warned = True
                await asyncio.sleep(self.settings.events_poll_interval)
            except Exception:
                log.exception("event reader failed; retrying")
                await asyncio.sleep(self.settings.events_poll_interval)

    async def _poll(self) -> None:
        while True:
            entries = await self.log.read_after(self.high, PAGE)
            if not entries:
                self._gap_at = None
                return
            ready: list[LogEntry] = []
            expected = self.high + 1
            for entry in entries:
                if entry.cursor != expected and not self._gap_expired(expected):
                    break
                ready.append(entry)
                expected = entry.cursor + 1
            self._dispatch(ready)
            if len(ready) < len(entries):
                return  # look for the missing cursor again at the next tick (not in a busy loop)
            if len(entries) < PAGE:
                return

    def _gap_expired(self, missing: int) -> bool:
        now = time.monotonic()
        if self._gap_at != missing:
            self._gap_at, self._gap_since = missing, now
            return False
        if now - self._gap_since < GAP_GRACE:
            return False
        log.warning("event log: cursor %d never appeared; skipping it", missing)
        self._gap_at = None
        return True

    def _dispatch(self, entries: list[LogEntry]) -> None:
        """Hand a page of new entries to the subscribers: one ``Batch`` per group (the public feed,
        each followed file), so a group's wire forms are built once and each subscriber gets all of
        its events of the page in one call (a WebSocket writes them in one send)."""
        if not entries:
            return
        now = time.time()
        public: list[Event] = []
        by_file: dict[str, list[Event]] = {}
        for entry in entries:
            event = Event(entry)
            self.high = event.cursor
            if self._recent.maxlen == 0:
                self._floor = event.cursor
            else:
                if len(self._recent) == self._recent.maxlen:
                    self._floor = self._recent[0].cursor
                self._recent.append(event)
            if not event.private:
                public.append(event)
            for key in (event.filehash, event.parent_filehash):
                if key is not None and key in self._by_file:
                    followed = by_file.setdefault(key, [])
                    if not followed or followed[-1] is not event:  # a file that is its own parent: once
                        followed.append(event)
            self.metrics.timing("events.delivery_lag", max(0.0, now - event.ts) * 1000)
        delivered = 0
        if public and self._public:
            delivered += self._hand(list(self._public), Batch(public, self.high))
        for key, followed in by_file.items():
            delivered += self._hand(list(self._by_file.get(key, ())), Batch(followed, self.high))
        if delivered:
            self.metrics.incr("events.delivered", delivered)

    def _hand(self, targets: list[Subscriber], batch: Batch) -> int:
        """Deliver ``batch`` to each target in one synchronous pass; a failing subscriber is dropped."""
        delivered = 0
        for sub in targets:
            try:
                delivered += sub.deliver(batch)
            except Exception:
                log.exception("event delivery failed; dropping the subscriber")
                self.unsubscribe(sub)
        return delivered

    async def _trim(self) -> None:
        self._last_trim = time.monotonic()
        removed = await self.log.trim(time.time() - self.settings.events_max_age, self.settings.events_max_count)
        if removed:
            log.info("event log: trimmed %d old event(s)", removed)

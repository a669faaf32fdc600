"""The event feed without HTTP, on both store backends: ordering, gaps, privacy, metrics."""

from __future__ import annotations

import asyncio
import uuid

import msgpack
import pytest

from settings import Settings
from tornado_paste.core.records import FileRecord, utcnow
from tornado_paste.events import feed as events
from tornado_paste.metrics.client import Metrics
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore


class RecordingMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, float]] = []

    @property
    def enabled(self) -> bool:
        return True

    def incr(self, name: str, count: int = 1) -> None:
        self.calls.append(("incr", name, count))

    def timing(self, name: str, millis: float) -> None:
        self.calls.append(("timing", name, millis))

    def gauge(self, name: str, value: float, delta: bool = False) -> None:
        self.calls.append(("gauge", name, value))

    def names(self) -> set[str]:
        return {name for _, name, _ in self.calls}


@pytest.fixture(params=["sqlite", "mongo-mock"])
def services(request, tmp_path, io_loop):
    settings = Settings(data_dir=str(tmp_path / "data"), events_poll_interval=0.05).validated()
    store = None
    if request.param == "mongo-mock":
        from pymongo_async_mock import AsyncMongoMockClient

        store = MongoStore(AsyncMongoMockClient(), "tp_feed_test")
    svc = build_services(settings, store=store)
    svc.metrics = svc.events.metrics = RecordingMetrics()
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


async def stored(services, private: bool = False, parent: FileRecord | None = None) -> FileRecord:
    record = FileRecord(filehash=uuid.uuid4().hex[:16] + ".txt", sha256=uuid.uuid4().hex * 2, filename="a.txt",
                        mimetype="text/plain", size=1, uploaded_at=utcnow(), delete_token_hash="x",
                        private=private, parent_id=parent.id if parent else None)
    return await services.store.insert_file(record)


@pytest.mark.gen_test(timeout=60)
async def test_publish_then_poll_in_order_with_privacy(services):
    feed = services.events
    public = await stored(services)
    secret = await stored(services, private=True)
    child = await stored(services, parent=secret)  # a derivative of a private file is private too
    await services.ingestor.publish("file.created", public)
    await services.ingestor.publish("file.created", secret)
    await services.ingestor.publish("file.derived", child)
    await services.ingestor.publish("file.renamed", public)  # not an event type: ignored
    while feed.high < 3:  # the reader hands them over in its own time
        await asyncio.sleep(0.01)

    seen, cursor = await feed.poll(0, None, 10, 100)
    assert [e.body["file"]["filehash"] for e in seen] == [public.filehash]
    assert cursor == 3
    followed, _ = await feed.poll(0, secret.filehash, 10, 100)
    assert [(e.type, e.filehash) for e in followed] == [("file.created", secret.filehash),
                                                         ("file.derived", child.filehash)]
    assert followed[1].parent_filehash == secret.filehash
    # Stored payloads are msgpack; frames carry the same dict in both encodings.
    assert msgpack.unpackb(followed[1].msgpack_frame(), raw=False) == followed[1].body
    names = services.metrics.names()
    assert {"events.published", "events.delivery_lag"} <= names


@pytest.mark.gen_test(timeout=60)
async def test_waiting_poll_counts_as_a_longpoll_subscriber(services):
    feed = services.events
    record = await stored(services)
    waiting = asyncio.ensure_future(feed.poll(None, None, 30, 100))
    while feed.counts["longpoll"] == 0:
        await asyncio.sleep(0.01)
    await feed.record("file.created", record)
    events_, cursor = await waiting
    assert [e.filehash for e in events_] == [record.filehash] and cursor == events_[0].cursor
    assert feed.counts["longpoll"] == 0
    assert ("incr", "events.delivered", 1) in services.metrics.calls


@pytest.mark.gen_test(timeout=60)
async def test_reader_waits_for_a_cursor_still_in_flight(services, monkeypatch):
    """Two processes may commit MongoDB cursors out of order; the reader must not skip the slow one."""
    feed = services.events
    feed._task.cancel()  # drive the reader by hand
    record = await stored(services)
    payload = msgpack.packb({"type": "file.created", "ts": "t", "file": {}})
    first = await feed.log.append("file.created", 1.0, record.filehash, None, False, payload)
    await feed._poll()
    assert feed.high == first
    if isinstance(services.store, MongoStore):
        in_flight = await services.store.next_id("events")  # taken, not yet inserted
        later = await feed.log.append("file.created", 1.0, record.filehash, None, False, payload)
        await feed._poll()
        assert feed.high == first  # held back behind the gap
        await services.store.db["events"].insert_one({
            "cursor": in_flight, "type": "file.created", "ts": 1.0, "filehash": record.filehash,
            "parent_filehash": None, "private": False, "payload": payload})
        await feed._poll()
        assert feed.high == later
        assert [e.cursor for e in feed._recent] == [first, in_flight, later]
        # A cursor that never shows up (a failed insert) is skipped after the grace period.
        monkeypatch.setattr(events, "GAP_GRACE", 0.0)
        await services.store.next_id("events")
        last = await feed.log.append("file.created", 1.0, record.filehash, None, False, payload)
        await feed._poll()
        await feed._poll()
        assert feed.high == last


@pytest.mark.gen_test(timeout=60)
async def test_trim_keeps_the_newest_events(services):
    feed = services.events
    feed.settings = feed.settings.replace(events_max_count=2)
    record = await stored(services)
    cursors = [await feed.record("file.created", record) for _ in range(4)]
    await feed._trim()
    assert [e.cursor for e in await feed.log.read_after(0, 10)] == cursors[2:]

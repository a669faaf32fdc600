"""The metric scheme without the StatsD daemon: a UDP socket on loopback stands in for it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter

import pytest

from tests.conftest import body_of, path_of
from tests.helpers import multipart_body
from tornado_paste.metrics.client import Metrics


class UDPSink:
    """Collects StatsD datagrams sent to 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.packets.append(self.sock.recv(65535))
            except BlockingIOError:
                break
        return [line for packet in self.packets for line in packet.decode().split("\n") if line]

    def totals(self, prefix: str = "") -> Counter:
        """name -> summed counter value (``|c``) or number of timings/gauges seen."""
        out: Counter = Counter()
        for line in self.drain():
            name, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            name = name.removeprefix(prefix)
            out[name] += int(value) if kind == "c" else 1
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sink():
    s = UDPSink()
    yield s
    s.close()


def wait_until(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def test_disabled_metrics_are_a_no_op():
    metrics = Metrics("")
    assert not metrics.enabled
    metrics.incr("a")
    metrics.timing("b", 1.0)
    metrics.gauge("c", 3)
    with metrics.timed("d"):
        pass


def test_unbatched_sends_at_once_with_prefix(sink):
    metrics = Metrics("127.0.0.1", sink.port, "pfx")
    metrics.incr("upload.count")
    metrics.incr("upload.bytes", 42)
    metrics.timing("http.raw.time", 1.5)
    metrics.gauge("http.inflight", 0)
    lines = wait_until(lambda: len(sink.drain()) >= 4 and sink.drain())
    assert lines == ["pfx.upload.count:1|c", "pfx.upload.bytes:42|c", "pfx.http.raw.time:1.500000|ms",
                     "pfx.http.inflight:0|g"]


@pytest.mark.gen_test
async def test_batched_between_start_and_stop(sink):
    metrics = Metrics("127.0.0.1", sink.port, "p", flush_interval=60, sample_interval=60, max_packet=200,
                      host_name="web1.example", worker="8001-1")
    state = {"inflight": 7}
    metrics.sample("http.inflight", lambda: state["inflight"])
    await metrics.start()
    for _ in range(40):
        metrics.incr("http.raw.status.2xx")
        metrics.timing("http.raw.time", 2.0)
    metrics.gauge("q", 1, delta=True)
    metrics.gauge("q", 5)
    metrics.gauge("q", 2, delta=True)
    await asyncio.sleep(0.05)
    # The sampler fired once at start; the 40 counters wait for the flush.
    assert [line for line in sink.drain() if "status" in line] == []
    await metrics.stop()
    totals = wait_until(lambda: sink.drain() and sink.totals("p."))
    assert totals["http.raw.status.2xx"] == 40  # summed into one line: StatsD's totals are unchanged
    assert totals["http.raw.time"] == 40  # every timing kept, for StatsD's percentiles
    lines = sink.drain()
    assert "p.http.raw.status.2xx:40|c" in lines
    assert [line for line in lines if line.startswith("p.q:")] == ["p.q:5|g", "p.q:+2|g"]
    # A level is per process: the host (one Graphite node, dots replaced) and the worker are in its name.
    assert metrics.level_name("http.inflight") == "proc.web1_example.8001-1.http.inflight"
    assert totals["proc.web1_example.8001-1.http.inflight"] >= 1
    assert "p.proc.web1_example.8001-1.http.inflight:7|g" in lines
    assert all(len(packet) <= 200 for packet in sink.packets)
    assert len(sink.packets) < 40


def test_daemon_down_never_raises():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = Metrics("127.0.0.1", port)  # nothing listens there any more: ICMP port unreachable
    for _ in range(200):
        metrics.incr("x")
        metrics.timing("y", 1)


# -- the scheme, through the real app ----------------------------------------------


@pytest.fixture
def settings_overrides(sink):
    return {"statsd_host": "127.0.0.1", "statsd_port": sink.port, "statsd_prefix": "tp",
            "max_upload_size": 4096, "deny_types": ("image/gif",)}


@pytest.mark.gen_test(timeout=30)
async def test_request_upload_download_and_store_metrics(sink, services, upload, fetch):
    data = b"metrics test body\n" * 10
    first = await upload(data, "a.txt")
    assert first.code == 201
    again = await upload(data, "b.txt")
    assert again.code == 200
    card = body_of(first)
    assert (await fetch(path_of(card["url_i"]))).code == 200
    assert (await fetch(path_of(card["url_d"]))).code == 200
    ranged = await fetch(path_of(card["url_i"]), headers={"Range": "bytes=0-9"})
    assert ranged.code == 206
    assert (await fetch(path_of(card["url_i"]), method="HEAD")).code == 200
    assert (await fetch(path_of(card["url_s"]))).code == 302
    assert (await fetch("/p/0123456789abcdef.txt")).code == 404
    assert (await fetch("/static/app.css")).code == 200
    assert (await fetch("/")).code == 200
    # Refusals by reason.
    assert (await upload(b"x" * 5000, "big.bin")).code == 413
    assert (await upload(b"GIF89a" + b"\0" * 64, "a.gif")).code == 415
    assert (await fetch("/", method="POST", body=b"x", headers={"Content-Type": "multipart/mixed"})).code == 415
    body, ctype = multipart_body({"private": "1"})
    assert (await fetch("/", method="POST", body=body, headers={"Content-Type": ctype})).code == 400
    assert (await fetch("/x.bin", method="PUT", body=b"y" * 5000)).code == 413  # refused on Content-Length

    await services.metrics.stop()  # flush the batch
    t = await asyncio.get_running_loop().run_in_executor(None, lambda: wait_until(
        lambda: sink.drain() and sink.totals("tp.")))
    expected = {
        "upload.count": 2, "upload.dedupe_hit": 1, "upload.bytes": 2 * len(data), "upload.duration": 2,
        "upload.source.form": 2,
        "upload.refused.size": 2, "upload.refused.type": 1, "upload.refused.bad_request": 2,
        "download.raw.count": 1, "download.raw.bytes": len(data),
        "download.download.count": 1, "download.download.bytes": len(data),
        "download.range.count": 1, "download.range.bytes": 10,
        "short.hits": 1,
        "http.upload_form.status.2xx": 2, "http.upload_form.code.201": 1, "http.upload_form.code.200": 1,
        "http.upload_form.status.4xx": 4, "http.upload_put.code.413": 1,
        "http.raw.status.2xx": 3, "http.raw.code.206": 1, "http.download.code.200": 1,
        "http.short.code.302": 1, "http.preview.code.404": 1, "http.static.code.200": 1, "http.index.code.200": 1,
        "http.raw.time": 3, "store.insert_file.time": 1,
    }
    assert {k: t[k] for k in expected} == expected
    assert t[services.metrics.level_name("http.inflight")] >= 1
    assert t["store.get_public_original.time"] >= 2
    assert t["store.get_by_filehash.time"] >= 1
    # /s/ came after the /i/ and /d/ of the same file: the record cache answered, not the store.
    assert "store.get_by_short_code.time" not in t
    assert not [name for name in t if name.startswith("store.") and name.endswith(".errors")]
    # Low cardinality: no file hash, short code or path ever appears in a name.
    assert not [name for name in t if card["filehash"].split(".")[0] in name or "/" in name]


def test_unresolvable_host_disables_metrics_with_a_warning(monkeypatch, caplog):
    def no_such_host(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    metrics = Metrics("statsd.invalid", 8125)
    assert not metrics.enabled
    metrics.incr("x")  # still a no-op, never an error
    assert "statsd disabled" in caplog.text


@pytest.mark.gen_test
async def test_store_instrumentation_keeps_the_store_and_counts_failures(sink, tmp_path):
    from tornado_paste.metrics.instrumentation import STORE_OPERATIONS, instrument_store
    from tornado_paste.storage import StoreUnavailable
    from tornado_paste.storage.sqlite.store import SQLiteStore

    store = SQLiteStore(str(tmp_path / "s.sqlite3"))
    await store.open()
    try:
        metrics = Metrics("127.0.0.1", sink.port, "p")
        assert instrument_store(store, metrics) is store
        assert instrument_store(store, metrics) is store  # idempotent: no double timing
        assert isinstance(store, SQLiteStore) and callable(store.run)  # features still reach the backend
        assert "insert_file" in STORE_OPERATIONS and "open" not in STORE_OPERATIONS
        assert await store.get_by_filehash("0123456789abcdef.txt") is None
        await store.close()
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()
    totals = await asyncio.get_running_loop().run_in_executor(
        None, lambda: wait_until(lambda: len(sink.drain()) >= 3 and sink.totals("p.")))
    assert totals["store.get_by_filehash.time"] == 1
    assert totals["store.ping.time"] == 1
    assert totals["store.ping.errors"] == 1
    assert "store.get_by_filehash.errors" not in totals


class TestBehindNginx:
    """With X-Accel-Redirect nginx sends the bytes; the counts and byte totals must not change."""

    @pytest.fixture
    def settings_overrides(self, sink):
        return {"statsd_host": "127.0.0.1", "statsd_port": sink.port, "statsd_prefix": "tp",
                "accel_redirect_prefix": "/_blobs/"}

    @pytest.mark.gen_test
    async def test_download_metrics_with_accel_redirect(self, sink, services, upload, fetch):
        data = b"0123456789" * 30
        card = body_of(await upload(data, "n.txt"))
        raw = path_of(card["url_i"])
        first = await fetch(raw)
        assert first.headers.get("X-Accel-Redirect")
        assert (await fetch(raw, headers={"Range": "bytes=10-29"})).code == 200  # nginx would answer 206
        assert (await fetch(raw, headers={"Range": "bytes=-5"})).code == 200
        assert (await fetch(raw, method="HEAD")).code == 200
        assert (await fetch(raw, headers={"If-None-Match": first.headers["Etag"]})).code == 304
        await services.metrics.stop()
        t = await asyncio.get_running_loop().run_in_executor(None, lambda: wait_until(
            lambda: sink.drain() and sink.totals("tp.")))
        expected = {"download.raw.count": 1, "download.raw.bytes": len(data), "download.range.count": 2,
                    "download.range.bytes": 25, "download.not_modified.count": 1}
        assert {k: t[k] for k in expected} == expected


# -- per-process levels --------------------------------------------------------------


LEVELS = {"up", "http.inflight", "ws.subscribers", "longpoll.subscribers", "executor.queue_depth", "upload.open",
          "upload.reserved_bytes", "fds.open", "fds.limit", "disk.free_bytes", "disk.free_percent", "blobs.bytes",
          "blobs.count", "resize.cache_bytes"}


@pytest.mark.gen_test(timeout=30)
async def test_every_level_is_a_per_process_gauge_read_from_live_state(sink, services, upload):
    """Each level is named proc.<host>.<port>-<worker>.<name> and reports what the process holds now."""
    metrics = services.metrics
    scope = f"proc.{metrics.host_name}.{services.settings.port}-0"
    assert metrics.scope == scope
    assert {name.removeprefix(scope + ".") for name in metrics._samplers} == LEVELS
    assert (await upload(b"level test\n" * 100, "l.txt")).code == 201
    # A scan that finished reports the blob directory as it is (the first one ran at start).
    await services.blob_usage.refresh()
    services.inflight += 3  # as three requests between prepare and finish would
    try:
        metrics._sample_now()
        metrics.flush()
    finally:
        services.inflight -= 3
    lines = await asyncio.get_running_loop().run_in_executor(None, lambda: wait_until(
        lambda: [line for line in sink.drain() if f".{scope}.blobs.bytes:" in line] and sink.drain()))
    last = {line.split(":")[0].removeprefix(f"tp.{scope}."): float(line.split(":")[1].split("|")[0])
            for line in lines if line.startswith(f"tp.{scope}.") and line.endswith("|g")}
    assert last["http.inflight"] == 3 and last["up"] == 1
    assert last["blobs.count"] == 1 and last["blobs.bytes"] == len(b"level test\n" * 100)
    assert 0 < last["disk.free_percent"] <= 100 and last["disk.free_bytes"] > 0
    assert 0 < last["fds.open"] < last["fds.limit"]
    assert last["ws.subscribers"] == last["longpoll.subscribers"] == last["upload.open"] == 0


def test_only_worker_zero_scans_the_blobs(tmp_path):
    from settings import Settings
    from tornado_paste.services import build_services

    settings = Settings(data_dir=str(tmp_path), statsd_host="127.0.0.1", statsd_port=9, metrics_host="h")
    zero, one = build_services(settings, worker=0), build_services(settings, worker=1)
    assert zero.metrics.scope == "proc.h.8000-0" and one.metrics.scope == "proc.h.8000-1"
    assert "proc.h.8000-0.blobs.bytes" in zero.metrics._samplers
    assert not [name for name in one.metrics._samplers if ".blobs." in name]

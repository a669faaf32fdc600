"""Abuse controls: per-IP token buckets, the upload gate, and slow-upload (slowloris) cuts."""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.gen
import tornado.iostream
import tornado.tcpclient

from handlers.base import BaseHandler
from tests.conftest import body_of
from tests.faults import MULTIPART_HEAD, FakeStatsd, half_upload, poll, staging_files
from tornado_paste.limits.admission import TooManyUploads, UploadCapacityFull, UploadGate
from tornado_paste.limits.ratelimit import READ, RESIZE, UPLOAD, Budget, RateLimiter, budget_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the token bucket ------------------------------------------------------------

def test_bucket_allows_burst_then_refills_at_rate():
    clock = FakeClock()
    limiter = RateLimiter({READ: Budget(rate=2.0, burst=3)}, clock=clock)
    decisions = [limiter.hit(READ, "1.2.3.4") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after == 1 and refused.limit == 3 and refused.reset == 2
    assert refused.headers()["Retry-After"] == "1"
    assert "Retry-After" not in decisions[0].headers()
    clock.now += 0.5  # one token back at 2/s
    assert limiter.hit(READ, "1.2.3.4").allowed
    assert not limiter.hit(READ, "1.2.3.4").allowed


def test_budgets_and_clients_are_separate():
    limiter = RateLimiter({READ: Budget(1, 1), UPLOAD: Budget(1, 1)}, clock=FakeClock())
    assert limiter.hit(READ, "a").allowed
    assert not limiter.hit(READ, "a").allowed
    assert limiter.hit(UPLOAD, "a").allowed  # its own budget
    assert limiter.hit(READ, "b").allowed  # its own bucket


def test_disabled_budget_exempt_client_and_bounded_table():
    limiter = RateLimiter({READ: Budget(1, 2), RESIZE: Budget(0, 10)}, max_clients=3, exempt={"10.0.0.1"},
                          clock=FakeClock())
    assert limiter.hit(RESIZE, "a") is None
    assert limiter.hit(READ, "10.0.0.1") is None
    for i in range(10):
        limiter.hit(READ, f"c{i}")
    assert len(limiter) == 3  # the least recently seen clients were forgotten


def test_budget_for_routes():
    assert budget_for("resize", "GET") == RESIZE
    assert budget_for("upload_form", "POST") == UPLOAD
    assert budget_for("upload_put", "PUT") == UPLOAD
    assert budget_for("api_file", "PUT") == UPLOAD
    assert budget_for("raw", "GET") == READ
    assert budget_for("upload_form", "GET") == READ
    assert budget_for("api_file", "DELETE") == READ
    assert budget_for("healthz", "GET") is None


def test_upload_gate_caps_per_client_and_bytes():
    gate = UploadGate(max_per_client=2, max_inflight_bytes=100)
    a1 = gate.admit("a", 10)
    a2 = gate.admit("a", 10)
    with pytest.raises(TooManyUploads):
        gate.admit("a", 10)
    a1.need(10)
    a2.need(10)  # bytes are taken as they arrive, never for the declared length
    b = gate.admit("b", None)  # chunked: the same
    b.need(50)
    assert gate.inflight_bytes == 70
    with pytest.raises(UploadCapacityFull):
        gate.admit("c", 31)  # could not fit with what is in flight now
    with pytest.raises(UploadCapacityFull):
        b.need(81)
    a1.release()
    a1.release()  # idempotent
    assert gate.inflight_bytes == 60 and gate.per_client["a"] == 1
    gate.admit("a", 10)


# -- over HTTP -------------------------------------------------------------------

def _error(resp):
    body = json.loads(resp.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


@pytest.fixture
def statsd():
    fake = FakeStatsd()
    yield fake
    fake.close()


@pytest.mark.parametrize("settings_overrides", [dict(ratelimit_read_rate=0.01, ratelimit_read_burst=3)])
@pytest.mark.gen_test
async def test_reads_get_429_with_headers(upload, fetch, settings_overrides):
    card = body_of(await upload(b"x" * 10, "a.txt"))  # spends the upload budget, not the read one
    path = "/i/" + card["filehash"]
    answers = [await fetch(path) for _ in range(4)]
    assert [r.code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert int(limited.headers["Retry-After"]) >= 1
    assert int(limited.headers["X-RateLimit-Reset"]) >= 1
    assert limited.headers["Content-Type"].startswith("application/json")
    assert _error(limited)["code"] == "rate_limited"
    missing = await fetch("/i/0123456789abcdef.txt")  # errors carry the headers too
    assert missing.code == 429 and missing.headers["X-RateLimit-Limit"] == "3"
    # Other read routes share the budget; the health probe is never limited.
    assert (await fetch("/p/" + card["filehash"])).code == 429
    assert (await fetch("/api/v1/files")).code == 429
    health = await fetch("/healthz")
    assert health.code == 200 and "X-RateLimit-Limit" not in health.headers


@pytest.mark.parametrize("settings_overrides", [dict(ratelimit_upload_rate=0.01, ratelimit_upload_burst=2,
                                                     statsd_host="127.0.0.1")])
@pytest.mark.gen_test
async def test_uploads_have_their_own_budget(upload, fetch, services, statsd):
    services.metrics.__init__("127.0.0.1", statsd.port, "tp")
    first, second, third = [await upload(b"%d" % i, "n.txt") for i in range(3)]
    assert (first.code, second.code, third.code) == (201, 201, 429)
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert _error(third)["code"] == "rate_limited"
    # A raw PUT spends the same budget.
    put = await fetch("/n.txt", method="PUT", body=b"more")
    assert put.code == 429 and "Retry-After" in put.headers
    assert (await fetch("/i/" + body_of(first)["filehash"])).code == 200  # reads unaffected
    assert staging_files(services.settings.data_dir) == []
    assert await poll(lambda: statsd.count("ratelimit.limited") >= 2)


class FakeResizeHandler(BaseHandler):
    """Stands in for the images helper's /r/ handler: only its route_name matters here."""

    route_name = "resize"

    async def get(self, _name: str) -> None:
        self.send_data({"ok": True})


@pytest.mark.parametrize("settings_overrides", [dict(ratelimit_resize_rate=0.01, ratelimit_resize_burst=1)])
@pytest.mark.gen_test
async def test_resize_budget_keyed_on_route_name(app, fetch):
    app.add_handlers(r".*", [(r"/r-test/(.*)", FakeResizeHandler)])
    assert (await fetch("/r-test/a")).code == 200
    limited = await fetch("/r-test/a")
    assert limited.code == 429 and limited.headers["X-RateLimit-Limit"] == "1"
    assert (await fetch("/api/v1/files")).code == 200  # reads have their own budget


@pytest.mark.parametrize("settings_overrides", [dict(upload_max_per_client=2)])
@pytest.mark.gen_test
async def test_concurrent_upload_cap_per_client(fetch, upload, services, http_port):
    held = [await half_upload(http_port, MULTIPART_HEAD + b"a" * 100, 10_000) for _ in range(2)]
    assert await poll(lambda: services.limits.uploads.inflight_uploads == 2)
    refused = await upload(b"third", "c.txt")
    assert refused.code == 429 and refused.headers["Retry-After"] == "1"
    assert _error(refused)["code"] == "too_many_uploads"
    for stream in held:
        stream.close()
    assert await poll(lambda: services.limits.uploads.inflight_uploads == 0)
    assert (await upload(b"fourth", "d.txt")).code == 201
    assert await poll(lambda: staging_files(services.settings.data_dir) == [])


@pytest.mark.parametrize("settings_overrides", [dict(upload_max_inflight_bytes=64 * 1024, upload_client_share=1.0)])
@pytest.mark.gen_test
async def test_global_inflight_bytes_by_declared_length_and_running_count(fetch, upload, services, http_port):
    # The budget holds bytes that arrived (a declared length alone holds nothing: hostile/test_upload_starvation.py).
    sent = MULTIPART_HEAD + b"a" * (60 * 1024 - len(MULTIPART_HEAD))
    held = await half_upload(http_port, sent, 61 * 1024)
    assert await poll(lambda: services.limits.uploads.inflight_bytes == 60 * 1024)
    refused = await upload(b"y" * 8 * 1024, "big.bin")  # would pass 64 KiB with the one in flight
    assert refused.code == 503 and refused.headers["Retry-After"] == "2"
    assert _error(refused)["code"] == "upload_capacity"
    held.close()
    assert await poll(lambda: services.limits.uploads.inflight_bytes == 0)

    # Chunked (no Content-Length): refused once the running count passes the budget, staged bytes gone.
    async def chunks():
        for _ in range(20):
            yield b"z" * 8192

    async def producer(write):
        async for chunk in chunks():
            await write(chunk)

    resp = await fetch("/big.bin", method="PUT", body_producer=producer)
    assert resp.code == 503 and _error(resp)["code"] == "upload_capacity"
    assert await poll(lambda: services.limits.uploads.inflight_bytes == 0)
    assert staging_files(services.settings.data_dir) == []
    assert (await upload(b"small", "s.txt")).code == 201


@pytest.mark.parametrize("settings_overrides", [dict(upload_idle_timeout=0.3)])
@pytest.mark.gen_test(timeout=20)
async def test_stalled_upload_is_cut_and_leaves_nothing(fetch, services, http_port):
    stream = await half_upload(http_port, MULTIPART_HEAD + b"s" * 5000, 1_000_000)
    assert await poll(lambda: len(staging_files(services.settings.data_dir)) == 1)
    answer = await stream.read_until_close()  # the server gives up on us and hangs up
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "upload_stalled"
    assert await poll(lambda: staging_files(services.settings.data_dir) == [])
    assert services.limits.uploads.inflight_uploads == 0
    listing = body_of(await fetch("/api/v1/files"))
    assert listing["total"] == 0


@pytest.mark.parametrize("settings_overrides", [dict(upload_idle_timeout=0.5, upload_min_rate=100)])
@pytest.mark.gen_test(timeout=20)
async def test_slow_but_steady_upload_is_not_cut(upload, fetch, services):
    async def producer(write):
        for _ in range(8):
            await write(b"k" * 100)
            await tornado.gen.sleep(0.2)  # each gap is below the idle timeout, the total is not; ~500 B/s

    resp = await fetch("/steady.txt", method="PUT", body_producer=producer,
                       headers={"Content-Length": "800"})
    assert resp.code == 201, resp.body


@pytest.mark.parametrize("settings_overrides", [dict(upload_idle_timeout=0.3, upload_min_rate=10_000)])
@pytest.mark.gen_test(timeout=20)
async def test_trickling_upload_is_cut_and_leaves_nothing(server, services, http_port):
    stream = await half_upload(http_port, MULTIPART_HEAD + b"t" * 10, 1_000_000)
    reply = asyncio.ensure_future(stream.read_until_close())
    for _ in range(100):  # a few bytes every 0.1 s: never idle, far too slow
        if reply.done():
            break
        try:
            await stream.write(b"t" * 5)
        except tornado.iostream.StreamClosedError:
            break
        await tornado.gen.sleep(0.1)
    answer = await reply
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(body)["error"]["code"] == "upload_too_slow"
    assert await poll(lambda: staging_files(services.settings.data_dir) == [])
    assert services.limits.uploads.inflight_uploads == 0


@pytest.mark.parametrize("settings_overrides", [dict(idle_connection_timeout=0.3)])
@pytest.mark.gen_test(timeout=20)
async def test_slow_headers_are_cut(http_port, server):
    stream = await tornado.tcpclient.TCPClient().connect("127.0.0.1", http_port)
    await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    try:
        await stream.read_until_close()
    except tornado.iostream.StreamClosedError:
        pass
    assert stream.closed()


def test_settings_from_environment():
    from settings import Settings

    s = Settings.from_env({"TORNADO_PASTE_UPLOAD_MAX_INFLIGHT_BYTES": "1G",
                           "TORNADO_PASTE_RATELIMIT_EXEMPT": "10.0.0.1, 10.0.0.2",
                           "TORNADO_PASTE_RATELIMIT_READ_RATE": "2.5",
                           "TORNADO_PASTE_UPLOAD_MAX_PER_CLIENT": "3",
                           "TORNADO_PASTE_EXPIRES_DEFAULT": "7d"})
    assert s.upload_max_inflight_bytes == 1 << 30
    assert s.ratelimit_exempt == ("10.0.0.1", "10.0.0.2")
    assert (s.ratelimit_read_rate, s.upload_max_per_client, s.expires_default) == (2.5, 3, "7d")


@pytest.mark.gen_test
async def test_errors_on_limited_routes_carry_ratelimit_headers(fetch):
    missing = await fetch("/i/0123456789abcdef.txt")
    assert missing.code == 404
    assert missing.headers["X-RateLimit-Limit"] == "2000"
    assert int(missing.headers["X-RateLimit-Remaining"]) == 1999


@pytest.mark.parametrize("settings_overrides", [dict(ratelimit_resize_rate=0.01, ratelimit_resize_burst=2)])
@pytest.mark.gen_test(timeout=30)
async def test_real_resize_route_spends_the_resize_budget(upload, fetch):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "PNG")
    card = body_of(await upload(buf.getvalue(), "red.png"))
    answers = [await fetch(f"/r/{card['filehash']}?w={8 + i}&h=8") for i in range(3)]
    assert answers[0].code < 400 and answers[1].code < 400, [a.code for a in answers]
    assert answers[2].code == 429
    assert answers[2].headers["X-RateLimit-Limit"] == "2" and "Retry-After" in answers[2].headers
    assert (await fetch("/i/" + card["filehash"])).code == 200  # reads have their own budget

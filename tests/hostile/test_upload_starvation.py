"""Finding 4: declared-length starvation of the in-flight upload byte budget.

Two PUTs that declared ~10 MB each and trickled held the whole budget: the gate reserved the promised
Content-Length up front, so every other client got 503 ``upload_capacity``. Now the budget holds what
has arrived, one address may hold only ``upload_client_share`` of it (429 past that, for that address
alone), and the minimum rate grows with the time an upload is held.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import tornado.gen
import tornado.iostream

from tests.conftest import body_of
from tests.faults import FakeStatsd, half_upload, poll
from tornado_paste.limits.admission import ClientShareFull, UploadCapacityFull, UploadGate

FLOODER = "203.0.113.66"
OTHER = "198.51.100.7"
KIB = 1024


@pytest.fixture
def statsd():
    fake = FakeStatsd()
    yield fake
    fake.close()


async def _trickle(streams: list[tornado.iostream.IOStream], stop: asyncio.Event) -> None:
    """A few bytes on every connection every 0.1 s: never idle long enough to be cut."""
    while not stop.is_set():
        for stream in streams:
            if not stream.closed():
                try:
                    await stream.write(b"t" * 8)
                except tornado.iostream.StreamClosedError:
                    pass
        await asyncio.sleep(0.1)


def test_gate_reserves_arrived_bytes_and_caps_each_client():
    gate = UploadGate(max_per_client=0, max_inflight_bytes=1000, client_share=0.5)
    tickets = [gate.admit("flooder", 400) for _ in range(4)]  # 1600 promised: nothing reserved for it
    assert gate.inflight_bytes == 0
    for ticket in tickets[:2]:
        ticket.need(200)
    assert gate.inflight_bytes == 400 and gate.bytes_per_client["flooder"] == 400
    with pytest.raises(ClientShareFull):  # 400 held + 200 more > its 500
        tickets[2].need(200)
    with pytest.raises(ClientShareFull):  # nor may it start one that could not fit its share
        gate.admit("flooder", 200)
    other = gate.admit("other", 500)  # someone else still fits
    other.need(500)
    with pytest.raises(UploadCapacityFull):  # 900 in flight: the budget itself is nearly spent
        gate.admit("third", 200)
    tickets[0].shed()  # a refused body gives its bytes back at once, keeps its slot
    assert gate.inflight_bytes == 700 and gate.per_client["flooder"] == 4
    for ticket in [*tickets, other]:
        ticket.release()
    assert gate.inflight_bytes == 0 and not gate.bytes_per_client and not gate.per_client


@pytest.mark.parametrize("settings_overrides", [dict(
    behind_proxy=True, upload_max_inflight_bytes=1 << 20, upload_client_share=0.5, statsd_host="127.0.0.1")])
@pytest.mark.gen_test(timeout=60)
async def test_slow_uploads_from_one_address_do_not_starve_another(fetch, services, http_port, statsd):
    services.metrics.__init__("127.0.0.1", statsd.port, "tp")
    gate = services.limits.uploads
    # Four PUTs from one address promise 4 x 300 KiB (more than the 1 MiB budget), send 32 KiB, then trickle.
    slow = [await half_upload(http_port, b"s" * 32 * KIB, 300 * KIB, path=f"/slow-{i}.bin", method="PUT",
                              ctype="application/octet-stream", headers={"X-Real-IP": FLOODER})
            for i in range(4)]
    stop = asyncio.Event()
    trickler = asyncio.ensure_future(_trickle(slow, stop))
    try:
        assert await poll(lambda: gate.inflight_uploads == 4 and gate.inflight_bytes >= 4 * 32 * KIB), \
            (gate.inflight_uploads, gate.inflight_bytes)
        assert gate.inflight_bytes < 200 * KIB  # what arrived, not the 1.2 MB promised

        # Another address uploads normally: admitted and stored, not 503 upload_capacity.
        normal = await fetch("/normal.bin", method="PUT", body=b"n" * 400 * KIB,
                             headers={"Accept": "application/json", "X-Real-IP": OTHER})
        assert normal.code == 201, normal.body
        assert body_of(normal)["size"] == 400 * KIB

        # The flooder asking for more than its share is told about itself: 429 + Retry-After.
        more = await fetch("/more.bin", method="PUT", body=b"m" * 450 * KIB,
                           headers={"Accept": "application/json", "X-Real-IP": FLOODER})
        assert more.code == 429, more.body
        assert int(more.headers["Retry-After"]) >= 1
        assert json.loads(more.body) == {"error": {"code": "upload_client_share",
                                                   "message": json.loads(more.body)["error"]["message"]}}
        assert all(not stream.closed() for stream in slow)  # its slow uploads are still going
        assert await poll(lambda: statsd.count("upload.refused.client_share") >= 1)
    finally:
        stop.set()
        await trickler
        for stream in slow:
            stream.close()
    assert await poll(lambda: gate.inflight_uploads == 0 and gate.inflight_bytes == 0)


@pytest.mark.parametrize("settings_overrides", [dict(upload_idle_timeout=0.3, upload_min_rate=100,
                                                     upload_min_rate_ramp=0.3)])
@pytest.mark.gen_test(timeout=30)
async def test_trickle_above_the_floor_is_cut_as_the_required_rate_grows(server, services, http_port):
    # ~250 B/s: comfortably above the 100 B/s floor, which was enough to hold the connection for ever.
    stream = await half_upload(http_port, b"", 1_000_000, path="/trickle.bin", method="PUT",
                               ctype="application/octet-stream")
    reply = asyncio.ensure_future(stream.read_until_close())
    for _ in range(60):
        if reply.done():
            break
        try:
            await stream.write(b"t" * 25)
        except tornado.iostream.StreamClosedError:
            break
        await tornado.gen.sleep(0.1)
    assert reply.done(), "a trickle above the floor held its upload for 6 s"
    head, _, body = (await reply).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert json.loads(body)["error"]["code"] == "upload_too_slow"
    assert await poll(lambda: services.limits.uploads.inflight_uploads == 0)

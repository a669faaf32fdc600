"""Derivative flood (finding 3): unbounded /r/ variants, each stored for the parent's lifetime, and one client
taking the whole image executor.

Ten sizes near 4096² of a 12 KB PNG made 13 MB each, kept forever; 26 in parallel took the executor and
another client's ``/r/?w=32&h=32`` got 503. Now derivatives are a cache (a byte budget and a cap per parent,
least recently used evicted first, through the ingest path's remove), a request never enlarges the source
unless it says ``upscale=1``, the output area is capped, and each client has a share of the executor: past
it, that client gets 429 ``resize_busy`` while the others are still served.

Many clients are simulated through ``behind_proxy`` and ``X-Real-IP``.
"""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tests.conftest import body_of, path_of
from tests.imagegen import stripes_bytes
from tests.images.test_executor import wait_until
from tests.stores import ALL_BACKENDS, make_store
from tornado_paste.images import render as imaging
from tornado_paste.services import build_services

JSON = {"Accept": "application/json"}
# No traceback, no ERROR log: a flood is the client's problem, not ours.
pytestmark = pytest.mark.usefixtures("no_server_errors")


def client(address: str, **headers: str) -> dict[str, str]:
    return {"X-Real-IP": address, **headers}


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


@pytest.fixture
def services(io_loop, settings, store_kind, tmp_path):
    """The usual services, on the backend ``store_kind`` names (parametrized where every backend matters)."""
    svc = build_services(settings, store=make_store(store_kind, tmp_path))
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


@pytest.fixture
def clock(services):
    """The derivative cache's clock, moved by hand: ``clock[0] = t``."""
    now = [1_000_000.0]
    cache = getattr(services.images, "cache", None)  # (absent before the fix: the test then fails on what it checks)
    if cache is not None:
        cache.clock = lambda: now[0]
    return now


@pytest.fixture
def renders(monkeypatch):
    calls: list[imaging.ResizeRequest] = []
    original = imaging.render

    def counting(*args, **kwargs):
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(imaging, "render", counting)
    return calls


@pytest.fixture
def counters(services, monkeypatch):
    counts: dict[str, int] = {}
    original = services.metrics.incr

    def incr(name: str, count: int = 1) -> None:
        counts[name] = counts.get(name, 0) + count
        original(name, count)

    monkeypatch.setattr(services.metrics, "incr", incr)
    return counts


# filehash -> internal record id (cards carry no ids: they are not public).
_IDS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def remember_ids(request, monkeypatch):
    """Record the internal id of every file the test's server inserts, for the index assertions."""
    _IDS.clear()
    if "services" not in request.fixturenames:
        return
    store = request.getfixturevalue("services").store
    original = store.insert_file

    async def insert(record):
        saved = await original(record)
        _IDS[saved.filehash] = saved.id
        return saved

    monkeypatch.setattr(store, "insert_file", insert)


async def put_image(upload, data: bytes, name: str = "pic.png") -> dict:
    response = await upload(data, name)
    assert response.code in (200, 201), response.body
    return body_of(response)


async def derive(fetch, card: dict, query: str, address: str = "198.51.100.1") -> dict:
    response = await fetch(f"/r/{card['filehash']}?{query}", headers=client(address, **JSON))
    assert response.code in (200, 201), (query, response.code, response.body)
    return body_of(response)


async def assert_gone(services, fetch, card: dict) -> None:
    """The derivative's record, its blob file and every index entry pointing to it are gone."""
    assert await services.store.get_by_filehash(card["filehash"]) is None
    assert (await fetch(path_of(card["url_i"]))).code == 404
    sha = card["sha256"]
    assert not os.path.exists(services.blobs.path_for(sha)), "the evicted blob is still on disk"
    assert await services.store.derivatives.refs(_IDS[card["filehash"]]) == 0


async def assert_kept(services, card: dict) -> None:
    assert await services.store.get_by_filehash(card["filehash"]) is not None
    assert os.path.exists(services.blobs.path_for(card["sha256"]))


# -- fair scheduling ----------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"behind_proxy": True, "resize_workers": 3, "resize_max_pending": 4,
                                                 "resize_max_per_client": 2}])
@pytest.mark.gen_test(timeout=60)
async def test_a_flood_from_one_address_is_429_while_another_address_is_served(upload, fetch, services, counters,
                                                                               monkeypatch):
    parent = await put_image(upload, stripes_bytes("PNG", 1200, 1200))
    gate = threading.Event()
    original = imaging.render
    started: list[int] = []

    def slow_for_the_flood(*args, **kwargs):
        request = args[2]
        if request.w and request.w >= 1000:  # the flood's variants: held on the workers until the gate opens
            started.append(request.w)
            assert gate.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(imaging, "render", slow_for_the_flood)
    flooder = "203.0.113.66"
    try:
        flood = [asyncio.ensure_future(fetch(f"/r/{parent['filehash']}?w={1000 + i}&h={1000 + i}",
                                             headers=client(flooder, **JSON))) for i in range(12)]
        await wait_until(lambda: sum(f.done() for f in flood) == 10 and len(started) == 2, timeout=30)
        refused = [f.result() for f in flood if f.done()]
        for response in refused:
            assert response.code == 429, (response.code, response.body)
            assert body_of(response)["error"]["code"] == "resize_busy"
            assert int(response.headers["Retry-After"]) >= 1
        # The flooder still holds two workers; another address's small resize is served meanwhile.
        other = await fetch(f"/r/{parent['filehash']}?w=32&h=32", headers=client("198.51.100.7", **JSON))
        assert other.code == 201, (other.code, other.body)
        assert (body_of(other)["width"], body_of(other)["height"]) == (32, 32)
        assert services.images.executor.jobs_of(flooder) == 2
    finally:
        gate.set()
    served = await asyncio.gather(*flood)
    assert sorted(r.code for r in served) == [201] * 2 + [429] * 10
    assert counters["resize.refused.resize_busy"] == 10
    assert counters["executor.client_rejected"] == 10
    assert services.images.executor.outstanding == 0
    # Its share is back once its jobs are done.
    assert (await fetch(f"/r/{parent['filehash']}?w=64", headers=client(flooder, **JSON))).code == 201


# -- the cache: byte budget, LRU, per-parent cap --------------------------------------------------

@pytest.mark.parametrize("store_kind", ALL_BACKENDS)
@pytest.mark.gen_test(timeout=60)
async def test_the_byte_budget_evicts_the_least_recently_used_derivatives(upload, fetch, services, clock, renders,
                                                                           counters, store_kind):
    parent = await put_image(upload, stripes_bytes("PNG", 400, 400))
    made = {}
    for step, width in enumerate((100, 110, 120)):
        clock[0] = 1_000_000.0 + 1000 * step
        made[width] = await derive(fetch, parent, f"w={width}")
    sizes = {w: card["size"] for w, card in made.items()}
    # Room for these three and nothing more.
    budget = sum(sizes.values())
    if hasattr(services.images, "cache"):
        services.images.cache.max_bytes = budget
    # 100 is used again (an hour later: the use is recorded), so 110 is now the least recently used.
    clock[0] = 1_005_000.0
    assert (await derive(fetch, parent, "w=100"))["filehash"] == made[100]["filehash"]
    clock[0] = 1_006_000.0
    newest = await derive(fetch, parent, "w=90")  # smaller than 110: evicting 110 alone makes room
    assert len(renders) == 4
    await assert_gone(services, fetch, made[110])
    for kept in (made[100], made[120], newest):
        await assert_kept(services, kept)
    assert counters.get("resize.evicted.bytes", 0) >= 1
    assert await services.store.derivatives.total_bytes() <= budget
    # An evicted derivative is made again when asked for.
    clock[0] = 1_007_000.0
    again = await fetch(f"/r/{parent['filehash']}?w=110", headers=JSON)
    assert again.code == 201 and len(renders) == 5
    # The original is never evicted.
    await assert_kept(services, parent)


@pytest.mark.parametrize("settings_overrides", [{"resize_max_variants": 3}])
@pytest.mark.parametrize("store_kind", ALL_BACKENDS)
@pytest.mark.gen_test(timeout=60)
async def test_each_parent_keeps_at_most_its_cap_of_variants(upload, fetch, services, clock, counters, store_kind):
    parent = await put_image(upload, stripes_bytes("PNG", 400, 400))
    other = await put_image(upload, stripes_bytes("PNG", 300, 300), "other.png")
    other_card = await derive(fetch, other, "w=50")
    # A resize made at upload is the uploader's file (it has a delete token): pinned, never evicted.
    at_upload = await upload(stripes_bytes("PNG", 400, 400), "pic.png", fields={"w": "77"})
    assert at_upload.code == 201, at_upload.body
    pinned = body_of(at_upload)
    cards = []
    for step in range(5):
        clock[0] += 1000
        cards.append(await derive(fetch, parent, f"w={60 + step}"))
    # The two least recently used went; the three newest, the pinned one and the other parent's stay.
    for card in cards[:2]:
        await assert_gone(services, fetch, card)
    for card in (*cards[2:], pinned, other_card):
        await assert_kept(services, card)
    assert await services.store.derivatives.count(_IDS[parent["filehash"]]) == 3
    assert counters["resize.evicted.variants"] == 2
    assert (await fetch(path_of(pinned["url_i"]))).code == 200


@pytest.mark.gen_test
async def test_a_cache_hit_writes_its_use_at_most_once_a_minute(upload, fetch, services, clock, monkeypatch):
    parent = await put_image(upload, stripes_bytes("PNG"))
    await derive(fetch, parent, "w=40")
    touches = []
    original = getattr(services.store.derivatives, "touch", None)

    async def spy(*args, **kwargs):
        touches.append(args)
        return await original(*args, **kwargs)

    monkeypatch.setattr(services.store.derivatives, "touch", spy, raising=False)
    for _ in range(20):
        clock[0] += 2  # 40 s of hits in all
        await derive(fetch, parent, "w=40")
    assert touches == []
    clock[0] += 30
    await derive(fetch, parent, "w=40")
    await derive(fetch, parent, "w=40")
    assert len(touches) == 1


# -- output size ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [{"resize_max_output_pixels": 1_000_000}])
@pytest.mark.gen_test
async def test_no_upscaling_unless_asked_and_the_output_area_is_capped(upload, fetch, services, renders):
    small = await put_image(upload, stripes_bytes("PNG", 40, 20), "small.png")
    # Asked for more than the source: the source's size (the asked shape kept), one derivative for all such asks.
    clamped = await derive(fetch, small, "w=400")
    assert (clamped["width"], clamped["height"]) == (40, 20)
    for query in ("w=4000", "w=41", "h=2000", "w=400&h=200", "w=4096&h=2048"):
        assert (await derive(fetch, small, query))["filehash"] == clamped["filehash"], query
    assert len(renders) == 1
    shaped = await derive(fetch, small, "w=400&h=400")  # fill a square: the largest square the source holds
    assert (shaped["width"], shaped["height"]) == (20, 20)
    fit = await derive(fetch, small, "w=400&h=400&mode=fit")
    assert (fit["width"], fit["height"]) == (40, 20)
    # Asked to enlarge: it may, within the output area.
    big = await derive(fetch, small, "w=400&upscale=1")
    assert (big["width"], big["height"]) == (400, 200)
    renders.clear()
    response = await fetch(f"/r/{small['filehash']}?w=2000&upscale=1", headers=JSON)
    assert response.code == 400 and body_of(response)["error"]["code"] == "output_too_large"
    bad = await fetch(f"/r/{small['filehash']}?w=20&upscale=maybe", headers=JSON)
    assert bad.code == 400 and body_of(bad)["error"]["code"] == "bad_parameter"
    assert renders == []  # refused before any Pillow work
    # A large source may not be made into a derivative over the area either.
    large = await put_image(upload, stripes_bytes("PNG", 2000, 1000), "large.png")
    refused = await fetch(f"/r/{large['filehash']}?w=2000", headers=JSON)
    assert refused.code == 400 and body_of(refused)["error"]["code"] == "output_too_large"
    assert (await fetch(f"/r/{large['filehash']}?w=1000", headers=JSON)).code == 201

"""Images over HTTP: /r/ redirects and cards, caching, single-flight, refusals, upload-time resize."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tests.conftest import body_of, path_of
from tests.imagegen import BLUE, GREEN, RED, animated_gif, close, decode, png_claiming, rotated_jpeg, stripes_bytes
from tests.images.test_executor import RecordingMetrics, wait_until
from tornado_paste.images import render as imaging
from tornado_paste.services import build_image_service

JSON = {"Accept": "application/json"}


@pytest.fixture
def renders(monkeypatch):
    """Count every Pillow rendering (the executor job) the server runs."""
    calls = []
    original = imaging.render

    def counting(*args, **kwargs):
        # Pillow work must run on an image worker, never on the event loop's thread.
        assert threading.current_thread().name.startswith("images"), threading.current_thread().name
        calls.append(args[2])
        return original(*args, **kwargs)

    monkeypatch.setattr(imaging, "render", counting)
    return calls


async def uploaded(upload, data: bytes, name: str = "pic.png") -> dict:
    response = await upload(data, name)
    assert response.code in (200, 201), response.body
    return body_of(response)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.code == status, (response.code, response.body)
    assert response.headers["Content-Type"].startswith("application/json")
    error = body_of(response)["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


@pytest.mark.gen_test
async def test_images_get_width_and_height_at_upload(upload, monkeypatch):
    threads = []
    original = imaging.read_size

    def spy(path):
        threads.append(threading.current_thread().name)
        return original(path)

    monkeypatch.setattr(imaging, "read_size", spy)
    card = await uploaded(upload, stripes_bytes("PNG"))
    assert (card["width"], card["height"]) == (400, 200)
    assert card["url_r"].endswith("/r/" + card["filehash"])
    rotated = await uploaded(upload, rotated_jpeg(), "rot.jpg")
    assert (rotated["width"], rotated["height"]) == (100, 200)  # upright, as shown
    text = await uploaded(upload, b"just text\n", "a.txt")
    assert "width" not in text
    assert len(threads) == 2 and all(name.startswith("images") for name in threads)  # header reads off the loop


@pytest.mark.gen_test
async def test_resize_redirects_to_a_recorded_derivative(upload, fetch, renders):
    parent = await uploaded(upload, stripes_bytes("PNG"))
    response = await fetch(f"/r/{parent['filehash']}?w=100&h=100")
    assert response.code == 302
    assert "max-age" in response.headers["Cache-Control"]
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "/i/" in location
    image = await fetch(path_of(location))
    assert image.code == 200 and image.headers["Content-Type"] == "image/png"
    im = decode(image.body)
    assert im.size == (100, 100)
    assert close(im.getpixel((25, 50)), GREEN) and close(im.getpixel((75, 50)), BLUE)
    # Same parameters again: same file, no Pillow work.
    again = await fetch(f"/r/{parent['filehash']}?w=100&h=100", headers={"Accept": "image/webp,*/*"})
    assert again.code == 302 and again.headers["Location"] == location
    assert len(renders) == 1


@pytest.mark.gen_test
async def test_card_is_201_then_200_with_the_same_filehash(upload, fetch, renders, services):
    parent = await uploaded(upload, stripes_bytes("PNG"))
    url = f"/r/{parent['filehash']}?w=100&h=100&mode=fit&format=jpeg"
    first = await fetch(url, headers=JSON)
    assert first.code == 201, first.body
    card = body_of(first)
    assert first.headers["Location"] == card["url_api"]
    assert "parent_id" not in card and "id" not in card  # internal ids are never shown
    assert card["variant"] == {"w": 100, "h": 50, "mode": "fit", "format": "jpeg"}
    assert (card["width"], card["height"], card["mimetype"]) == (100, 50, "image/jpeg")
    assert card["filename"] == "pic_100x50.jpg"
    assert "delete_token" not in card
    second = await fetch(url, headers={"Accept": "application/msgpack"})
    assert second.code == 200 and second.headers["Content-Type"] == "application/msgpack"
    assert body_of(second)["filehash"] == card["filehash"]
    assert len(renders) == 1
    # The derivative is a real file: preview, raw, download, short link, metadata.
    for key in ("url_p", "url_i", "url_d", "url_api"):
        assert (await fetch(path_of(card[key]), headers=JSON)).code == 200, key
    short = await fetch(path_of(card["url_s"]))
    assert short.code == 302 and short.headers["Location"] == card["url_p"]
    # Other parameters are another derivative.
    other = await fetch(f"/r/{parent['filehash']}?w=40", headers=JSON)
    assert other.code == 201 and body_of(other)["filehash"] != card["filehash"]
    assert (body_of(other)["width"], body_of(other)["height"]) == (40, 20)
    assert len(renders) == 2


@pytest.mark.gen_test
async def test_derived_event_is_published(upload, fetch, services):
    events = []

    async def listen(kind, record):
        events.append((kind, record.filehash))

    services.ingestor.listeners.append(listen)
    parent = await uploaded(upload, stripes_bytes("PNG"))
    card = body_of(await fetch(f"/r/{parent['filehash']}?w=10", headers=JSON))
    assert events == [("file.created", parent["filehash"]), ("file.derived", card["filehash"])]


@pytest.mark.gen_test
async def test_single_flight_computes_once(upload, services, monkeypatch):
    """Five concurrent identical requests: one Pillow job, the other four join it."""
    parent_card = await uploaded(upload, stripes_bytes("PNG"))
    parent = await services.store.get_by_filehash(parent_card["filehash"])
    images = services.images
    metrics = RecordingMetrics()
    images.metrics = metrics
    gate = threading.Event()
    calls = []
    original = imaging.render

    def gated(*args, **kwargs):
        calls.append(1)
        assert gate.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(imaging, "render", gated)
    request = images.parse("30", "30", None, None)
    try:
        tasks = [asyncio.ensure_future(images.derive(parent, request)) for _ in range(5)]
        await wait_until(lambda: metrics.counts.get("resize.cache_hit", 0) == 4 and calls)
    finally:
        gate.set()
    results = await asyncio.gather(*tasks)
    assert len(calls) == 1
    assert len({r.record.filehash for r in results}) == 1
    assert sorted(r.created for r in results) == [False] * 4 + [True]
    assert metrics.counts["resize.count"] == 1


@pytest.mark.gen_test
async def test_second_process_reuses_the_first_writers_record(upload, services, monkeypatch):
    """Two services on one store (as two processes): the unique key makes the loser use the winner's file."""
    parent_card = await uploaded(upload, stripes_bytes("PNG"))
    parent = await services.store.get_by_filehash(parent_card["filehash"])
    first = await services.images.derive(parent, services.images.parse("50", None, None, "jpeg"))
    assert first.created
    # Its own flights and executor, same store and index.
    other = build_image_service(services.settings, services.store, services.ingestor, services.blobs,
                                services.metrics)
    monkeypatch.setattr(imaging, "JPEG_QUALITY", 60)  # so its bytes differ and ingest makes a new record
    request = other.parse("50", None, None, "jpeg")
    try:
        result = await other._make(parent, request, "jpeg", request.key("jpeg"))
    finally:
        await other.executor.aclose()
    assert result.record.id == first.record.id and not result.created
    latest = await services.store.latest(50)
    assert [r.id for r in latest if r.parent_id == parent.id] == [first.record.id]  # the copy was removed


@pytest.mark.gen_test
async def test_animated_gif_keeps_its_animation(upload, fetch):
    parent = await uploaded(upload, animated_gif(), "anim.gif")
    card = body_of(await fetch(f"/r/{parent['filehash']}?w=30&h=20", headers=JSON))
    assert card["mimetype"] == "image/gif"
    im = decode((await fetch(path_of(card["url_i"]))).body)
    assert im.n_frames == 3 and im.size == (30, 20)
    im.seek(2)
    assert close(im.convert("RGB").getpixel((5, 5)), BLUE)


@pytest.mark.gen_test
async def test_orientation_through_the_server(upload, fetch):
    parent = await uploaded(upload, rotated_jpeg(), "rot.jpg")
    card = body_of(await fetch(f"/r/{parent['filehash']}?w=50&format=png", headers=JSON))
    im = decode((await fetch(path_of(card["url_i"]))).body)
    assert im.size == (50, 100)
    assert close(im.getpixel((25, 10)), RED) and close(im.getpixel((25, 90)), BLUE)


@pytest.mark.parametrize("query", [
    "", "?w=", "?w=0&h=10", "?w=-1", "?h=abc", "?w=1.5", "?w=4097", "?w=10&mode=stretch", "?w=10&format=tiff",
    "?w=99999999999999999999",
])
@pytest.mark.gen_test
async def test_bad_parameters_are_400(upload, fetch, renders, query):
    parent = await uploaded(upload, stripes_bytes("PNG"))
    assert_error(await fetch(f"/r/{parent['filehash']}{query}"), 400, "bad_parameter")
    assert renders == []


@pytest.mark.gen_test
async def test_refusals_are_json_never_500(upload, fetch, services):
    text = await uploaded(upload, b"hello, not an image\n", "a.txt")
    assert_error(await fetch(f"/r/{text['filehash']}?w=10"), 415, "not_an_image")
    bmp = await uploaded(upload, b"BM" + b"\x00" * 60, "a.bmp")
    if bmp["mimetype"].startswith("image/"):
        assert_error(await fetch(f"/r/{bmp['filehash']}?w=10"), 415, "unsupported_image")
    jpeg = stripes_bytes("JPEG", 400, 200)
    truncated = await uploaded(upload, jpeg[: len(jpeg) // 2], "cut.jpg")
    assert truncated["mimetype"] == "image/jpeg"
    assert_error(await fetch(f"/r/{truncated['filehash']}?w=10"), 400, "corrupt_image")
    png = stripes_bytes("PNG")
    at = png.index(b"IDAT") + 4
    broken = png[:at] + b"\xff\xff" + png[at + 2:]  # valid header, damaged pixel data (zlib header)
    garbage = await uploaded(upload, broken, "bad.png")
    assert garbage["mimetype"] == "image/png"
    assert_error(await fetch(f"/r/{garbage['filehash']}?w=10", headers=JSON), 400, "corrupt_image")
    assert_error(await fetch("/r/0123456789abcdef.png?w=10"), 404)
    # A 2:1 image asked to grow to a 4000 px height keeps the ratio -> 8000 px wide: refused.
    wide = await uploaded(upload, stripes_bytes("PNG"))
    assert_error(await fetch(f"/r/{wide['filehash']}?h=4000&upscale=1"), 400, "bad_parameter")
    # No derivative was recorded by any refusal, and no staging file is left.
    assert [r for r in await services.store.latest(100) if r.parent_id is not None] == []
    assert os.listdir(services.blobs.tmp_dir) == []



@pytest.mark.parametrize("claim", [(30000, 30000), (8000, 8000)])
@pytest.mark.gen_test
async def test_bomb_is_refused_without_decoding(upload, fetch, decode_spy, claim):
    parent = await uploaded(upload, png_claiming(*claim), "bomb.png")
    assert parent["mimetype"] == "image/png"
    assert_error(await fetch(f"/r/{parent['filehash']}?w=100&h=100"), 400, "image_too_large")
    assert decode_spy == []  # neither the upload's header read nor the refusal decoded a pixel


@pytest.mark.parametrize("settings_overrides", [{"resize_workers": 1, "resize_max_pending": 0}])
@pytest.mark.gen_test
async def test_saturated_executor_is_503_with_retry_after(upload, fetch, services, renders):
    parent = await uploaded(upload, stripes_bytes("PNG"))
    gate = threading.Event()
    executor = services.images.executor
    blocker = asyncio.ensure_future(executor.run(gate.wait, 20))
    try:
        await wait_until(lambda: executor.outstanding == 1)
        response = await fetch(f"/r/{parent['filehash']}?w=10")
        assert_error(response, 503, "busy")
        assert int(response.headers["Retry-After"]) > 0
        assert renders == []
        # Uploads still work (without dimensions); a resize at upload is refused and leaves nothing.
        plain = await upload(stripes_bytes("PNG", 80, 40), "small.png")
        assert plain.code == 201 and body_of(plain)["width"] is None
        resized = await upload(stripes_bytes("PNG", 60, 40), "other.png", fields={"w": "10"})
        assert_error(resized, 503, "busy")
        assert len(await services.store.latest(10)) == 2  # the first parent and small.png
    finally:
        gate.set()
        await blocker
    assert (await fetch(f"/r/{parent['filehash']}?w=10")).code == 302


@pytest.mark.gen_test
async def test_resize_at_upload_answers_the_derivative(upload, fetch):
    response = await upload(stripes_bytes("PNG"), "pic.png", fields={"w": "100", "h": "100"})
    assert response.code == 201, response.body
    card = body_of(response)
    assert (card["width"], card["height"]) == (100, 100) and card["variant"]["mode"] == "fill"
    assert card["delete_token"]
    original = card["original"]
    assert original["filehash"] != card["filehash"] and (original["width"], original["height"]) == (400, 200)
    assert original["delete_token"] and original["delete_token"] != card["delete_token"]
    im = decode((await fetch(path_of(card["url_i"]))).body)
    assert im.size == (100, 100) and close(im.getpixel((25, 50)), GREEN)
    # The original is stored (and deduped as usual): the same bytes plus the same size give the same answer.
    again = await upload(stripes_bytes("PNG"), "pic.png", fields={"w": "100", "h": "100"})
    assert again.code == 200 and body_of(again)["filehash"] == card["filehash"]
    assert "delete_token" not in body_of(again)


@pytest.mark.gen_test
async def test_refused_resize_at_upload_leaves_nothing(upload, fetch, services):
    bad = await upload(stripes_bytes("PNG"), "pic.png", fields={"w": "0"})
    assert_error(bad, 400, "bad_parameter")
    text = await upload(b"plain text\n", "a.txt", fields={"w": "10", "h": "10"})
    assert_error(text, 415, "not_an_image")
    assert await services.store.latest(10) == []
    assert [n for _root, _dirs, files in os.walk(services.blobs.blob_dir) for n in files] == []


@pytest.mark.gen_test
async def test_deleting_the_original_deletes_its_derivatives(upload, fetch):
    parent = await uploaded(upload, stripes_bytes("PNG"))
    card = body_of(await fetch(f"/r/{parent['filehash']}?w=10", headers=JSON))
    deleted = await fetch(path_of(parent["url_api"]), method="DELETE",
                          headers={"X-Delete-Token": parent["delete_token"], **JSON})
    assert deleted.code == 200, deleted.body
    assert (await fetch(path_of(card["url_i"]))).code == 404
    assert (await fetch(f"/r/{parent['filehash']}?w=10")).code == 404

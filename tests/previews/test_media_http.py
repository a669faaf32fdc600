"""Posters, PDF thumbnails and cover art over HTTP: made once in the bounded executor, recorded as
derivatives (private and swept with their parent), shown on preview pages; media info read at upload."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from PIL import Image, ImageStat

from tests import mediagen
from tests.conftest import body_of, path_of
from tornado_paste.previews import posters

pytestmark = [pytest.mark.system, pytest.mark.usefixtures("media_tools")]
JSON = {"Accept": "application/json"}


async def uploaded(upload, data: bytes, name: str, **fields: str) -> dict:
    response = await upload(data, name, fields=fields or None)
    assert response.code == 201, response.body
    return body_of(response)


async def poster_of(fetch, card: dict) -> tuple[dict, Image.Image]:
    """The poster's card (JSON from /t/) and its decoded image (following the 302 to /i/)."""
    answer = await fetch(path_of(card["url_t"]), headers=JSON)
    assert answer.code in (200, 201), answer.body
    poster = body_of(answer)
    redirect = await fetch(path_of(card["url_t"]))
    assert redirect.code == 302 and redirect.headers["Location"] == poster["url_i"]
    raw = await fetch(path_of(poster["url_i"]))
    assert raw.code == 200 and raw.headers["Content-Type"] == "image/jpeg"
    return poster, Image.open(io.BytesIO(raw.body))


@pytest.fixture
def tool_threads(monkeypatch):
    """Thread names every poster job ran on (they must be the bounded executor's)."""
    seen = []
    for name in ("video_frame", "pdf_page", "audio_cover"):
        original = getattr(posters, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(threading.current_thread().name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(posters, name, spy)
    return seen


@pytest.mark.gen_test(timeout=120)
async def test_video_gets_duration_codecs_and_a_poster_that_is_not_the_black_first_frame(upload, fetch, tool_threads,
                                                                                         counted, services):
    card = await uploaded(upload, mediagen.video_mp4(seconds=4, dark_first=1.0), "clip.mp4")
    assert card["type"] == "video" and (card["width"], card["height"]) == (320, 240)
    assert card["media"]["video_codec"] == "h264" and card["media"]["audio_codec"] == "aac"
    assert 3.9 <= card["media"]["duration"] <= 4.1
    assert counted["probe.video.count"] == 1
    poster, image = await poster_of(fetch, card)
    assert image.size == (320, 240) and (poster["width"], poster["height"]) == (320, 240)
    # The test pattern, not the black second it opens with: bright and colourful.
    stat = ImageStat.Stat(image.convert("RGB"))
    assert sum(stat.mean) / 3 > 60 and max(stat.stddev) > 40
    assert poster["variant"] == {"preview": "poster", "w": 320, "h": 240, "format": "jpeg"}
    # Cards name no parent (ids are internal): the store says the poster is the video's derivative.
    poster_record = await services.store.get_by_filehash(poster["filehash"])
    assert poster_record.parent_id == (await services.store.get_by_filehash(card["filehash"])).id
    assert poster["filename"] == "clip_poster.jpg"
    assert tool_threads == ["images_0"] or all(t.startswith("images") for t in tool_threads)
    # Cached: asking again runs no tool.
    again = body_of(await fetch(path_of(card["url_t"]), headers=JSON))
    assert again["filehash"] == poster["filehash"] and len(tool_threads) == 1
    assert counted["preview.poster.count"] == 1 and counted["preview.poster.cache_hit"] >= 1
    assert counted["preview.poster.duration:timed"] == 1 and counted["probe.video.duration:timed"] == 1


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_poster_requests_share_one_run(upload, fetch, tool_threads):
    card = await uploaded(upload, mediagen.webm_video(), "clip.webm")
    answers = await asyncio.gather(*(fetch(path_of(card["url_t"]), headers=JSON) for _ in range(5)))
    assert {body_of(a)["filehash"] for a in answers} == {body_of(answers[0])["filehash"]}
    assert sorted(a.code for a in answers) == [200, 200, 200, 200, 201]
    assert len(tool_threads) == 1


@pytest.mark.gen_test(timeout=120)
async def test_pdf_thumbnail_is_the_first_page_and_the_page_count_is_read(upload, fetch):
    card = await uploaded(upload, mediagen.pdf_pages(3), "slides.pdf")
    assert card["media"]["pages"] == 3 and card["media"]["page_width"] == 420
    poster, image = await poster_of(fetch, card)
    assert max(image.size) == 1280 and poster["variant"]["preview"] == "thumbnail"
    red = image.convert("RGB").getpixel((10, 10))
    band = image.convert("RGB").getpixel((image.width // 2, image.height * 145 // 297))
    assert red[0] > 150 and red[2] < 80, red  # page 1 is red (pages 2 and 3 are blue)
    assert min(band) > 230, band  # with its white band


@pytest.mark.gen_test(timeout=120)
async def test_audio_duration_and_cover_art(upload, fetch):
    card = await uploaded(upload, mediagen.audio_mp3(cover=True), "song.mp3")
    assert card["type"] == "audio" and card["media"]["cover"] is True and card["media"]["audio_codec"] == "mp3"
    assert 2.9 <= card["media"]["duration"] <= 3.2
    poster, image = await poster_of(fetch, card)
    assert image.size == (300, 300) and poster["variant"]["preview"] == "cover"
    assert image.convert("RGB").getpixel((10, 10))[0] > 180 and image.convert("RGB").getpixel((150, 150))[2] > 150
    bare = await uploaded(upload, mediagen.audio_mp3(cover=False), "bare.mp3")
    assert "url_t" not in bare and "cover" not in bare["media"]
    missing = await fetch(f"/t/{bare['filehash']}")
    assert missing.code == 404 and body_of(missing)["error"]["code"] == "no_cover_art"


@pytest.mark.gen_test(timeout=120)
async def test_posters_of_private_files_are_private_and_go_with_their_parent(upload, fetch, services):
    card = await uploaded(upload, mediagen.video_mp4(), "secret.mp4", private="1")
    poster, _image = await poster_of(fetch, card)
    assert poster["private"] is True and poster["expires_at"] == card["expires_at"]
    listed = body_of(await fetch("/api/v1/files?limit=50", headers=JSON))
    assert poster["filehash"] not in {f["filehash"] for f in listed["files"]}
    deleted = await fetch(path_of(card["url_api"]), method="DELETE", headers={"X-Delete-Token": card["delete_token"]})
    assert deleted.code in (200, 204)
    for _ in range(100):
        if (await fetch(path_of(poster["url_i"]))).code == 404:
            break
        await asyncio.sleep(0.05)
    assert (await fetch(path_of(poster["url_i"]))).code == 404
    assert await services.store.get_by_filehash(poster["filehash"]) is None


@pytest.mark.gen_test(timeout=120)
async def test_types_without_a_preview_are_415(upload, fetch):
    card = await uploaded(upload, b"just words\n", "notes.txt")
    assert "url_t" not in card
    refused = await fetch(f"/t/{card['filehash']}")
    assert refused.code == 415 and body_of(refused)["error"]["code"] == "no_preview"


@pytest.mark.gen_test(timeout=120)
async def test_the_preview_page_shows_the_poster_and_the_details(upload, fetch):
    card = await uploaded(upload, mediagen.video_mp4(), "page.mp4")
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    poster = body_of(await fetch(path_of(card["url_t"]), headers=JSON))
    assert f'poster="{poster["url_i"]}"' in page
    assert '<dd class="duration">0:04</dd>' in page and "h264 / aac" in page
    pdf = await uploaded(upload, mediagen.pdf_pages(2), "two.pdf")
    assert '<dd class="pages">2</dd>' in (await fetch(path_of(pdf["url_p"]))).body.decode()


@pytest.mark.gen_test(timeout=120)
async def test_posters_expire_and_are_swept_with_their_parent(upload, fetch, services):
    from datetime import timedelta

    from tornado_paste.core.records import utcnow

    card = await uploaded(upload, mediagen.pdf_pages(1), "short.pdf", expires="1h")
    poster, _image = await poster_of(fetch, card)
    assert poster["expires_at"] == card["expires_at"]
    for filehash in (card["filehash"], poster["filehash"]):
        record = await services.store.get_by_filehash(filehash)
        await services.store.expiry.set_expiry(record.id, utcnow() - timedelta(seconds=5))
    report = await services.retention.sweeper.sweep_expired()
    assert report.records == 2
    assert (await fetch(path_of(poster["url_i"]))).code == 404 and (await fetch(path_of(card["url_i"]))).code == 404


@pytest.mark.gen_test(timeout=60)
async def test_posters_count_in_the_derivative_cache_budget(upload, fetch, services):
    """A poster is a derivative like a resize: its bytes are in the cache's total, and the budget evicts it."""
    card = await uploaded(upload, mediagen.pdf_pages(2), "doc.pdf")
    poster, _image = await poster_of(fetch, card)
    parent = await services.store.get_by_filehash(card["filehash"])
    assert await services.store.derivatives.total_bytes() == poster["size"]
    assert await services.store.derivatives.count(parent.id) == 1
    # With a budget smaller than one poster and a second derivative of the same file, the older one goes.
    services.images.cache.max_bytes = 1
    resized = await fetch(f"/r/{poster['filehash']}?w=20", headers={"Accept": "application/json"})
    assert resized.code in (200, 201)
    assert await services.store.get_by_filehash(poster["filehash"]) is None  # evicted: least recently used

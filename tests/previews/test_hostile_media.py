"""Hostile media: truncated and looping videos, PDFs with huge pages or image bombs, frames over the
pixel limit, tools starved of memory or time. Each is stored (it is a file like any other) and its
preview refused cleanly (422 with a code) within the limits; the server keeps serving."""

from __future__ import annotations

import time

import pytest

from tests import mediagen
from tests.conftest import body_of
from tests.previews.test_media_http import uploaded

pytestmark = [pytest.mark.system, pytest.mark.usefixtures("media_tools")]


def refused(response, code: str | None = None) -> str:
    assert response.code == 422, (response.code, response.body)
    error = body_of(response)["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error["code"]


@pytest.mark.gen_test(timeout=120)
async def test_a_truncated_video_without_its_index_is_refused_at_once(upload, fetch, counted):
    whole = mediagen.video_mp4()  # faststart: ftyp, then the index (moov), then the frames
    cut = whole[: whole.index(b"moov") - 4] + b"\0" * 64 + whole[-2000:]  # the index gone, some frames left
    card = await uploaded(upload, cut, "cut.mp4")
    assert "duration" not in card.get("media", {})
    assert counted.get("probe.video.refused.corrupt_media") == 1
    started = time.monotonic()
    refused(await fetch(f"/t/{card['filehash']}"), "corrupt_media")
    assert time.monotonic() - started < 2  # remembered from the upload: no tool run again
    assert counted["preview.poster.refused.corrupt_media"] == 1


@pytest.mark.gen_test(timeout=120)
async def test_a_video_cut_in_the_middle_gets_a_poster_or_a_clean_refusal(upload, fetch):
    card = await uploaded(upload, mediagen.truncated(mediagen.video_mp4(seconds=4), 0.5), "half.mp4")
    answer = await fetch(f"/t/{card['filehash']}", headers={"Accept": "application/json"})
    assert answer.code in (200, 201) or refused(answer)


@pytest.mark.gen_test(timeout=120)
async def test_a_looping_stream_is_bounded(upload, fetch):
    # One second of MPEG program stream repeated 60 times: the timestamps jump back at every repeat.
    segment = mediagen._ffmpeg("-f", "lavfi", "-i", "testsrc=s=160x120:d=1:r=10", "-c:v", "mpeg2video", "-f", "mpeg",
                               "mpg")
    card = await uploaded(upload, segment * 60, "loop.mpg")
    assert card["mimetype"] == "video/mpeg"
    started = time.monotonic()
    answer = await fetch(f"/t/{card['filehash']}", headers={"Accept": "application/json"})
    assert answer.code in (200, 201) or refused(answer)
    assert time.monotonic() - started < 25  # preview_tool_timeout (20 s) at most


@pytest.mark.parametrize("settings_overrides", [{"preview_tool_timeout": 0.3}])
@pytest.mark.gen_test(timeout=120)
async def test_a_tool_out_of_time_is_refused_within_the_limit(upload, fetch, counted):
    started = time.monotonic()
    card = await uploaded(upload, mediagen.pdf_image_bomb(20000), "bomb.pdf")
    assert time.monotonic() - started < 10
    code = refused(await fetch(f"/t/{card['filehash']}"))
    assert code in ("media_timeout", "media_too_large")
    assert time.monotonic() - started < 15
    assert (await fetch("/healthz")).code == 200


@pytest.mark.parametrize("settings_overrides", [{"preview_tool_memory_bytes": 64 << 20}])
@pytest.mark.gen_test(timeout=120)
async def test_a_tool_out_of_memory_is_refused(upload, fetch, counted):
    card = await uploaded(upload, mediagen.video_mp4(), "big.mp4")
    assert counted.get("probe.video.refused.media_too_large") == 1
    refused(await fetch(f"/t/{card['filehash']}"), "media_too_large")


@pytest.mark.gen_test(timeout=120)
async def test_a_pdf_with_a_huge_page_is_refused(upload, fetch):
    card = await uploaded(upload, mediagen.pdf_by_hand("0 0 10000000 10000000"), "poster.pdf")
    refused(await fetch(f"/t/{card['filehash']}"), "media_too_large")


@pytest.mark.gen_test(timeout=120)
async def test_a_pdf_image_bomb_is_drawn_within_the_limits(upload, fetch):
    card = await uploaded(upload, mediagen.pdf_image_bomb(20000), "bomb.pdf")
    started = time.monotonic()
    answer = await fetch(f"/t/{card['filehash']}", headers={"Accept": "application/json"})
    # Poppler streams the image at the thumbnail's scale (about 20 MiB, 2-3 s here): a small thumbnail,
    # or a refusal if the machine is too slow for the time limit.
    if answer.code == 422:
        refused(answer, "media_timeout")
    else:
        assert answer.code == 201 and max(body_of(answer)["width"], body_of(answer)["height"]) <= 1280
    assert time.monotonic() - started < 25


@pytest.mark.parametrize("settings_overrides", [{"resize_max_source_pixels": 100_000}])
@pytest.mark.gen_test(timeout=120)
async def test_frames_over_the_pixel_limit_are_refused_before_decoding(upload, fetch, counted):
    card = await uploaded(upload, mediagen.video_mp4(size="640x480"), "wide.mp4")
    assert counted.get("probe.video.refused.media_too_large") == 1
    refused(await fetch(f"/t/{card['filehash']}"), "media_too_large")
    assert "preview.poster.count" not in counted

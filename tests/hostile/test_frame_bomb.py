"""Animated-image frame bombs: many tiny frames, or frames that stick out of a 1x1 header.

A 4.6 MB GIF of 200,000 frames of 1x1 px, resized with ``?w=1&h=1&format=gif``, used to cost
83 s of CPU and take the server from 62 to 726 MB of RSS: the budget frames x pixels let tiny
frames be unlimited, and every resized frame was kept in a list. The frames are now counted
from the file's block structure before any is decoded (stopping at the cap + 1), and refused
with 422 ``image_too_many_frames``.
"""

from __future__ import annotations

import io
import json
import threading
import time

import psutil
import pytest
from PIL import Image

from settings import Settings
from tests.helpers import ServerProcess
from tests.hostile.framebomb import gif_frame_bomb
from tests.hostile_support import check_integrity, error_of, http_call
from tests.imagegen import BLUE, GREEN, RED, animated_gif, close, decode, encode
from tornado_paste.images import render as imaging
from tornado_paste.images.render import ImageTooLarge, ResizeRequest, TooManyFrames

JSON = {"Accept": "application/json"}
RSS_LIMIT = 300 << 20
REQUEST_TIMEOUT = 30.0


class PeakRSS:
    """The highest RSS of a process, sampled every 10 ms from a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.start = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("framebomb") / "data").start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log(), srv.log()[-3000:]
    check_integrity(srv.data_dir)


def put(server: ServerProcess, name: str, data: bytes) -> dict:
    status, _, body = http_call(server.port, "PUT", f"/{name}", data, JSON)
    assert status in (200, 201), body[:300]
    return json.loads(body)


@pytest.mark.parametrize("query", ["w=1&h=1&format=gif", "w=1&h=1&format=webp", "w=1&h=1"])
def test_200k_frame_gif_is_refused_early_with_bounded_memory(server, query):
    card = put(server, "bomb.gif", gif_frame_bomb(200_000))
    rss = PeakRSS(server.proc.pid)
    with rss:
        try:
            status, headers, body = http_call(server.port, "GET", f"/r/{card['filehash']}?{query}", None, JSON,
                                              timeout=REQUEST_TIMEOUT)
        except TimeoutError:
            status = headers = body = None
    grown = (rss.peak - rss.start) >> 20
    assert rss.peak < RSS_LIMIT, f"server RSS peaked at {rss.peak >> 20} MB (+{grown} MB)"
    assert status is not None, f"no answer within {REQUEST_TIMEOUT}s"
    assert status == 422, body[:300]
    error = error_of(status, headers["content-type"], body)
    assert error["code"] == "image_too_many_frames", error
    assert "1000" in error["message"]


def test_a_real_animation_still_resizes_and_stays_animated(server):
    card = put(server, "anim.gif", animated_gif())
    status, _, body = http_call(server.port, "GET", f"/r/{card['filehash']}?w=30&h=20", None, JSON)
    assert status in (200, 201), body[:300]
    derived = json.loads(body)
    status, _, data = http_call(server.port, "GET", f"/i/{derived['filehash']}")
    im = decode(data)
    assert im.n_frames == 3 and im.size == (30, 20)
    for index, colour in enumerate((RED, GREEN, BLUE)):
        im.seek(index)
        assert close(im.convert("RGB").getpixel((15, 10)), colour)
        assert im.info["duration"] == (100, 200, 300)[index]


# -- the limits themselves, on imaging.render -----------------------------------------------------
def render(tmp_path, data: bytes, fmt: str = "gif", **limits):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    args = dict(max_pixels=50_000_000, max_side=4096)
    args.update(limits)
    return imaging.render(str(src), str(dst), ResizeRequest(1, 1), fmt, **args)


def test_frames_are_counted_without_decoding_and_the_count_stops_at_the_cap(tmp_path, decode_spy):
    path = tmp_path / "bomb.gif"
    path.write_bytes(gif_frame_bomb(200_000))
    assert imaging.scan_gif(str(path), 1000).frames == 1001
    assert imaging.scan_gif(str(path), 10**9).frames == 200_000
    with pytest.raises(TooManyFrames):
        render(tmp_path, gif_frame_bomb(200_000))
    assert len(decode_spy) <= 1, decode_spy  # at most the first frame, never the animation


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_the_frame_cap_is_a_setting(tmp_path, fmt):
    assert render(tmp_path, gif_frame_bomb(40), fmt, max_frames=40).frames == 40
    with pytest.raises(TooManyFrames):
        render(tmp_path, gif_frame_bomb(41), fmt, max_frames=40)
    settings = Settings.from_env({"TORNADO_PASTE_RESIZE_MAX_FRAMES": "40",
                                  "TORNADO_PASTE_RESIZE_MAX_ANIMATION_PIXELS": "12345"})
    assert (settings.resize_max_frames, settings.resize_max_animation_pixels) == (40, 12345)
    assert Settings().resize_max_frames == 1000


def test_webp_animations_are_capped_too(tmp_path):
    frames = [Image.new("RGB", (2, 2), (i * 8, 0, 0)) for i in range(30)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=20, lossless=True)
    assert render(tmp_path, data, "webp", max_frames=30).frames == 30
    with pytest.raises(TooManyFrames):
        render(tmp_path, data, "webp", max_frames=29)


def test_frames_sticking_out_of_a_1x1_header_count_at_the_canvas_they_need(tmp_path, decode_spy):
    """Pillow grows the canvas for a frame outside the header's size, and decodes every later frame
    at that size: 4 frames at (3999, 3999) are 4 x 16 Mpx of work behind a 1x1 header."""
    data = gif_frame_bomb(4, offset=(3999, 3999))
    scan = imaging.scan_gif(_write(tmp_path, data), 1000)
    assert (scan.frames, scan.width, scan.height) == (4, 4000, 4000)
    with pytest.raises(ImageTooLarge):
        render(tmp_path, data, max_animation_pixels=50_000_000)
    assert not any(w * h > 1 for w, h in decode_spy), decode_spy


def test_the_caps_hold_while_decoding_even_if_the_count_was_wrong(tmp_path, monkeypatch):
    """The scan is the early refusal; the decoder loop enforces the same caps on what Pillow produces."""
    monkeypatch.setattr(imaging, "scan_animation", lambda im, path, cap: imaging.FrameScan(2, 1, 1))
    with pytest.raises(TooManyFrames):
        render(tmp_path, gif_frame_bomb(50), max_frames=10)
    with pytest.raises(ImageTooLarge):
        render(tmp_path, gif_frame_bomb(50), max_animation_pixels=20)


def _write(tmp_path, data: bytes) -> str:
    path = tmp_path / "scan.gif"
    path.write_bytes(data)
    return str(path)


def test_frame_bomb_bytes_are_a_valid_gif():
    im = Image.open(io.BytesIO(gif_frame_bomb(5)))
    assert im.size == (1, 1) and im.n_frames == 5 and im.info["loop"] == 0
    started = time.monotonic()
    assert len(gif_frame_bomb(200_000)) == 4_600_039
    assert time.monotonic() - started < 5  # generated, not encoded

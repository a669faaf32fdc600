"""tornado_paste.images.render: sizes AND pixels for every mode and format, limits, modes, metadata."""

from __future__ import annotations

import pytest
from PIL import Image, JpegImagePlugin

from tests.imagegen import (
    BLUE,
    GREEN,
    RED,
    STRIPES,
    YELLOW,
    animated_gif,
    close,
    decode,
    encode,
    exif_with,
    png_claiming,
    rotated_jpeg,
    stripes,
    stripes_bytes,
)
from tornado_paste.images import render as imaging
from tornado_paste.images.render import BadResize, CorruptImage, ImageTooLarge, ResizeRequest

MAX_PIXELS = 50_000_000
MAX_SIDE = 4096


def run(tmp_path, data: bytes, request: ResizeRequest, fmt: str, max_pixels: int = MAX_PIXELS):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    rendered = imaging.render(str(src), str(dst), request, fmt, max_pixels, MAX_SIDE)
    out = dst.read_bytes()
    return rendered, out, decode(out)


# Source 400x200 with stripes R,G,B,Y (100 px each).
# fill 100x100: scale 0.5, centre box x 100..300 -> G | B.   fit 100x100: 100x50 with all four stripes.
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
def test_fill_crops_the_centre_to_the_exact_size(tmp_path, fmt):
    rendered, _data, im = run(tmp_path, stripes_bytes("PNG"), ResizeRequest(100, 100, "fill"), fmt)
    assert (rendered.width, rendered.height) == im.size == (100, 100)
    assert im.format == imaging.OUTPUT_FORMATS[fmt][0]
    rgb = im.convert("RGB")
    assert close(rgb.getpixel((25, 50)), GREEN)
    assert close(rgb.getpixel((75, 50)), BLUE)
    assert not close(rgb.getpixel((2, 50)), RED, 100)  # the red stripe was cropped away


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
def test_fit_keeps_everything_inside_the_box(tmp_path, fmt):
    rendered, _data, im = run(tmp_path, stripes_bytes("PNG"), ResizeRequest(100, 100, "fit"), fmt)
    assert im.size == (100, 50) == (rendered.width, rendered.height)
    rgb = im.convert("RGB")
    for index, colour in enumerate(STRIPES):
        assert close(rgb.getpixel((index * 25 + 12, 25)), colour), (index, rgb.getpixel((index * 25 + 12, 25)))


@pytest.mark.parametrize("request_, size", [
    (ResizeRequest(200, None), (200, 100)),
    (ResizeRequest(None, 50), (100, 50)),
    (ResizeRequest(200, None, "fit"), (200, 100)),
    (ResizeRequest(800, 400, "fit", upscale=True), (800, 400)),  # asked to, fit may enlarge, up to the max side
    (ResizeRequest(50, 300, "fill", upscale=True), (50, 300)),
    # Not asked to: never larger than the source, the asked shape scaled down until a side meets the source's.
    (ResizeRequest(800, 400, "fit"), (400, 200)),
    (ResizeRequest(50, 300, "fill"), (33, 200)),
    (ResizeRequest(4000, None), (400, 200)),
    (ResizeRequest(None, 201), (400, 200)),
])
def test_one_side_follows_the_aspect_ratio(tmp_path, request_, size):
    _rendered, _data, im = run(tmp_path, stripes_bytes("PNG"), request_, "png")
    assert im.size == size


def test_jpeg_source_uses_the_draft_fast_path_and_gets_the_right_pixels(tmp_path, monkeypatch):
    drafts = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafts.append(self.size)  # what libjpeg will actually decode
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    _r, _data, im = run(tmp_path, stripes_bytes("JPEG", 2000, 1000, quality=95), ResizeRequest(200, None), "jpeg")
    # 2000x1000 -> 200x100: DCT scaling decodes at 1/4 (500x250, still >= 2x the output).
    assert drafts == [(500, 250)], "JPEG sources must be decoded with draft()"
    assert im.size == (200, 100)
    assert im.info.get("progressive") or im.info.get("progression"), "JPEG output is progressive"
    for index, colour in enumerate(STRIPES):
        assert close(im.getpixel((index * 50 + 25, 50)), colour)


def test_exif_orientation_is_applied(tmp_path):
    src = tmp_path / "rot.jpg"
    src.write_bytes(rotated_jpeg())
    assert imaging.read_size(str(src)) == (100, 200)
    _r, _data, im = run(tmp_path, rotated_jpeg(), ResizeRequest(50, None), "png")
    assert im.size == (50, 100)
    assert close(im.getpixel((25, 10)), RED)
    assert close(im.getpixel((25, 90)), BLUE)


def test_metadata_is_stripped(tmp_path):
    source = encode(stripes(), "JPEG", exif=exif_with(1, gps=True), comment=b"secret place")
    assert b"secret place" in source and b"CameraMaker" in source
    for fmt in ("jpeg", "png", "webp"):
        _r, data, im = run(tmp_path, source, ResizeRequest(40, 20), fmt)
        assert b"CameraMaker" not in data and b"secret place" not in data
        assert not im.getexif()
        assert "exif" not in im.info and "comment" not in im.info


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (40, 40), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (20, 0, 40, 40))
    source = encode(im, "PNG", transparency=1)  # right half transparent
    _r, _d, png = run(tmp_path, source, ResizeRequest(20, 20), "png")
    assert png.mode == "RGBA"
    assert close(png.getpixel((3, 10)), (255, 0, 0, 255))
    assert png.getpixel((17, 10))[3] == 0
    _r, _d, gif = run(tmp_path, source, ResizeRequest(20, 20), "gif")
    assert close(gif.convert("RGBA").getpixel((3, 10)), (255, 0, 0, 255))
    assert gif.convert("RGBA").getpixel((17, 10))[3] == 0
    _r, _d, jpg = run(tmp_path, source, ResizeRequest(20, 20), "jpeg")
    assert jpg.mode == "RGB"
    assert close(jpg.getpixel((3, 10)), RED)
    assert close(jpg.getpixel((17, 10)), (255, 255, 255))  # transparent -> white, not black


def test_grey_with_alpha(tmp_path):
    im = Image.new("LA", (40, 20), (0, 255))
    im.paste((0, 0), (20, 0, 40, 20))
    source = encode(im, "PNG")
    _r, _d, png = run(tmp_path, source, ResizeRequest(20, 10), "png")
    assert png.mode == "LA" and png.getpixel((3, 5)) == (0, 255) and png.getpixel((17, 5))[1] == 0
    _r, _d, jpg = run(tmp_path, source, ResizeRequest(20, 10), "jpeg")
    assert jpg.mode == "L" and jpg.getpixel((3, 5)) < 30 and jpg.getpixel((17, 5)) > 225


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    source = encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", quality=95)  # red in CMYK
    for fmt in ("jpeg", "png", "webp"):
        _r, _d, im = run(tmp_path, source, ResizeRequest(20, 20), fmt)
        assert im.mode in ("RGB", "RGBA")
        assert close(im.convert("RGB").getpixel((10, 10)), RED)


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    im = Image.frombytes("I;16", (40, 20), (0x8000).to_bytes(2, "little") * 800)
    _r, _d, out = run(tmp_path, encode(im, "PNG"), ResizeRequest(20, None), "png")
    assert out.mode == "L" and out.size == (20, 10)
    assert abs(out.getpixel((10, 5)) - 128) <= 1


def test_one_bit_image(tmp_path):
    im = Image.new("1", (40, 20), 0)
    im.paste(1, (20, 0, 40, 20))
    _r, _d, out = run(tmp_path, encode(im, "PNG"), ResizeRequest(20, 10), "png")
    assert out.getpixel((3, 5)) < 20 and out.getpixel((17, 5)) > 235


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animation_is_kept_frame_by_frame(tmp_path, fmt):
    rendered, _d, im = run(tmp_path, animated_gif(), ResizeRequest(30, 20), fmt)
    assert rendered.frames == 3
    assert im.n_frames == 3 and im.size == (30, 20)
    for index, colour in enumerate((RED, GREEN, BLUE)):
        im.seek(index)
        assert close(im.convert("RGB").getpixel((15, 10)), colour)
        assert im.info.get("duration") == (100, 200, 300)[index]


def test_animation_to_jpeg_is_its_first_frame(tmp_path):
    rendered, _d, im = run(tmp_path, animated_gif(), ResizeRequest(30, 20), "jpeg")
    assert rendered.frames == 1 and im.size == (30, 20)
    assert close(im.getpixel((15, 10)), RED)


def test_animation_over_the_pixel_budget_is_refused(tmp_path):
    # 3 frames x 60x40 = 7200 px; a budget of 5000 admits the first frame only.
    with pytest.raises(ImageTooLarge):
        run(tmp_path, animated_gif(), ResizeRequest(30, 20), "gif", max_pixels=5000)


def test_webp_source(tmp_path):
    _r, _d, im = run(tmp_path, stripes_bytes("WEBP", quality=95), ResizeRequest(100, 100), "png")
    assert im.size == (100, 100)
    assert close(im.getpixel((25, 50)), GREEN) and close(im.getpixel((75, 50)), BLUE)



@pytest.mark.parametrize("claim", [(30000, 30000), (8000, 8000)])
def test_bomb_is_refused_from_the_header_without_decoding(tmp_path, decode_spy, claim):
    """(30000x30000 trips Pillow's own bomb guard; 8000x8000 = 64 MP only our 50 MP limit.)"""
    bomb = png_claiming(*claim)
    assert len(bomb) < 100
    with pytest.raises(ImageTooLarge):
        run(tmp_path, bomb, ResizeRequest(100, 100), "png")
    assert decode_spy == []
    assert not (tmp_path / "dst").exists()


def test_header_read_never_decodes(tmp_path, decode_spy):
    for name, data in (("a.png", stripes_bytes("PNG")), ("b.jpg", rotated_jpeg()), ("c.png", png_claiming(8000, 8000))):
        (tmp_path / name).write_bytes(data)
    assert imaging.read_size(str(tmp_path / "a.png")) == (400, 200)
    assert imaging.read_size(str(tmp_path / "b.jpg")) == (100, 200)
    assert imaging.read_size(str(tmp_path / "c.png")) == (8000, 8000)
    assert decode_spy == []


def test_pillow_bomb_warning_is_an_error():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # what imaging installs at import
        with pytest.raises(Image.DecompressionBombWarning):
            warnings.warn("x", Image.DecompressionBombWarning, stacklevel=1)


def test_truncated_and_garbage_images_are_corrupt(tmp_path):
    jpeg = stripes_bytes("JPEG", 400, 200)
    with pytest.raises(CorruptImage):
        run(tmp_path, jpeg[: len(jpeg) // 2], ResizeRequest(50, 50), "jpeg")
    with pytest.raises(CorruptImage):
        run(tmp_path, b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, ResizeRequest(50, 50), "png")
    assert imaging.read_size(str(tmp_path / "src")) is None


@pytest.mark.parametrize("w, h, mode, fmt", [
    (None, None, None, None), ("", "", None, None), ("0", "10", None, None), ("-5", None, None, None),
    ("abc", None, None, None), ("1.5", None, None, None), ("4097", None, None, None), (None, "99999999999", None, None),
    ("10", "10", "stretch", None), ("10", "10", None, "bmp"), ("\uff11\uff10", None, None, None),
])
def test_bad_parameters(w, h, mode, fmt):
    with pytest.raises(BadResize):
        imaging.parse_request(w, h, mode, fmt, MAX_SIDE)


def test_parameters_and_keys():
    req = imaging.parse_request("100", None, "FIT", "JPG", MAX_SIDE)
    assert req == ResizeRequest(100, None, "fit", "jpeg")
    assert req.key("jpeg") == "w=100&h=&mode=fit&format=jpeg"
    assert imaging.output_format_for(ResizeRequest(1, 1), "image/png") == "png"
    with pytest.raises(imaging.NotAnImage):
        imaging.output_format_for(ResizeRequest(1, 1), "text/plain")
    with pytest.raises(imaging.UnsupportedImage):
        imaging.output_format_for(ResizeRequest(1, 1), "image/bmp")


def test_derived_side_over_the_limit_is_refused():
    with pytest.raises(BadResize):
        imaging.plan_size(100, 1000, ResizeRequest(1000, None, upscale=True), MAX_SIDE)
    with pytest.raises(BadResize):  # not enlarged, but the source itself is taller than the max side
        imaging.plan_size(100, 10000, ResizeRequest(4000, None), MAX_SIDE)


def test_yellow_is_yellow(tmp_path):
    # Guard against channel-order mistakes (R/B swaps keep red and blue tests ambiguous).
    _r, _d, im = run(tmp_path, encode(Image.new("RGB", (10, 10), YELLOW), "PNG"), ResizeRequest(5, 5), "jpeg")
    assert close(im.getpixel((2, 2)), YELLOW)


def test_mpo_camera_jpeg_is_a_jpeg_not_an_animation(tmp_path):
    """Cameras write MPO (a JPEG plus preview pictures); Pillow calls it animated. We take the main picture."""
    out = tmp_path / "m.mpo"
    Image.new("RGB", (400, 200), RED).save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (400, 200))])
    for fmt in ("jpeg", "webp"):
        rendered, _d, im = run(tmp_path, out.read_bytes(), ResizeRequest(40, 20), fmt)
        assert rendered.frames == 1 and im.size == (40, 20)
        assert close(im.convert("RGB").getpixel((5, 5)), RED)

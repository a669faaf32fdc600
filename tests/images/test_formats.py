"""``format=auto``: AVIF or WebP from Accept (Vary: Accept), the source's format otherwise; each format
a recorded, cached derivative; quality per format from the settings. Pillow's AVIF encoder is checked
as the pinned Pillow ships it."""

from __future__ import annotations

import io

import pytest
from PIL import Image, features

from tests.conftest import body_of, path_of
from tests.uikit import png_bytes
from tornado_paste.images import formats, render
from tornado_paste.images.render import ResizeRequest

CHROME_IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
SAFARI_OLD = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"


def test_the_pinned_pillow_encodes_and_decodes_avif():
    assert features.check("avif"), "Pillow was built without AVIF (libavif)"
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 10, 10)).save(out, "AVIF", quality=60)
    decoded = Image.open(io.BytesIO(out.getvalue()))
    assert decoded.format == "AVIF" and decoded.size == (32, 16)


@pytest.mark.parametrize(("accept", "source", "chosen"), [
    (CHROME_IMG, "image/png", "avif"),
    (SAFARI_OLD, "image/jpeg", "webp"),
    ("image/*,*/*;q=0.8", "image/jpeg", None),
    ("image/avif;q=0, image/webp", "image/png", "webp"),
    (None, "image/png", None),
    (CHROME_IMG, "image/gif", "webp"),  # an animation stays animated
    ("image/avif", "image/gif", None),
])
def test_choose(accept, source, chosen):
    assert formats.choose(accept, source) == chosen


def test_auto_parses_and_resolves():
    request = render.parse_request("40", "30", None, "auto", 4096)
    assert request.format == "auto"
    assert formats.negotiate(request, CHROME_IMG, "image/png").format == "avif"
    assert formats.negotiate(request, "", "image/png").format is None
    assert render.output_format_for(request, "image/png") == "png"  # unresolved auto: the source's own
    fixed = ResizeRequest(40, 30, "fill", "jpeg")
    assert formats.negotiate(fixed, CHROME_IMG, "image/png") is fixed


def _vary(response) -> set[str]:
    """The Vary tokens (gzip may add Accept-Encoding beside ours)."""
    return {v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()}


@pytest.mark.gen_test
async def test_auto_over_http_is_one_derivative_per_format(upload, fetch):
    card = body_of(await upload(png_bytes(200, 100), "pic.png"))
    path = f"/r/{card['filehash']}?w=50&h=25&format=auto"
    seen = {}
    for accept, media_type in ((CHROME_IMG, "image/avif"), (SAFARI_OLD, "image/webp"), ("*/*", "image/png")):
        redirect = await fetch(path, headers={"Accept": accept})
        assert redirect.code == 302 and "Accept" in _vary(redirect)
        raw = await fetch(path_of(redirect.headers["Location"]))
        assert raw.headers["Content-Type"] == media_type
        image = Image.open(io.BytesIO(raw.body))
        assert image.size == (50, 25)
        seen[media_type] = redirect.headers["Location"]
    assert len(set(seen.values())) == 3
    # Cached per format: the same Accept finds the same derivative.
    again = await fetch(path, headers={"Accept": CHROME_IMG})
    assert again.headers["Location"] == seen["image/avif"]
    avif_card = body_of(await fetch(path, headers={"Accept": "application/json, " + CHROME_IMG}))
    assert avif_card["mimetype"] == "image/avif" and avif_card["variant"]["format"] == "avif"
    assert avif_card["filename"].endswith(".avif") and (avif_card["width"], avif_card["height"]) == (50, 25)
    explicit = await fetch(f"/r/{card['filehash']}?w=50&h=25&format=avif")
    assert explicit.headers["Location"] == seen["image/avif"] and "Accept" not in _vary(explicit)


@pytest.mark.parametrize("settings_overrides", [{"resize_quality_webp": 5}])
@pytest.mark.gen_test
async def test_quality_is_a_setting_per_format(upload, fetch, services):
    noisy = Image.effect_noise((160, 160), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    card = body_of(await upload(out.getvalue(), "noise.png"))
    low = await fetch(path_of((await fetch(f"/r/{card['filehash']}?w=160&h=160&format=webp")).headers["Location"]))
    default = io.BytesIO()
    noisy.save(default, "WEBP", quality=render.WEBP_QUALITY, method=4)
    assert len(low.body) < len(default.getvalue()) / 2
    assert services.images.qualities == {"jpeg": 85, "webp": 5, "avif": 60}

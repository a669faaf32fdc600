"""Photo metadata removed at upload: camera-style EXIF (GPS, maker note, thumbnail), XMP, ICC and a
comment, written by piexif and Pillow. Lossless (the scan data is byte-identical, pixels decode the
same), orientation kept, the stored bytes and sha256 are the stripped ones, dedupe works on them."""

from __future__ import annotations

import hashlib
import io

import piexif
import pytest
from PIL import Image, ImageChops

from tests import mediagen
from tests.conftest import body_of, path_of
from tests.tus_helpers import metadata, upload_all
from tornado_paste.previews import exif, photos


def strip(data: bytes, kind: str, mode: str) -> tuple[bytes, list[str]]:
    out = io.BytesIO()
    removed = photos.STRIPPERS[f"image/{kind}"](io.BytesIO(data), out, mode)
    return (out.getvalue() if removed else data), removed


def same_pixels(a: bytes, b: bytes) -> bool:
    first, second = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    return first.size == second.size and ImageChops.difference(first, second).getbbox() is None


def test_gps_mode_removes_location_and_nothing_else_from_a_jpeg():
    original = mediagen.camera_jpeg(orientation=6)
    assert piexif.load(original)["GPS"]  # the test photo really has a location
    stripped, removed = strip(original, "jpeg", "gps")
    assert removed == ["gps", "xmp"]
    assert mediagen.scan_data(stripped) == mediagen.scan_data(original)  # lossless: not re-encoded
    assert same_pixels(original, stripped)
    data = piexif.load(stripped)
    assert data["GPS"] == {} and piexif.ImageIFD.GPSTag not in data["0th"]
    before = piexif.load(original)
    assert data["Exif"][piexif.ExifIFD.MakerNote] == mediagen.MAKER_NOTE  # maker note byte for byte
    assert data["Exif"] == before["Exif"] and data["thumbnail"] == before["thumbnail"]
    assert data["0th"][piexif.ImageIFD.Orientation] == 6 and data["0th"][piexif.ImageIFD.Make] == b"TestCam"
    image = Image.open(io.BytesIO(stripped))
    assert image.info["icc_profile"] == mediagen.srgb_icc() and image.info.get("comment") == b"shot at home"
    assert b"GPSLatitude" not in stripped and b"48,51.4N" not in stripped
    # The EXIF block kept its length: every offset in it (maker notes use their own) still holds.
    exif_of = {m: p for m, p in mediagen.jpeg_segments(original) if p.startswith(b"Exif")}
    assert len({m: p for m, p in mediagen.jpeg_segments(stripped) if p.startswith(b"Exif")}[0xE1]) == len(exif_of[0xE1])


def test_gps_mode_keeps_xmp_without_a_location_and_leaves_clean_photos_alone():
    original = mediagen.camera_jpeg(xmp=mediagen.XMP_PLAIN)
    stripped, removed = strip(original, "jpeg", "gps")
    assert removed == ["gps"] and b"TestCam 1.0" in stripped
    clean = mediagen.camera_jpeg(gps=False, xmp=mediagen.XMP_PLAIN)
    assert strip(clean, "jpeg", "gps") == (clean, [])


def test_all_mode_keeps_only_orientation_and_colour():
    original = mediagen.camera_jpeg(orientation=8)
    stripped, removed = strip(original, "jpeg", "all")
    assert removed == ["comment", "exif", "xmp"]
    assert mediagen.scan_data(stripped) == mediagen.scan_data(original) and same_pixels(original, stripped)
    data = piexif.load(stripped)
    assert data["0th"] == {piexif.ImageIFD.Orientation: 8} and data["Exif"] == {} and data["GPS"] == {}
    image = Image.open(io.BytesIO(stripped))
    assert image.info["icc_profile"] == mediagen.srgb_icc() and "comment" not in image.info
    assert b"TestCam" not in stripped and b"shot at home" not in stripped
    upright = mediagen.camera_jpeg(orientation=1)
    assert exif.orientation(piexif.dump(piexif.load(strip(upright, "jpeg", "all")[0]))[6:]) == 1


@pytest.mark.parametrize("kind", ["png", "webp"])
@pytest.mark.parametrize("mode", ["gps", "all"])
def test_png_and_webp(kind, mode):
    original = getattr(mediagen, f"camera_{kind}")()
    stripped, removed = strip(original, kind, mode)
    assert "xmp" in removed and ("gps" in removed if mode == "gps" else "exif" in removed)
    image = Image.open(io.BytesIO(stripped))
    image.load()
    assert same_pixels(original, stripped)
    assert dict(image.getexif().get_ifd(exif.GPS_IFD_TAG)) == {}
    assert image.info.get("icc_profile") == mediagen.srgb_icc()
    assert b"GPSLatitude" not in stripped
    if mode == "gps":
        assert image.getexif()[0x010F] == "TestCam"
    if kind == "webp":
        assert image.getexif().get(exif.ORIENTATION_TAG) == 6  # kept in both modes


def test_broken_exif_is_removed_whole_and_a_broken_file_is_left_as_it_is():
    original = mediagen.camera_jpeg()
    at = original.index(b"Exif\x00\x00") + 6
    broken = original[:at + 4] + b"\xff\xff\xff\xf0" + original[at + 8:]  # IFD0 offset far outside the block
    stripped, removed = strip(broken, "jpeg", "gps")
    assert "exif" in removed and b"TestCam" not in stripped[:200] and same_pixels(original, stripped)
    with pytest.raises(photos.Unstrippable):
        strip(b"\xff\xd8\xff\xe1\x00", "jpeg", "gps")


@pytest.mark.gen_test
async def test_uploads_store_the_stripped_bytes_and_dedupe_on_them(upload, fetch, counted):
    original = mediagen.camera_jpeg()
    stripped, removed = strip(original, "jpeg", "gps")
    response = await upload(original, "IMG_0001.jpg")
    card = body_of(response)
    assert response.code == 201 and card["media"]["metadata_removed"] == removed
    assert card["sha256"] == hashlib.sha256(stripped).hexdigest() and card["size"] == len(stripped)
    assert (await fetch(path_of(card["url_i"]))).body == stripped
    assert (card["width"], card["height"]) == (48, 64)  # orientation 6: shown upright, sides swapped
    # The same photo again, and the stripped bytes themselves, are the same file.
    for data in (original, stripped):
        again = await upload(data, "copy.jpg")
        assert again.code == 200 and body_of(again)["filehash"] == card["filehash"]
    assert counted["strip.count"] == 2 and counted["strip.removed.gps"] == 2 and counted["upload.dedupe_hit"] == 2
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    assert '<dd class="metadata-removed">gps, xmp</dd>' in page


@pytest.mark.gen_test
async def test_raw_put_and_tus_strip_too(fetch):
    original = mediagen.camera_jpeg()
    card = body_of(await fetch("/raw.jpg", method="PUT", body=original, headers={"Accept": "application/json"}))
    assert card["media"]["metadata_removed"] == ["gps", "xmp"]
    assert b"GPSLatitude" not in (await fetch(path_of(card["url_i"]))).body
    resumable = mediagen.camera_jpeg()
    _path, last = await upload_all(fetch, resumable, chunk=1000, meta=metadata(filename="tus.jpg"))
    tus_card = body_of(await fetch(path_of(last.headers["X-File-Location"]), headers={"Accept": "application/json"}))
    assert tus_card["media"]["metadata_removed"] == ["gps", "xmp"]
    assert tus_card["sha256"] == hashlib.sha256(strip(resumable, "jpeg", "gps")[0]).hexdigest()


@pytest.mark.parametrize("settings_overrides", [{"strip_metadata": "off"}])
@pytest.mark.gen_test
async def test_off_keeps_the_upload_as_it_came(upload):
    original = mediagen.camera_jpeg()
    card = body_of(await upload(original, "keep.jpg"))
    assert card["sha256"] == hashlib.sha256(original).hexdigest() and "media" not in card


@pytest.mark.parametrize("settings_overrides", [{"strip_metadata": "all"}])
@pytest.mark.gen_test
async def test_all_mode_over_http(upload, fetch):
    card = body_of(await upload(mediagen.camera_jpeg(orientation=6), "all.jpg"))
    assert card["media"]["metadata_removed"] == ["comment", "exif", "xmp"]
    body = (await fetch(path_of(card["url_i"]))).body
    assert piexif.load(body)["0th"] == {piexif.ImageIFD.Orientation: 6}

"""gzip from the app itself (handlers/compression.py), over real HTTP without nginx."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os

import pytest

from tests.conftest import body_of, path_of

GZ = {"Accept-Encoding": "gzip"}


async def raw(fetch, path, **kw):
    """A response as sent: the client neither asks for nor undoes any encoding on its own."""
    return await fetch(path, decompress_response=False, **kw)


def digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@pytest.mark.gen_test
async def test_json_pages_css_and_js_are_gzipped(fetch, upload):
    for n in range(6):
        await upload(os.urandom(64), f"file-{n}.bin")
    for path in ("/api/v1/files", "/", "/static/app.css", "/static/js/upload.js", "/api/v1/openapi.yaml"):
        response = await raw(fetch, path, headers=GZ)
        assert response.code == 200, path
        assert response.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in response.headers["Vary"]
        assert gzip.decompress(response.body)
    listing = await raw(fetch, "/api/v1/files", headers=GZ)
    assert json.loads(gzip.decompress(listing.body))["total"] == 6
    # Not asked for, or refused: as it is.
    for headers in ({}, {"Accept-Encoding": "gzip;q=0"}, {"Accept-Encoding": "br"}):
        plain = await raw(fetch, "/api/v1/files", headers=headers)
        assert "Content-Encoding" not in plain.headers and json.loads(plain.body)["total"] == 6
    assert (await raw(fetch, "/api/v1/files", headers={"Accept-Encoding": "*"})).headers["Content-Encoding"] == "gzip"


@pytest.mark.gen_test
async def test_text_files_are_gzipped_whole_with_their_own_validators(fetch):
    data = b"a line of text that compresses well\n" * 400
    put = await fetch("/notes.txt", method="PUT", body=data, headers={"Accept": "application/json"})
    card = body_of(put)
    path = path_of(card["url_i"])
    response = await raw(fetch, path, headers=GZ)
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body) == data
    assert int(response.headers["Content-Length"]) == len(response.body) < len(data)
    # The gzip bytes are a representation of their own: their digest, a weak ETag.
    assert response.headers["Repr-Digest"] == digest(response.body)
    etag = response.headers["Etag"]
    assert etag == f'W/"{card["sha256"]}"'
    assert (await raw(fetch, path, headers={**GZ, "If-None-Match": etag})).code == 304
    # A range is of the stored bytes, never gzipped; a weak validator cannot select one.
    ranged = await raw(fetch, path, headers={**GZ, "Range": "bytes=0-9"})
    assert ranged.code == 206 and "Content-Encoding" not in ranged.headers and ranged.body == data[:10]
    stale = await raw(fetch, path, headers={**GZ, "Range": "bytes=0-9", "If-Range": etag})
    assert stale.code == 200 and gzip.decompress(stale.body) == data
    identity = await raw(fetch, path)
    assert identity.body == data and identity.headers["Repr-Digest"] == digest(data)
    assert identity.headers["Etag"] == f'"{card["sha256"]}"'


@pytest.mark.gen_test
async def test_compressed_types_are_never_gzipped(fetch):
    from tests.uikit import png_bytes

    card = body_of(await fetch("/p.png", method="PUT", body=png_bytes(400, 400),
                               headers={"Accept": "application/json"}))
    response = await raw(fetch, path_of(card["url_i"]), headers=GZ)
    assert response.code == 200 and "Content-Encoding" not in response.headers
    assert "Accept-Encoding" not in response.headers.get("Vary", "")
    zipped = gzip.compress(os.urandom(5000))
    card = body_of(await fetch("/a.gz", method="PUT", body=zipped, headers={"Accept": "application/json"}))
    response = await raw(fetch, path_of(card["url_d"]), headers=GZ)
    assert "Content-Encoding" not in response.headers and response.body == zipped


@pytest.mark.parametrize("settings_overrides", [{"compress_max_file_size": 4096}])
@pytest.mark.gen_test
async def test_large_text_files_are_sent_as_they_are(fetch):
    data = b"0123456789abcdef" * 1024  # 16 KiB of text, above the 4 KiB limit
    card = body_of(await fetch("/big.txt", method="PUT", body=data, headers={"Accept": "application/json"}))
    response = await raw(fetch, path_of(card["url_i"]), headers=GZ)
    assert "Content-Encoding" not in response.headers and response.body == data
    assert response.headers["Repr-Digest"] == digest(data)


@pytest.mark.parametrize("settings_overrides", [{"compress_responses": False}])
@pytest.mark.gen_test
async def test_compression_can_be_turned_off(fetch):
    response = await raw(fetch, "/", headers=GZ)
    assert response.code == 200 and "Content-Encoding" not in response.headers

"""HTTP details of /i/ /d/, the sha256 lookup and tus answers, over real HTTP: If-Match, If-Range,
Repr-Digest (RFC 9530), the transliterated Content-Disposition fallback, headers of tus answers."""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.parse

import pytest

from tests.conftest import body_of, path_of
from tests.tus_helpers import create, head, patch


async def _put(fetch, name, data):
    response = await fetch("/" + urllib.parse.quote(name), method="PUT", body=data,
                           headers={"Accept": "application/json"})
    assert response.code == 201, response.body
    return body_of(response)


@pytest.mark.gen_test
async def test_if_match_and_if_range(fetch):
    data = os.urandom(5000)
    card = await _put(fetch, "blob.bin", data)
    etag = f'"{card["sha256"]}"'
    for route in ("url_i", "url_d"):
        path = path_of(card[route])
        assert (await fetch(path, headers={"If-Match": etag})).code == 200
        assert (await fetch(path, headers={"If-Match": f'"other", {etag}'})).code == 200
        assert (await fetch(path, headers={"If-Match": "*"})).code == 200
        failed = await fetch(path, headers={"If-Match": '"0000"'})
        assert failed.code == 412 and body_of(failed)["error"]["code"] == "precondition_failed"
        assert (await fetch(path, headers={"If-Match": f"W/{etag}"})).code == 412  # weak never matches
        assert (await fetch(path, method="HEAD", headers={"If-Match": '"0000"'})).code == 412

        ranged = {"Range": "bytes=0-9"}
        assert (await fetch(path, headers={**ranged, "If-Range": etag})).code == 206
        stale = await fetch(path, headers={**ranged, "If-Range": '"0000"'})
        assert stale.code == 200 and stale.body == data  # RFC 9110 §13.1.5: the whole file
        assert (await fetch(path, headers={**ranged, "If-Range": f"W/{etag}"})).code == 200
        modified = (await fetch(path)).headers["Last-Modified"]
        dated = await fetch(path, headers={**ranged, "If-Range": modified})
        assert dated.code == 206 and dated.body == data[:10]
        old = await fetch(path, headers={**ranged, "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert old.code == 200 and len(old.body) == len(data)
        assert (await fetch(path, headers={**ranged, "If-Range": "garbage"})).code == 200


@pytest.mark.gen_test
async def test_every_file_answer_carries_repr_digest(fetch):
    data = b"digest me " * 300
    card = await _put(fetch, "d.txt", data)
    want = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    for route in ("url_i", "url_d"):
        path = path_of(card[route])
        identity = await fetch(path, decompress_response=False)  # no Accept-Encoding: the bytes as stored
        assert "Content-Encoding" not in identity.headers and identity.headers["Repr-Digest"] == want
        assert (await fetch(path, method="HEAD")).headers["Repr-Digest"] == want
        ranged = await fetch(path, headers={"Range": "bytes=5-9"})
        assert ranged.code == 206 and ranged.headers["Repr-Digest"] == want  # the whole representation's
        cached = await fetch(path, headers={"If-None-Match": f'"{card["sha256"]}"'})
        assert cached.code == 304


@pytest.mark.gen_test
async def test_ascii_fallback_is_transliterated(fetch):
    card = await _put(fetch, "résumé été 2026.bin", os.urandom(100))
    disposition = (await fetch(path_of(card["url_d"]))).headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="resume ete 2026.bin"; filename*=UTF-8\'\'')
    assert urllib.parse.unquote(disposition.split("''", 1)[1]) == "résumé été 2026.bin"
    card = await _put(fetch, "日本 😀.txt", b"cjk " + os.urandom(8).hex().encode())
    fallback = (await fetch(path_of(card["url_i"]))).headers["Content-Disposition"].split('"')[1]
    assert fallback.isascii() and fallback.endswith(".txt") and "RiBen" in fallback


@pytest.mark.gen_test
async def test_lookup_by_sha256_gives_public_records_only(fetch, upload):
    public = body_of(await upload(os.urandom(300), "pub.bin"))
    private = body_of(await upload(os.urandom(300), "priv.bin", fields={"private": "1"}))
    found = await fetch(f"/api/v1/files?sha256={public['sha256']}")
    assert found.code == 200 and found.headers["X-Total-Count"] == "1"
    assert [f["filehash"] for f in body_of(found)["files"]] == [public["filehash"]]
    assert body_of(await fetch(f"/api/v1/files?sha256={public['sha256'].upper()}"))["total"] == 1
    hidden = body_of(await fetch(f"/api/v1/files?sha256={private['sha256']}"))
    assert hidden == {"files": [], "total": 0}
    assert body_of(await fetch(f"/api/v1/files?sha256={'0' * 64}"))["files"] == []
    bad = await fetch("/api/v1/files?sha256=xyz")
    assert bad.code == 400 and body_of(bad)["error"]["code"] == "bad_parameter"


@pytest.mark.gen_test
async def test_tus_answers_carry_no_html_type_nor_empty_etag(fetch):
    created, path = await create(fetch, 10)
    assert created.code == 201
    for response in (created, await head(fetch, path), await patch(fetch, path, 0, b"01234")):
        assert "Content-Type" not in response.headers, response.headers
        assert "Etag" not in response.headers
    options = await fetch("/api/v1/tus/", method="OPTIONS")
    assert "Content-Type" not in options.headers
    done = await patch(fetch, path, 5, b"56789")
    assert done.code == 204 and "X-Delete-Token" in done.headers
    finished = await head(fetch, path)
    assert "Content-Type" not in finished.headers and "Etag" not in finished.headers
    # Errors still say what they are.
    error = await patch(fetch, path, 0, b"x")
    assert error.code == 409 and error.headers["Content-Type"].startswith("application/json")

"""/i/ /d/ /s/ /p/ against the real server: types, Range, ETag, disposition, escaping, traversal."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from tests.conftest import body_of, path_of
from tests.handlers.test_uploads import PNG_1x1

HTML_PAYLOAD = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"


@pytest.fixture
def stored(upload):
    async def _stored(data: bytes, name: str):
        response = await upload(data, name)
        assert response.code == 201, response.body
        return body_of(response)

    return _stored


@pytest.mark.gen_test
async def test_raw_is_inline_with_sniffed_type_cache_and_etag(stored, fetch):
    card = await stored(PNG_1x1, "pixel.png")
    response = await fetch(path_of(card["url_i"]))
    assert response.code == 200
    assert response.body == PNG_1x1
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["ETag"] == f'"{card["sha256"]}"'
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.gen_test
async def test_if_none_match_gives_304(stored, fetch):
    card = await stored(b"etag me", "e.txt")
    for route in ("url_i", "url_d"):
        response = await fetch(path_of(card[route]), headers={"If-None-Match": f'"{card["sha256"]}"'})
        assert response.code == 304
        assert response.body == b""
    other = await fetch(path_of(card["url_i"]), headers={"If-None-Match": '"nope"'})
    assert other.code == 200


@pytest.mark.gen_test
async def test_range_requests(stored, fetch):
    data = os.urandom(10_000)
    card = await stored(data, "r.bin")
    path = path_of(card["url_i"])
    response = await fetch(path, headers={"Range": "bytes=100-199"})
    assert response.code == 206
    assert response.body == data[100:200]
    assert response.headers["Content-Range"] == "bytes 100-199/10000"
    tail = await fetch(path, headers={"Range": "bytes=-50"})
    assert tail.code == 206 and tail.body == data[-50:]
    download = await fetch(path_of(card["url_d"]), headers={"Range": "bytes=9990-"})
    assert download.code == 206 and download.body == data[9990:]


@pytest.mark.gen_test
async def test_unsatisfiable_range_is_416_json(stored, fetch):
    card = await stored(b"short", "s.txt")
    response = await fetch(path_of(card["url_i"]), headers={"Range": "bytes=500-600"})
    assert response.code == 416
    assert response.headers["Content-Range"] == "bytes */5"
    assert body_of(response)["error"]["code"] == "range_not_satisfiable"


@pytest.mark.gen_test
async def test_head_has_headers_and_no_body(stored, fetch):
    card = await stored(b"head me", "h.txt")
    response = await fetch(path_of(card["url_i"]), method="HEAD")
    assert response.code == 200
    assert response.headers["Content-Length"] == "7"
    assert response.body == b""


@pytest.mark.gen_test
async def test_download_is_attachment_with_utf8_filename(fetch):
    name = 'отчёт "final"; v2.txt'
    put = await fetch("/" + urllib.parse.quote(name), method="PUT", body=b"unicode download",
                      headers={"Accept": "application/json"})
    card = body_of(put)
    response = await fetch(path_of(card["url_d"]))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="otchet _final__ v2.txt"' in disposition  # transliterated, syntax characters replaced
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == 'отчёт "final"; v2.txt'
    assert "\r" not in disposition and "\n" not in disposition


@pytest.mark.gen_test
async def test_active_content_is_attachment_and_sandboxed(stored, fetch):
    for data, name in ((HTML_PAYLOAD, "page.html"),
                       (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg")):
        card = await stored(data, name)
        response = await fetch(path_of(card["url_i"]))
        assert response.headers["Content-Disposition"].startswith("attachment;"), card["mimetype"]
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.gen_test
async def test_xss_filename_is_escaped_on_preview(stored, fetch):
    name = "<img src=x onerror=alert(1)>.txt"
    card = await stored(b"xss filename", name)
    page = await fetch(path_of(card["url_p"]))
    assert page.code == 200
    html = page.body.decode()
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html


@pytest.mark.gen_test
async def test_preview_page_shows_the_card(stored, fetch):
    card = await stored(PNG_1x1, "pixel.png")
    page = (await fetch(path_of(card["url_p"]))).body.decode()
    for needle in ("pixel.png", "image/png", card["url_s"], card["url_i"], card["url_d"], card["uploaded_at"]):
        assert needle in page
    assert "<img" in page


@pytest.mark.gen_test
async def test_short_link_redirects_to_preview(stored, fetch):
    card = await stored(b"short me", "s.txt")
    response = await fetch(path_of(card["url_s"]))
    assert response.code == 302
    assert response.headers["Location"] == card["url_p"]


@pytest.mark.gen_test
@pytest.mark.parametrize("code", ["AAAAA", "zzzzzzzzzzzzzzzzzzzzzzzzzzzz", "0", "a"])
async def test_unknown_or_malformed_short_codes_are_404(fetch, code):
    response = await fetch(f"/s/{code}")
    assert response.code == 404
    assert body_of(response)["error"]["code"] == "not_found"


@pytest.mark.gen_test
@pytest.mark.parametrize("path", [
    "/i/../../etc/passwd", "/i/..%2f..%2fetc%2fpasswd", "/d/%2e%2e/%2e%2e/etc/passwd",
    "/i/%2e%2e%2f%2e%2e%2fsettings.py", "/p/..%5c..%5cwin.ini", "/i/0123456789abcdef.txt/../../x",
    "/s/../../etc/passwd", "/static/../settings.py", "/static/..%2fsettings.py",
])
async def test_path_traversal_is_404(fetch, path):
    response = await fetch(path)
    assert response.code in (403, 404)
    assert b"SECRET" not in response.body and b"root:" not in response.body


@pytest.mark.gen_test
async def test_unknown_file_is_404_json_for_api_clients_and_html_for_browsers(fetch):
    api = await fetch("/i/0123456789abcdef.txt")
    assert api.code == 404 and body_of(api)["error"]["code"] == "not_found"
    page = await fetch("/p/0123456789abcdef.txt", headers={"Accept": "text/html"})
    assert page.code == 404
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"deleted" in page.body

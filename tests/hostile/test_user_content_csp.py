"""Finding 12: user content satisfied the pages' CSP. An uploaded ES module was served as
application/javascript from the origin whose pages allowed ``script-src 'self'``: any HTML injection
would have become script execution able to read the delete tokens in localStorage.

Now the pages' scripts (and styles) come only from ``<public origin>/static/``, active types are served
as types no browser runs (text/plain or application/octet-stream, attachment, nosniff, sandbox), and
an optional separate content origin (``content_base_url``) takes the /i/ /d/ /r/ links.
"""

from __future__ import annotations

import pytest

from tests.conftest import body_of, path_of

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a3ee67a50000000049454e44ae426082")
ES_MODULE = (b'export default function steal() { return localStorage.getItem("tornado-paste.delete-tokens"); }\n'
             b'import("./x.js");\nconsole.log(steal());\n')
WASM = b"\x00asm\x01\x00\x00\x00" + b"\x00" * 32

ACTIVE_UPLOADS = [
    (ES_MODULE, "evil.mjs"),
    (b'"use strict";\nvar a = function() { document.cookie; };\nwindow.x = a;\n', "evil.js"),
    (WASM, "evil.wasm"),
    (b"<!doctype html><html><body><script>alert(1)</script></body></html>", "evil.html"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "evil.svg"),
    (b'<?xml version="1.0"?><x xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(1)</h:script></x>', "e.xml"),
]


def script_src(csp: str) -> str:
    return next(d for d in csp.split(";") if d.strip().startswith("script-src")).strip()


@pytest.mark.gen_test
async def test_page_csp_names_the_static_path_not_self(fetch, upload, base):
    card = body_of(await upload(b"some text", "t.txt"))
    for path, status in (("/", 200), (path_of(card["url_p"]), 200), ("/p/0123456789abcdef.png", 404)):
        page = await fetch(path, headers={"Accept": "text/html"})
        assert page.code == status
        csp = page.headers["Content-Security-Policy"]
        assert script_src(csp) == f"script-src {base}/static/", csp
        assert "'self'" not in script_src(csp) and "unsafe" not in csp
        style = next(d for d in csp.split(";") if d.strip().startswith("style-src")).strip()
        assert style == f"style-src {base}/static/"
        assert "worker-src 'none'" in csp


@pytest.mark.gen_test
async def test_active_uploads_are_served_as_attachments_no_browser_runs(upload, fetch):
    for data, name in ACTIVE_UPLOADS:
        card = body_of(await upload(data, name))
        for url in (card["url_i"], card["url_d"]):
            response = await fetch(path_of(url))
            assert response.code == 200 and response.body == data
            served = response.headers["Content-Type"]
            assert served in ("text/plain; charset=utf-8", "application/octet-stream"), (name, card["mimetype"], served)
            assert "javascript" not in served and "wasm" not in served and "html" not in served
            assert response.headers["Content-Disposition"].startswith("attachment;"), name
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in response.headers["Content-Security-Policy"]
        assert card["mimetype"] in ("application/javascript", "text/javascript", "application/wasm", "text/html",
                                    "image/svg+xml", "text/xml", "application/xml"), (name, card["mimetype"])
        # The preview page still works (as text, or a download for binaries).
        page = await fetch(path_of(card["url_p"]), headers={"Accept": "text/html"})
        assert page.code == 200
        assert b"<img src=\"" + card["url_i"].encode() not in page.body
    wasm = body_of(await upload(WASM, "again.wasm"))
    assert (await fetch(path_of(wasm["url_i"]))).headers["Content-Type"] == "application/octet-stream"
    # Ordinary files keep their types and stay inline.
    png = body_of(await upload(PNG_1x1, "p.png"))
    response = await fetch(path_of(png["url_i"]))
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")


CONTENT = "http://usercontent.test:8443"


@pytest.mark.parametrize("settings_overrides", [dict(content_base_url=CONTENT)])
@pytest.mark.gen_test
async def test_content_base_url_takes_the_file_links(upload, fetch, base):
    card = body_of(await upload(PNG_1x1, "pixel.png"))
    assert card["url_i"] == f"{CONTENT}/i/{card['filehash']}"
    assert card["url_d"] == f"{CONTENT}/d/{card['filehash']}"
    assert card["url_r"] == f"{CONTENT}/r/{card['filehash']}"
    assert card["embed"]["markdown"].endswith(f"({CONTENT}/i/{card['filehash']})")
    # Pages, short links and the API stay on the public origin.
    for key in ("url_p", "url_s", "url_api"):
        assert card[key].startswith(base + "/"), (key, card[key])
    page = await fetch(path_of(card["url_p"]), headers={"Accept": "text/html"})
    csp = page.headers["Content-Security-Policy"]
    assert script_src(csp) == f"script-src {base}/static/"  # never the content origin
    assert f"img-src 'self' data: blob: {CONTENT}" in csp
    assert f'<img src="{CONTENT}/i/{card["filehash"]}"' in page.body.decode()
    # The same app answers the content origin's paths (nginx points both names at it).
    raw = await fetch(path_of(card["url_i"]))
    assert raw.code == 200 and raw.headers["Access-Control-Allow-Origin"] == "*"

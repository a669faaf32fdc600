"""Honest answers to browsers and `curl -I`: HEAD wherever GET, styled 404/410 pages for anyone who
prefers HTML (JSON for everyone else), noindex on unlisted files, /robots.txt, the API reference page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import body_of, path_of
from tests.handlers.test_uploads import PNG_1x1

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"}


async def _card(upload, data: bytes, name: str, fields: dict[str, str] | None = None) -> dict:
    response = await upload(data, name, fields=fields)
    assert response.code in (200, 201), response.body
    return body_of(response)


@pytest.mark.gen_test
async def test_head_is_allowed_wherever_get_is(upload, fetch):
    card = await _card(upload, PNG_1x1, "head.png")
    paths = ["/", path_of(card["url_p"]), path_of(card["url_p"]) + "/qr.svg", path_of(card["url_s"]),
             path_of(card["url_i"]), path_of(card["url_d"]), path_of(card["url_r"]) + "?w=4&h=4",
             "/api/v1/files", path_of(card["url_api"]), "/healthz", "/api/v1/openapi.yaml", "/api/v1/docs",
             "/robots.txt"]
    for path in paths:
        got = await fetch(path)
        head = await fetch(path, method="HEAD")
        assert head.code == got.code and head.code in (200, 302), (path, head.code, got.code)
        assert head.body == b"", path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        if got.code == 302:
            assert head.headers["Location"] == got.headers["Location"]


@pytest.mark.gen_test
async def test_allow_names_head_where_get_is_implemented(fetch):
    for path, allow in (("/healthz", {"GET", "HEAD"}), ("/api/v1/files", {"GET", "HEAD"}),
                        ("/p/0123456789abcdef.txt", {"GET", "HEAD"})):
        response = await fetch(path, method="DELETE")
        assert response.code == 405, path
        assert set(response.headers["Allow"].split(", ")) == allow, path


@pytest.mark.gen_test
async def test_browsers_get_the_styled_404_page_for_files_and_unknown_paths(upload, fetch):
    card = await _card(upload, b"soon gone\n", "gone.txt")
    deleted = await fetch(path_of(card["url_api"]), method="DELETE", headers={"X-Delete-Token": card["delete_token"]})
    assert deleted.code in (200, 204)
    for path in (path_of(card["url_i"]), path_of(card["url_d"]), path_of(card["url_p"]), path_of(card["url_s"]),
                 "/no-such-page", "/some/deep/path", "/i/not-a-hash"):
        page = await fetch(path, headers=BROWSER)
        assert page.code == 404, path
        assert page.headers["Content-Type"].startswith("text/html"), path
        assert b"Nothing here" in page.body and b'class="site"' in page.body, path
        assert "script-src http://127.0.0.1:" in page.headers["Content-Security-Policy"]  # the site's static/
        assert page.headers["X-Robots-Tag"] == "noindex"
        assert "Content-Disposition" not in page.headers
        # Everyone else still gets the JSON error.
        api = await fetch(path)
        assert api.code == 404 and api.headers["Content-Type"].startswith("application/json"), path
        assert json.loads(api.body)["error"]["code"] == "not_found"
        curl = await fetch(path, headers={"Accept": "*/*"})
        assert curl.headers["Content-Type"].startswith("application/json"), path
    # The API stays JSON even for a browser.
    api = await fetch(path_of(card["url_api"]), headers=BROWSER)
    assert api.code == 404 and api.headers["Content-Type"].startswith("application/json")


@pytest.mark.gen_test
async def test_browsers_get_the_styled_410_page_for_expired_files(upload, fetch, services):
    card = await _card(upload, b"short-lived\n", "expiring.txt", fields={"expires": "1h"})
    record = await services.store.get_by_filehash(card["filehash"])
    await services.retention.index.set_expiry(record.id, datetime.now(UTC) - timedelta(seconds=5))
    for route in ("url_i", "url_d", "url_p", "url_s"):
        page = await fetch(path_of(card[route]), headers=BROWSER)
        assert page.code == 410, route
        assert page.headers["Content-Type"].startswith("text/html")
        assert b"This file has expired" in page.body


@pytest.mark.gen_test
async def test_unlisted_pages_and_files_are_noindex(upload, fetch):
    private = await _card(upload, b"only with the link\n", "unlisted.txt", fields={"private": "1"})
    public = await _card(upload, b"for everyone\n", "public.txt")
    for route in ("url_p", "url_i", "url_d"):
        response = await fetch(path_of(private[route]))
        assert response.code == 200
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow", route
        assert "X-Robots-Tag" not in (await fetch(path_of(public[route]))).headers, route
    page = (await fetch(path_of(private["url_p"]))).body.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert '<meta name="robots"' not in (await fetch(path_of(public["url_p"]))).body.decode()


@pytest.mark.gen_test
async def test_robots_txt(fetch):
    response = await fetch("/robots.txt")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    lines = response.body.decode().splitlines()
    assert "User-agent: *" in lines and "Disallow: /api/" in lines
    # Preview pages and raw files stay crawlable, so a crawler can read their noindex.
    assert "Disallow: /p/" not in lines and "Disallow: /i/" not in lines and "Disallow: /" not in lines


@pytest.mark.gen_test
async def test_api_reference_page(fetch):
    page = await fetch("/api/v1/docs")
    assert page.code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert 'href="/api/v1/openapi.yaml"' in html
    assert "script-src http://127.0.0.1:" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html  # no inline script: the viewer starts from static/js/api-docs.js
    index = (await fetch("/")).body.decode()
    assert '<a href="/api/v1/docs">API</a>' in index

"""CORS on the API and tus routes (setting cors_origins), over real HTTP; the browser side is
tests/system/test_cors_browser.py (tus-js-client in Chromium on a second origin)."""

from __future__ import annotations

import pytest

from handlers.cors import EXPOSE_HEADERS
from settings import Settings
from tests.conftest import body_of
from tests.tus_helpers import TUS

APP = "http://app.example:8080"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "PATCH",
             "Access-Control-Request-Headers": "tus-resumable,upload-offset,content-type"}
REQUIRED_EXPOSED = ("Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Version", "Tus-Resumable",
                    "Tus-Max-Size", "Tus-Extension", "X-Delete-Token", "Link", "X-Total-Count", "X-RateLimit-Limit",
                    "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", {"cors_origins": (APP,)})


@pytest.mark.gen_test
async def test_listed_origin_gets_preflights_and_exposed_headers(fetch):
    for path in ("/api/v1/tus/", "/api/v1/tus/abc", "/api/v1/files", "/api/v1/files/x.png", "/api/v1/events"):
        response = await fetch(path, method="OPTIONS", headers=PREFLIGHT)
        assert response.code == 204, (path, response.code, response.body)
        assert response.headers["Access-Control-Allow-Origin"] == APP
        methods = response.headers["Access-Control-Allow-Methods"]
        assert all(m in methods for m in ("POST", "PATCH", "HEAD", "DELETE", "PUT"))
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        for name in ("tus-resumable", "upload-offset", "upload-length", "upload-metadata", "content-type",
                     "x-http-method-override", "x-delete-token"):
            assert name in allowed
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "Origin" in response.headers["Vary"]
    listing = await fetch("/api/v1/files", headers={"Origin": APP})
    assert listing.code == 200 and listing.headers["Access-Control-Allow-Origin"] == APP
    exposed = [h.strip() for h in listing.headers["Access-Control-Expose-Headers"].split(",")]
    assert set(REQUIRED_EXPOSED) <= set(exposed)
    # Errors carry them too (a browser client must be able to read why).
    missing = await fetch("/api/v1/files/0000000000000000.png", headers={"Origin": APP})
    assert missing.code == 404 and missing.headers["Access-Control-Allow-Origin"] == APP
    tus = await fetch("/api/v1/tus/", method="POST", headers={**TUS, "Origin": APP, "Upload-Length": "3"})
    assert tus.code == 201 and tus.headers["Access-Control-Allow-Origin"] == APP
    # Pages and file bytes are not CORS routes.
    assert "Access-Control-Allow-Origin" not in (await fetch("/", headers={"Origin": APP})).headers


@pytest.mark.gen_test
async def test_other_origins_get_nothing(fetch):
    evil = {**PREFLIGHT, "Origin": "http://evil.example"}
    response = await fetch("/api/v1/tus/", method="OPTIONS", headers=evil)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers
    listing = await fetch("/api/v1/files", headers={"Origin": "http://evil.example"})
    assert listing.code == 200 and "Access-Control-Allow-Origin" not in listing.headers
    assert listing.headers["Vary"].count("Origin") == 1


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": ("*",)}], indirect=True)
@pytest.mark.gen_test
async def test_star_never_allows_credentials(fetch):
    response = await fetch("/api/v1/tus/", method="OPTIONS", headers=PREFLIGHT)
    assert response.code == 204 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    listing = await fetch("/api/v1/files", headers={"Origin": "http://anyone.example", "Cookie": "a=b"})
    assert listing.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in listing.headers
    with pytest.raises(ValueError, match="credentials"):
        Settings(cors_origins=("*",), cors_allow_credentials=True).validated()


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": (APP,), "cors_allow_credentials": True}],
                         indirect=True)
@pytest.mark.gen_test
async def test_listed_origins_may_get_credentials(fetch):
    response = await fetch("/api/v1/files", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
@pytest.mark.gen_test
async def test_off_by_default(fetch):
    response = await fetch("/api/v1/files", headers={"Origin": APP})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" not in response.headers.get("Vary", "")
    options = await fetch("/api/v1/files", method="OPTIONS", headers=PREFLIGHT)
    assert options.code == 405
    tus = await fetch("/api/v1/tus/", method="OPTIONS", headers=PREFLIGHT)
    assert tus.code == 204 and "Access-Control-Allow-Origin" not in tus.headers
    assert body_of(await fetch("/api/v1/files"))["files"] == []
    assert "Retry-After" in EXPOSE_HEADERS

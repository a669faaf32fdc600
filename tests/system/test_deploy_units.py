"""Deployment pieces that need no nginx: X-Accel-Redirect answers and the shipped nginx.conf's shape."""

from __future__ import annotations

import re

import pytest

from settings import Settings
from tests.conftest import body_of, path_of
from tests.nginx_stack import NGINX_CONF, render_nginx_conf, site_values

PREFIX = "/_blobs/"


@pytest.fixture
def settings_overrides():
    return {"accel_redirect_prefix": PREFIX}


@pytest.mark.gen_test
async def test_accel_redirect_answers_headers_only(upload, fetch):
    card = body_of(await upload(b"some text for nginx to send\n", "note.txt"))
    sha = card["sha256"]
    for route, disposition in (("url_i", "inline;"), ("url_d", "attachment;")):
        response = await fetch(path_of(card[route]))
        assert response.code == 200
        assert response.body == b""
        assert response.headers["X-Accel-Redirect"] == f"{PREFIX}{sha[:2]}/{sha[2:4]}/{sha}"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Etag"] == f'"{sha}"'
        assert response.headers["Content-Disposition"].startswith(disposition)
        assert "immutable" in response.headers["Cache-Control"]
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.gen_test
async def test_accel_redirect_keeps_304_and_404(upload, fetch):
    card = body_of(await upload(b"cached bytes", "c.bin"))
    response = await fetch(path_of(card["url_i"]), headers={"If-None-Match": f'"{card["sha256"]}"'})
    assert response.code == 304
    assert "X-Accel-Redirect" not in response.headers
    missing = await fetch("/i/0123456789abcdef.bin")
    assert missing.code == 404
    assert "X-Accel-Redirect" not in missing.headers
    assert body_of(missing)["error"]["code"] == "not_found"


def test_accel_prefix_is_validated():
    with pytest.raises(ValueError):
        Settings(accel_redirect_prefix="_blobs").validated()
    assert Settings(accel_redirect_prefix="/_blobs/").validated().accel_redirect_prefix == "/_blobs/"


def test_nginx_conf_shape():
    text = NGINX_CONF.read_text()
    # The ancestor's mistake: a regex location on media extensions swallows /i/<hash>.jpg.
    assert not re.search(r"^\s*location\s+~", text, re.M)
    for needed in ("least_conn", "keepalive 64", "proxy_request_buffering off", "proxy_http_version 1.1",
                   "$connection_upgrade", "internal;", "X-Forwarded-For $proxy_add_x_forwarded_for",
                   "X-Real-IP $remote_addr", "X-Forwarded-Proto $scheme", "gzip on"):
        assert needed in text, needed
    values = site_values(text)
    assert len(values["backend"]) == 2
    # nginx's limit is the app's default limit plus 1 MiB of multipart room.
    limit = values["client_max_body_size"][0].split()[-1]
    assert limit == f"{(Settings().max_upload_size >> 20) + 1}m"


def test_render_replaces_only_site_lines():
    backends = ["server a:1", "server b:2", "server c:3"]
    rendered = render_nginx_conf({"listen": "listen 127.0.0.1:9", "backend": backends})
    assert "listen 127.0.0.1:9;" in rendered and "listen 80;" not in rendered
    assert rendered.count("server a:1;") == 1 and "server c:3;" in rendered
    assert "127.0.0.1:8001" not in rendered
    assert "proxy_request_buffering off;" in rendered
    with pytest.raises(KeyError):
        render_nginx_conf({"no_such_line": "x"})


@pytest.mark.gen_test
async def test_accel_redirect_refuses_a_range_past_the_end(upload, fetch):
    card = body_of(await upload(b"0123456789", "r.bin"))
    response = await fetch(path_of(card["url_i"]), headers={"Range": "bytes=10-"})
    assert response.code == 416
    assert response.headers["Content-Range"] == "bytes */10"
    assert "X-Accel-Redirect" not in response.headers
    assert "Cache-Control" not in response.headers and "Etag" not in response.headers
    assert body_of(response)["error"]["code"] == "range_not_satisfiable"
    ok = await fetch(path_of(card["url_i"]), headers={"Range": "bytes=2-5"})
    assert ok.code == 200 and "X-Accel-Redirect" in ok.headers  # nginx does the 206

"""Deployment pieces that need no nginx: X-Accel-Redirect answers, the cross-process blob lock,
and the shipped nginx.conf's shape."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re

import pytest

from settings import Settings
from tests.conftest import body_of, path_of
from tests.nginx_stack import NGINX_CONF, render_nginx_conf, site_values
from tornado_paste.locks import FileKeyedLocks

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


@pytest.mark.gen_test
async def test_file_lock_waits_for_another_holder(tmp_path):
    """A holder on another open file description (as another process would be) blocks ``hold``."""
    locks = FileKeyedLocks(str(tmp_path / "locks"))
    key = "abc" + "0" * 61
    os.makedirs(locks.lock_dir)
    other = os.open(locks._path(key), os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    acquired = asyncio.Event()

    async def take() -> None:
        async with locks.hold(key):
            acquired.set()

    task = asyncio.ensure_future(take())
    await asyncio.sleep(0.1)
    assert not acquired.is_set()
    os.close(other)  # the other holder goes away
    await asyncio.wait_for(task, 5)
    assert acquired.is_set()
    # Released again: a third party gets it at once.
    fd = os.open(locks._path(key), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


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

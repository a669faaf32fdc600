"""Fixtures: the real app on a real loopback port, a real HTTP client, temp data dirs."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import tornado.httpclient

from handlers.routes import make_app
from run import make_server
from settings import Settings
from tests.helpers import multipart_body
from tests.system.mongo_wire import mongo_wire_server, mongo_wire_url  # noqa: F401  (session fixtures)
from tests.system.s3_server import s3_server  # noqa: F401  (session fixture)
from tests.uikit import browser, context, page, problems, ui_server, ui_server_env  # noqa: F401  (UI tests)
from tornado_paste.services import Services, build_services


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change settings."""
    return {}


@pytest.fixture
def settings(tmp_path, http_port, settings_overrides) -> Settings:
    base = dict(address="127.0.0.1", port=http_port, data_dir=str(tmp_path / "data"),
                base_url=f"http://127.0.0.1:{http_port}")
    base.update(settings_overrides)
    return Settings(**base).validated()


@pytest.fixture
def services(io_loop, settings) -> Services:
    svc = build_services(settings)
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


@pytest.fixture
def app(services):
    return make_app(services)


@pytest.fixture
def server(io_loop, app, settings, _unused_port):
    """The app served exactly as run.py serves it, on 127.0.0.1:<free port>."""
    srv = make_server(app, settings)
    srv.add_socket(_unused_port[0])
    yield srv
    srv.stop()
    io_loop.run_sync(srv.close_all_connections)


@pytest.fixture
def base(server, http_port) -> str:
    return f"http://127.0.0.1:{http_port}"


@pytest.fixture
def client(server):
    c = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=64)
    yield c
    c.close()


@pytest.fixture
def fetch(client, base) -> Callable[..., Any]:
    """``await fetch(path, **kw)``: never raises on HTTP errors; returns the response."""

    async def _fetch(path: str, **kwargs: Any) -> tornado.httpclient.HTTPResponse:
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("follow_redirects", False)
        kwargs.setdefault("request_timeout", 60)
        if kwargs.get("method") in ("POST", "PUT", "PATCH") and kwargs.get("body") is None \
                and "body_producer" not in kwargs:
            kwargs["body"] = b""
        return await client.fetch(base + path, **kwargs)

    return _fetch


@pytest.fixture
def upload(fetch) -> Callable[..., Any]:
    """``await upload(data, filename, fields=..., headers=...)``: a multipart POST / (JSON answer)."""

    async def _upload(data: bytes, filename: str = "file.bin", fields: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> tornado.httpclient.HTTPResponse:
        body, ctype = multipart_body(fields, {"file": (filename, data, "application/octet-stream")})
        hdrs = {"Content-Type": ctype, "Accept": "application/json", **(headers or {})}
        return await fetch("/", method="POST", body=body, headers=hdrs)

    return _upload


@pytest.fixture
def decode_spy(monkeypatch):
    """Sizes of every image Pillow really decodes (``ImageFile.load``) during the test."""
    from PIL import ImageFile

    calls = []
    original = ImageFile.ImageFile.load

    def load(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


def body_of(response: tornado.httpclient.HTTPResponse) -> Any:
    """Decode a JSON or msgpack body by its Content-Type."""
    ctype = response.headers.get("Content-Type", "")
    if "msgpack" in ctype:
        return msgpack.unpackb(response.body, raw=False)
    return json.loads(response.body)


def path_of(url: str) -> str:
    """The path (and query) of an absolute link from a card, for ``fetch``."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")

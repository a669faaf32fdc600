"""``s3_download = accel`` through the real nginx (the shipped nginx.conf's /_s3/ location, its
``object_store`` SITE line pointed at a real Ceph RGW): the app sends headers, nginx the bytes."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from collections.abc import Iterator

import pytest

from tests.helpers import require_tool
from tests.system.scale_stack import ScaleStack

pytestmark = pytest.mark.system

MIB = 1 << 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server, mongo_wire_url) -> Iterator[ScaleStack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = ScaleStack(tmp_path_factory.mktemp("s3-nginx"), s3_server, mongo_wire_url, modes=["accel"],
                   behind_nginx=[0]).start()
    yield s
    s.stop()


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def put(stack: ScaleStack, data: bytes, name: str) -> dict:
    response, body = request(stack.nginx_port, "PUT", f"/{name}", data)
    assert response.status in (200, 201), body
    return json.loads(body)


def path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_accel_downloads_keep_every_header_and_range(stack):
    data = os.urandom(6 * MIB + 333)
    card = put(stack, data, "big.bin")
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    response, body = request(stack.nginx_port, "GET", path(card["url_d"]))
    assert response.status == 200 and body == data
    headers = response.headers
    assert headers["ETag"] == f'"{card["sha256"]}"'
    assert headers["Content-Type"] == card["mimetype"]
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert not any(name.lower().startswith(("x-amz", "x-rgw")) for name in headers)
    ranged, part = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"Range": "bytes=5242870-5242889"})
    assert ranged.status == 206 and part == data[5242870:5242890]
    assert ranged.headers["Content-Range"] == f"bytes 5242870-5242889/{len(data)}"
    assert ranged.headers["ETag"] == f'"{card["sha256"]}"'
    tail, end = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"Range": "bytes=-10"})
    assert tail.status == 206 and end == data[-10:]


def test_accel_conditionals_head_and_errors(stack):
    card = put(stack, b"accel me\n" * 100, "a.txt")
    etag = f'"{card["sha256"]}"'
    # A client's own Authorization and conditionals must not reach the store (400/412 there): the app
    # judges If-Match against its own ETag (the sha256; the store's is an MD5).
    got, body = request(stack.nginx_port, "GET", path(card["url_i"]),
                        headers={"Authorization": "Bearer x", "If-Match": etag, "If-Range": etag,
                                 "Range": "bytes=0-8"})
    assert got.status == 206 and body == b"accel me\n"
    stale, _ = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"If-Match": '"other"'})
    assert stale.status == 412
    got, body = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"Authorization": "Bearer x"})
    assert got.status == 200 and body == b"accel me\n" * 100
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert got.headers["Content-Disposition"].startswith("inline;")
    not_modified, _ = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"If-None-Match": etag})
    assert not_modified.status == 304
    head, empty = request(stack.nginx_port, "HEAD", path(card["url_i"]))
    assert head.status == 200 and empty == b"" and head.headers["Content-Length"] == "900"
    assert head.headers["ETag"] == etag
    beyond, body = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"Range": "bytes=5000-"})
    assert beyond.status == 416 and json.loads(body)["error"]["code"] == "range_not_satisfiable"
    # The app answered headers only: the bytes came from the store through nginx.
    direct, nothing = request(stack.machines[0].port, "GET", path(card["url_i"]))
    assert direct.status == 200 and nothing == b""
    assert direct.headers["X-Accel-Redirect"].startswith(f"/_s3/{stack.s3.bucket}/{stack.prefix}blobs/")


def test_a_vanished_object_is_a_json_404_not_s3_xml(stack):
    card = put(stack, os.urandom(1000), "v.bin")
    key = f"{stack.prefix}blobs/{card['sha256']}"
    status, _ = stack.s3.request("DELETE", f"/{stack.s3.bucket}/{key}")
    assert status == 204
    response, body = request(stack.nginx_port, "GET", path(card["url_i"]))
    assert response.status == 404 and json.loads(body)["error"]["code"] == "not_found"
    assert b"<?xml" not in body

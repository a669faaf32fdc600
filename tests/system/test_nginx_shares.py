"""Shares through the real nginx in front of two app processes: download limits counted before the
X-Accel answer, the zip streamed unbuffered with its exact length and Range, request codes out of the log."""

from __future__ import annotations

import http.client
import io
import json
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import require_tool
from tests.nginx_stack import Stack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = Stack(tmp_path_factory.mktemp("nginx-shares"), backends=2).start()
    yield s
    s.stop()


def call(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_limited_downloads_through_nginx_x_accel(stack):
    payload = b"n" * 500_000
    status, _, body = call(stack.nginx_port, "PUT", "/limited.bin?max_downloads=3", payload)
    assert status == 201, body
    fh = json.loads(body)["filehash"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: call(stack.nginx_port, "GET", f"/d/{fh}"), range(8)))
    codes = sorted(a[0] for a in answers)
    assert codes == [200] * 3 + [410] * 5, codes
    assert all(body == payload for code, _h, body in answers if code == 200)  # nginx sent every byte
    assert all(h["cache-control"] == "private, no-store" for code, h, _b in answers if code == 200)


def test_zip_through_nginx_unbuffered_exact_length_and_range(stack):
    fhs = []
    for i in range(3):
        status, _, body = call(stack.nginx_port, "PUT", f"/part{i}.bin", bytes([i]) * (300_000 + i))
        fhs.append(json.loads(body)["filehash"])
    status, _, body = call(stack.nginx_port, "POST", "/api/v1/collections", json.dumps({"files": fhs}).encode(),
                           {"Content-Type": "application/json"})
    coll = json.loads(body)
    status, headers, data = call(stack.nginx_port, "GET", f"/c/{coll['code']}/zip")
    assert status == 200 and int(headers["content-length"]) == len(data) == coll["zip_size"]
    assert "x-accel-buffering" not in headers  # nginx took the instruction and did not pass it on
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["part0.bin", "part1.bin", "part2.bin"] and archive.testzip() is None
    status, headers, part = call(stack.nginx_port, "GET", f"/c/{coll['code']}/zip", headers={"Range": "bytes=400000-"})
    assert status == 206 and part == data[400_000:]


def test_request_code_is_not_in_the_nginx_log(stack):
    _status, _, body = call(stack.nginx_port, "POST", "/api/v1/collections", json.dumps({"request": {}}).encode(),
                           {"Content-Type": "application/json"})
    code = json.loads(body)["request_code"]
    assert call(stack.nginx_port, "PUT", f"/u/{code}/hello.txt", b"hello")[0] == 201
    deadline = time.monotonic() + 5
    while "/u/[redacted]/hello.txt" not in stack.nginx.access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = stack.nginx.access_log.read_text()
    assert "/u/[redacted]/hello.txt" in log and code not in log
    assert code not in stack.app_logs()

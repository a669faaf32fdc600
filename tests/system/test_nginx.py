"""End to end through the real nginx: the shipped nginx.conf (SITE lines rendered for loopback and
temp dirs) in front of two ``run.py`` processes sharing one data dir and SQLite store."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.helpers import require_tool
from tests.nginx_stack import ACCEL_PREFIX, Stack, request

pytestmark = pytest.mark.system

LIMIT = 256 << 20
BIG = 200 << 20
CHUNK = 1 << 20
# Python, Tornado and a 1 MiB read chunk are a few tens of MiB; a buffered 200 MB body would show.
RSS_SLACK = 64 << 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = Stack(tmp_path_factory.mktemp("nginx-stack"), backends=2, max_upload_size=LIMIT).start()
    yield s
    s.stop()


def put(port: int, data: bytes, name: str = "f.bin") -> dict:
    response, body = request(port, "PUT", f"/{name}", data)
    assert response.status in (200, 201), body
    return json.loads(body)


def filehash(card: dict) -> str:
    return card["url_i"].rsplit("/", 1)[1]


def blob_path(stack: Stack, sha256: str) -> Path:
    return stack.data_dir / "blobs" / sha256[:2] / sha256[2:4] / sha256


def staging_files(stack: Stack) -> list[str]:
    return os.listdir(stack.data_dir / "tmp")


def headers_only(port: int, method: str, path: str, length: int, ctype: str | None = None) -> tuple[int, dict, bytes]:
    """Send a request's headers with a Content-Length but no body; read the early answer."""
    head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\nContent-Length: {length}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall((head + "\r\n").encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body


# -- streaming ---------------------------------------------------------------------------------

def fd_targets(pid: int) -> list[str]:
    """What a process's descriptors point at, deleted files included (psutil hides those)."""
    targets = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    return targets


def test_200mb_upload_streams_through_nginx(stack):
    """Peak RSS of every app process and nginx worker stays flat; nginx spools nothing to disk."""
    procs = [psutil.Process(b.proc.pid) for b in stack.backends]
    nginx_workers = [psutil.Process(pid) for pid in stack.nginx.worker_pids()]
    procs += nginx_workers
    temp_dir = str(stack.nginx.client_body_temp)
    baseline = {p.pid: p.memory_info().rss for p in procs}
    peak = dict(baseline)
    spooled: list[str] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in procs:
                peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
            # nginx unlinks its body temp files at once: look at the workers' open files instead.
            spooled.extend(path for w in nginx_workers for path in fd_targets(w.pid) if path.startswith(temp_dir))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    piece = os.urandom(CHUNK - 24)
    tag = uuid.uuid4().bytes
    conn = http.client.HTTPConnection("127.0.0.1", stack.nginx_port, timeout=120)
    try:
        conn.putrequest("PUT", "/big.bin")
        conn.putheader("Content-Length", str(BIG))
        conn.putheader("Accept", "application/json")
        conn.endheaders()
        for i in range(BIG // CHUNK):
            conn.send(tag + i.to_bytes(8, "big") + piece)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
        done.set()
        sampler.join(5)
    assert response.status == 201, body
    card = json.loads(body)
    assert card["size"] == BIG
    growth = {pid: peak[pid] - baseline[pid] for pid in baseline}
    assert max(growth.values()) < RSS_SLACK, growth
    assert spooled == [], "nginx buffered the upload to its client_body_temp_path"
    assert "buffered to a temporary file" not in stack.nginx.error_log.read_text()
    assert blob_path(stack, card["sha256"]).stat().st_size == BIG


# -- several processes, one store --------------------------------------------------------------

def test_dedupe_across_backends_under_concurrency(stack):
    """The same bytes sent at once to both processes (directly and through nginx): one record, one blob."""
    data = b"same bytes from everywhere " + uuid.uuid4().bytes * 4096
    ports = [stack.ports[0], stack.ports[1], stack.nginx_port] * 4
    barrier = threading.Barrier(len(ports))

    def send(port: int) -> tuple[int, dict]:
        barrier.wait(10)
        response, body = request(port, "PUT", "/same.bin", data)
        return response.status, json.loads(body)

    with ThreadPoolExecutor(len(ports)) as pool:
        results = list(pool.map(send, ports))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (len(ports) - 1) + [201], results
    assert len({card["sha256"] for _, card in results}) == 1
    assert len({filehash(card) for _, card in results}) == 1
    sha = results[0][1]["sha256"]
    assert blob_path(stack, sha).exists()
    response, body = request(stack.nginx_port, "GET", f"/i/{filehash(results[0][1])}")
    assert response.status == 200 and body == data


def _race_round(stack: Stack, data: bytes) -> dict:
    """Upload ``data``; then at once delete it on process 0 and upload it again on process 1."""
    first = put(stack.ports[0], data)
    barrier = threading.Barrier(2)

    def delete() -> int:
        barrier.wait(10)
        response, _ = request(stack.ports[0], "DELETE", f"/api/v1/files/{filehash(first)}",
                              headers={"X-Delete-Token": first["delete_token"]})
        return response.status

    def reupload() -> dict:
        barrier.wait(10)
        return put(stack.ports[1], data)

    with ThreadPoolExecutor(2) as pool:
        deleted, again = pool.submit(delete), pool.submit(reupload)
        assert deleted.result() == 200
        return again.result()


def test_delete_and_reupload_race_across_processes(stack):
    """A delete on one process racing a re-upload of the same bytes on the other never leaves a
    record without its blob (the core's retire-then-recheck protocol, across real processes)."""
    for round_ in range(8):
        data = f"race round {round_} {uuid.uuid4()}".encode() * 100
        card = _race_round(stack, data)
        meta, _ = request(stack.nginx_port, "GET", f"/api/v1/files/{filehash(card)}")
        raw, body = request(stack.nginx_port, "GET", f"/i/{filehash(card)}")
        # Either the re-upload came first (deduped, then deleted with it) or after (a new file): never half.
        assert (meta.status, raw.status) in ((404, 404), (200, 200)), (round_, meta.status, raw.status)
        if raw.status == 200:
            assert body == data
    assert staging_files(stack) == []


# -- downloads via X-Accel-Redirect -------------------------------------------------------------

def png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_raw_and_download_served_by_nginx_with_range_and_304(stack):
    data = png_bytes()
    card = put(stack.nginx_port, data, "red.png")
    fh = filehash(card)
    assert fh.endswith(".png")  # no regex location on extensions swallows /i/<hash>.png

    # The app answers headers only, pointing nginx at the blob.
    direct, body = request(stack.ports[0], "GET", f"/i/{fh}")
    assert direct.status == 200 and body == b""
    sha = card["sha256"]
    assert direct.getheader("X-Accel-Redirect") == f"{ACCEL_PREFIX}{sha[:2]}/{sha[2:4]}/{sha}"

    full, body = request(stack.nginx_port, "GET", f"/i/{fh}")
    assert full.status == 200 and body == data
    assert full.getheader("X-Accel-Redirect") is None
    assert full.getheader("Content-Type") == "image/png"
    assert full.getheader("ETag") == f'"{sha}"'
    assert "immutable" in full.getheader("Cache-Control")
    assert "sandbox" in full.getheader("Content-Security-Policy")
    assert full.getheader("X-Content-Type-Options") == "nosniff"
    assert full.getheader("Content-Disposition").startswith("inline;")

    part, body = request(stack.nginx_port, "GET", f"/i/{fh}", headers={"Range": "bytes=8-23"})
    assert part.status == 206, body
    assert body == data[8:24]
    assert part.getheader("Content-Range") == f"bytes 8-23/{len(data)}"

    cached, body = request(stack.nginx_port, "GET", f"/i/{fh}", headers={"If-None-Match": f'"{sha}"'})
    assert cached.status == 304 and body == b""
    stale, body = request(stack.nginx_port, "GET", f"/i/{fh}", headers={"If-None-Match": '"other"'})
    assert stale.status == 200 and body == data

    bad, body = request(stack.nginx_port, "GET", f"/i/{fh}", headers={"Range": f"bytes={len(data) + 10}-"})
    assert bad.status == 416
    assert json.loads(body)["error"]["code"] == "range_not_satisfiable"
    assert bad.getheader("Content-Range") == f"bytes */{len(data)}"
    assert bad.getheader("Cache-Control") is None  # an error is not cached for a year

    attachment, body = request(stack.nginx_port, "GET", f"/d/{fh}")
    assert attachment.status == 200 and body == data
    assert attachment.getheader("Content-Disposition").startswith('attachment; filename="red.png"')

    head, body = request(stack.nginx_port, "HEAD", f"/i/{fh}")
    assert head.status == 200 and int(head.getheader("Content-Length")) == len(data)

    # /r/<hash>.png (crop-resize) is the app's too; its result is a recorded file, served via nginx.
    resized, body = request(stack.nginx_port, "GET", f"/r/{fh}?w=10&h=10", headers={"Accept": "image/*"})
    assert resized.status == 302, body
    location = resized.getheader("Location")
    assert location.startswith(f"{stack.public_url}/i/")
    derived, body = request(stack.nginx_port, "GET", location[len(stack.public_url):])
    assert derived.status == 200 and derived.getheader("Content-Type") == "image/png"
    assert body.startswith(b"\x89PNG")

    # The internal location is not reachable from outside.
    hidden, _ = request(stack.nginx_port, "GET", f"{ACCEL_PREFIX}{sha[:2]}/{sha[2:4]}/{sha}")
    assert hidden.status == 404


def test_static_served_by_nginx_with_long_cache(stack):
    response, body = request(stack.nginx_port, "GET", "/static/app.css")
    assert response.status == 200 and body == (Path(__file__).parents[2] / "static" / "app.css").read_bytes()
    assert "max-age=31536000" in response.getheader("Cache-Control")
    assert "/static/app.css" not in stack.app_logs()  # nginx answered, not the app


# -- limits and errors ------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "ctype"), [("PUT", "/big.bin", None),
                                                        ("POST", "/", "multipart/form-data; boundary=x")])
def test_413_from_nginx_and_app_agree(stack, method, path, ctype):
    # Just over the app's limit: nginx lets it through (multipart room), the app refuses.
    app_status, app_headers, app_body = headers_only(stack.nginx_port, method, path, LIMIT + (128 << 10), ctype)
    # Far over: nginx refuses before the app sees it.
    ngx_status, ngx_headers, ngx_body = headers_only(stack.nginx_port, method, path, LIMIT + (8 << 20), ctype)
    assert app_status == ngx_status == 413
    assert app_headers["content-type"] == ngx_headers["content-type"] == "application/json; charset=utf-8"
    app_error, ngx_error = json.loads(app_body), json.loads(ngx_body)
    assert app_error.keys() == ngx_error.keys() == {"error"}
    assert app_error["error"].keys() == ngx_error["error"].keys() == {"code", "message"}
    assert app_error["error"]["code"] == ngx_error["error"]["code"] == "too_large"
    assert "upload limit" in app_error["error"]["message"] and "upload limit" in ngx_error["error"]["message"]
    assert staging_files(stack) == []


def test_app_logs_the_real_client_ip(stack):
    """nginx on 127.0.0.1 relays a client from 127.0.0.2; a forged X-Real-IP is overwritten."""
    probe = uuid.uuid4().hex
    response, _ = request(stack.nginx_port, "GET", f"/healthz?probe={probe}", source="127.0.0.2",
                          headers={"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"})
    assert response.status == 200
    line = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not line:
        line = next((x for x in stack.app_logs().splitlines() if probe in x), "")
        time.sleep(0.05)
    assert re.search(r"\(127\.0\.0\.2\)", line), line
    assert "203.0.113.9" not in line


# -- failover (last: it restarts a backend) -----------------------------------------------------

def test_killing_one_backend_keeps_requests_succeeding(stack):
    card = put(stack.nginx_port, b"survives a dead backend " + uuid.uuid4().bytes)
    path = f"/i/{filehash(card)}"
    statuses: list[int] = []
    stop = threading.Event()

    def keep_downloading() -> None:  # in flight while the process dies
        while not stop.is_set() and len(statuses) < 2000:
            statuses.append(request(stack.nginx_port, "GET", path)[0].status)

    downloader = threading.Thread(target=keep_downloading)
    downloader.start()
    victim = stack.backends[0]
    try:
        wait_until = time.monotonic() + 10
        while len(statuses) < 20 and time.monotonic() < wait_until:
            time.sleep(0.01)
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        for i in range(12):
            response, body = request(stack.nginx_port, "GET", path)
            assert response.status == 200, (i, body)
            response, body = request(stack.nginx_port, "PUT", f"/after-{i}.txt", f"upload {i} {uuid.uuid4()}".encode())
            assert response.status == 201, (i, body)
        response, body = request(stack.nginx_port, "GET", "/api/v1/files?limit=5")
        assert response.status == 200 and len(json.loads(body)["files"]) == 5
    finally:
        stop.set()
        downloader.join(30)
        stack.restart_backend(0)
    assert len(statuses) > 20 and set(statuses) == {200}, sorted(set(statuses))
    response, _ = request(stack.ports[0], "GET", "/healthz")
    assert response.status == 200

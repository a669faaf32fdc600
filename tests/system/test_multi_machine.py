"""Two app machines (``run.py`` processes with SEPARATE data dirs) sharing only one object store (Ceph
RGW), one MongoDB (the nx-27017 wire server) and the deployment secret kept there, with the real nginx
in front: what is done on one is seen on the other, and killing one loses nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import io
import json
import os
import signal
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import tornado.websocket
from PIL import Image

from tests.helpers import require_tool
from tests.system.scale_stack import ScaleStack

pytestmark = pytest.mark.system

MIB = 1 << 20
A, B = 0, 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory, s3_server, mongo_wire_url) -> Iterator[ScaleStack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = ScaleStack(tmp_path_factory.mktemp("multi"), s3_server, mongo_wire_url, modes=["accel", "accel"],
                   behind_nginx=[A, B]).start()
    yield s
    s.stop()


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def on(stack: ScaleStack, machine: int) -> int:
    return stack.machines[machine].port


def put(port: int, data: bytes, name: str) -> dict:
    response, body = request(port, "PUT", f"/{name}", data)
    assert response.status in (200, 201), body
    return json.loads(body)


def path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def bucket_keys(stack: ScaleStack, area: str) -> list[str]:
    prefix = urllib.parse.quote(stack.prefix + area, safe="")
    status, body = stack.s3.request("GET", f"/{stack.s3.bucket}", query=f"list-type=2&prefix={prefix}")
    assert status == 200
    return [k.split("</Key>")[0] for k in body.decode().split("<Key>")[1:]]


def in_progress(stack: ScaleStack) -> list[str]:
    prefix = urllib.parse.quote(stack.prefix, safe="")
    status, body = stack.s3.request("GET", f"/{stack.s3.bucket}", query=f"prefix={prefix}&uploads=")
    assert status == 200
    return [k.split("</Key>")[0] for k in body.decode().split("<Key>")[1:]]


def png(size: tuple[int, int] = (64, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_upload_on_one_everything_on_the_other(stack):
    data = os.urandom(7 * MIB + 11)
    card = put(on(stack, A), data, "big.bin")
    sha = hashlib.sha256(data).hexdigest()
    assert card["sha256"] == sha and f"{stack.prefix}blobs/{sha}" in bucket_keys(stack, "blobs/")
    # The short link (the secret is the deployment's, kept in MongoDB), the card, the preview: on B.
    short, _ = request(on(stack, B), "GET", path(card["url_s"]))
    assert short.status == 302 and short.headers["Location"] == card["url_p"]
    api, body = request(on(stack, B), "GET", f"/api/v1/files/{card['filehash']}")
    assert api.status == 200 and json.loads(body)["short_code"] == card["short_code"]
    # B answers headers only (accel) and nginx sends the bytes from the store, Range included.
    direct, empty = request(on(stack, B), "GET", path(card["url_i"]))
    assert direct.status == 200 and empty == b"" and "X-Accel-Redirect" in direct.headers
    for _ in range(4):  # least_conn spreads these over both machines
        got, body = request(stack.nginx_port, "GET", path(card["url_d"]))
        assert got.status == 200 and body == data and got.headers["ETag"] == f'"{sha}"'
        ranged, part = request(stack.nginx_port, "GET", path(card["url_i"]), headers={"Range": "bytes=5242870-5242889"})
        assert ranged.status == 206 and part == data[5242870:5242890]
    assert (request(stack.nginx_port, "GET", path(card["url_i"]), headers={"If-None-Match": f'"{sha}"'})[0]
            .status == 304)


def test_every_download_mode_on_the_other_machine(stack):
    data = os.urandom(6 * MIB + 3)
    card = put(on(stack, A), data, "modes.bin")
    etag = f'"{card["sha256"]}"'
    try:
        for mode in ("proxy", "redirect"):
            stack.modes[B] = mode
            stack.restart(B)
            got, body = request(on(stack, B), "GET", path(card["url_d"]), headers={"Range": "bytes=5242875-5242884"})
            if mode == "redirect":
                assert got.status == 307 and got.headers["ETag"] == etag
                follow = urllib.request.Request(got.headers["Location"], headers={"Range": "bytes=5242875-5242884"})
                with urllib.request.urlopen(follow, timeout=30) as answer:
                    status, headers, body = answer.status, answer.headers, answer.read()
                assert headers["Content-Disposition"].startswith("attachment;")
            else:
                status, headers = got.status, got.headers
                assert headers["ETag"] == etag and headers["Content-Disposition"].startswith("attachment;")
            assert status == 206 and body == data[5242875:5242885], mode
            assert headers["Content-Range"] == f"bytes 5242875-5242884/{len(data)}"
            assert request(on(stack, B), "GET", path(card["url_i"]), headers={"If-None-Match": etag})[0].status == 304
            beyond, _ = request(on(stack, B), "GET", path(card["url_i"]), headers={"Range": f"bytes={len(data)}-"})
            assert beyond.status == 416
    finally:
        stack.modes[B] = "accel"
        stack.restart(B)


def test_resize_on_the_other_machine_writes_the_derivative_to_the_store(stack):
    card = put(on(stack, A), png(), "pic.png")
    assert (card["width"], card["height"]) == (64, 32)
    response, _ = request(on(stack, B), "GET", f"/r/{card['filehash']}?w=16&h=16", headers={"Accept": "*/*"})
    assert response.status == 302
    derived, body = request(stack.nginx_port, "GET", path(response.headers["Location"]))
    assert derived.status == 200 and Image.open(io.BytesIO(body)).size == (16, 16)
    sha = hashlib.sha256(body).hexdigest()
    assert f"{stack.prefix}blobs/{sha}" in bucket_keys(stack, "blobs/")
    again, _ = request(on(stack, A), "GET", f"/r/{card['filehash']}?w=16&h=16", headers={"Accept": "*/*"})
    assert again.headers["Location"] == response.headers["Location"]  # A finds B's derivative


def test_delete_on_the_other_machine_removes_the_object_promptly(stack):
    card = put(on(stack, A), os.urandom(6 * MIB), "doomed.bin")
    key = f"{stack.prefix}blobs/{card['sha256']}"
    response, _ = request(on(stack, B), "DELETE", f"/api/v1/files/{card['filehash']}",
                          headers={"X-Delete-Token": card["delete_token"]})
    assert response.status == 200
    deadline = time.monotonic() + 5
    while key in bucket_keys(stack, "blobs/") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert key not in bucket_keys(stack, "blobs/")
    assert request(stack.nginx_port, "GET", path(card["url_i"]))[0].status == 404
    assert bucket_keys(stack, "retired/") == []


def test_twenty_identical_uploads_on_two_machines_make_one_object_and_one_record(stack):
    data = os.urandom(6 * MIB + 5)
    with ThreadPoolExecutor(20) as pool:
        cards = list(pool.map(lambda i: put(on(stack, i % 2), data, f"same{i}.bin"), range(20)))
    assert len({c["filehash"] for c in cards}) == 1
    assert sum(1 for c in cards if c.get("delete_token")) == 1
    sha = hashlib.sha256(data).hexdigest()
    assert bucket_keys(stack, "blobs/").count(f"{stack.prefix}blobs/{sha}") == 1
    time.sleep(0.5)  # the staging objects' clean-ups run after each answer
    assert bucket_keys(stack, "staging/") == [] and in_progress(stack) == []


def tus(port: int, method: str, upload_path: str, body: bytes = b"", **headers: str):
    return request(port, method, upload_path, body, {"Tus-Resumable": "1.0.0", **headers})


def test_tus_upload_resumed_on_the_other_machine(stack):
    data = os.urandom(6 * MIB + 1234)
    meta = "filename " + base64.b64encode(b"resumed.bin").decode()
    created, _ = tus(on(stack, A), "POST", "/api/v1/tus/", **{"Upload-Length": str(len(data)), "Upload-Metadata": meta})
    assert created.status == 201
    upload = "/" + created.headers["Location"].split("/", 3)[3]
    stream = "application/offset+octet-stream"
    first, _ = tus(on(stack, A), "PATCH", upload, data[:4 * MIB], **{"Upload-Offset": "0", "Content-Type": stream})
    assert first.status == 204
    head, _ = tus(on(stack, B), "HEAD", upload)
    assert head.headers["Upload-Offset"] == str(4 * MIB)
    last, _ = tus(on(stack, B), "PATCH", upload, data[4 * MIB:], **{"Upload-Offset": str(4 * MIB),
                                                                     "Content-Type": stream})
    assert last.status == 204
    card = json.loads(request(on(stack, A), "GET", path(last.headers["X-File-Location"]))[1])
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert bucket_keys(stack, "tus/") == []


@pytest.mark.gen_test(timeout=60)
async def test_live_events_cross_machines(stack):
    conn = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{on(stack, B)}/ws")
    try:
        card = await asyncio.get_running_loop().run_in_executor(
            None, put, on(stack, A), f"live {uuid.uuid4().hex}".encode(), "live.txt")
        message = await asyncio.wait_for(conn.read_message(), 15)
        event = json.loads(message)
        assert event["type"] == "file.created" and event["file"]["filehash"] == card["filehash"]
    finally:
        conn.close()


def test_killing_a_machine_mid_upload_loses_nothing(stack):
    kept = [put(on(stack, A), os.urandom(size), f"kept{size}.bin") for size in (1000, 6 * MIB)]
    started = threading.Event()

    def doomed_upload() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", on(stack, A), timeout=30)
        try:
            conn.putrequest("PUT", "/doomed.bin")
            conn.putheader("Content-Length", str(40 * MIB))
            conn.endheaders()
            for _ in range(40):
                conn.send(os.urandom(MIB))
                started.set()
                time.sleep(0.02)
        except OSError:
            pass
        finally:
            conn.close()

    sender = threading.Thread(target=doomed_upload, daemon=True)
    sender.start()
    assert started.wait(10)
    deadline = time.monotonic() + 10
    while not in_progress(stack) and time.monotonic() < deadline:
        time.sleep(0.05)  # the upload's multipart is open in the store
    assert in_progress(stack), "the doomed upload should be streaming into a multipart upload"
    os.killpg(stack.machines[A].proc.pid, signal.SIGKILL)
    stack.machines[A].proc.wait(10)
    sender.join(10)
    # Nothing lost: every stored file, through nginx (which now only has B) and on B directly.
    for card in kept:
        response, body = request(stack.nginx_port, "GET", path(card["url_i"]))
        assert response.status == 200 and hashlib.sha256(body).hexdigest() == card["sha256"]
    # The machine comes back (same host, new pid): its start-up sweep aborts what the dead one left.
    stack.restart(A)
    assert in_progress(stack) == [] and bucket_keys(stack, "staging/") == []
    again = put(on(stack, A), b"after the restart", "after.txt")
    assert request(on(stack, B), "GET", path(again["url_s"]))[0].status == 302

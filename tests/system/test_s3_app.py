"""The app with its blobs on a real S3 server (Ceph RGW): uploads streamed into multipart uploads,
dedupe, delete, refusals and resets that leave nothing behind, downloads in the three modes, resize,
previews, photo metadata stripped before the bytes are committed (a small upload's buffer, a
multipart staging object and a tus upload assembled in the bucket, each fetched to a local file for
the stripper, the stripped file uploaded), the store going down (503 + Retry-After) and coming back without a restart.

The serving tests of tests/handlers/test_serving.py run here again, unchanged, with the bytes on S3
(proxy mode): every header and status is the same as with local blobs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from tests import mediagen
from tests.conftest import body_of, path_of
from tests.faults import half_upload, poll
from tests.handlers.test_serving import (  # noqa: F401  (re-run on S3)
    stored,
    test_active_content_is_attachment_and_sandboxed,
    test_download_is_attachment_with_utf8_filename,
    test_head_has_headers_and_no_body,
    test_if_none_match_gives_304,
    test_preview_page_shows_the_card,
    test_range_requests,
    test_raw_is_inline_with_sniffed_type_cache_and_etag,
    test_short_link_redirects_to_preview,
    test_unsatisfiable_range_is_416_json,
)
from tests.images.test_http import (  # noqa: F401  (re-run on S3)
    renders,
    test_images_get_width_and_height_at_upload,
    test_resize_redirects_to_a_recorded_derivative,
)
from tests.previews.conftest import counted  # noqa: F401  (a fixture of the tests re-run below)
from tests.previews.test_photos import (  # noqa: F401  (re-run on S3)
    strip,
    test_raw_put_and_tus_strip_too,
    test_uploads_store_the_stripped_bytes_and_dedupe_on_them,
)
from tests.system.tcp_relay import TcpRelay
from tornado_paste.core.policy import TypePolicy

pytestmark = pytest.mark.system

MIB = 1 << 20
PART = 5 * MIB


def s3_settings(server, endpoint: str | None = None, **extra) -> dict:
    return dict(blob_store="s3", s3_endpoint_url=endpoint or server.endpoint_url, s3_bucket=server.bucket,
                s3_region=server.region, s3_access_key=server.access_key, s3_secret_key=server.secret_key,
                s3_prefix=f"app-{uuid.uuid4().hex[:10]}/", s3_part_size=PART, s3_connect_timeout=1.0,
                s3_read_timeout=5.0, s3_max_attempts=2, **extra)


@pytest.fixture
def settings_overrides(s3_server):
    return s3_settings(s3_server)


async def leftovers(blobs) -> dict[str, list[str]]:
    await blobs.settle()
    prefix = blobs.config.prefix
    found: dict[str, list[str]] = {"uploads": [], "staging": [], "retired": [], "blobs": []}
    async for upload in blobs.conn.pages("list_multipart_uploads", "Uploads", Prefix=prefix):
        found["uploads"].append(upload["Key"])
    for area in ("staging", "retired", "blobs"):
        async for item in blobs.conn.pages("list_objects_v2", "Contents", Prefix=f"{prefix}{area}/"):
            found[area].append(item["Key"].rsplit("/", 1)[-1])
    return found


def committed(*shas: str) -> dict[str, list[str]]:
    return {"uploads": [], "staging": [], "retired": [], "blobs": sorted(shas)}


async def put(fetch, data: bytes, name: str = "f.bin", **headers) -> dict:
    response = await fetch("/" + urllib.parse.quote(name), method="PUT", body=data,
                           headers={"Accept": "application/json", **headers})
    assert response.code in (200, 201), response.body
    return body_of(response)


@pytest.mark.gen_test(timeout=120)
async def test_uploads_stream_into_s3_and_only_the_content_address_remains(fetch, upload, services):
    assert services.blobs.kind == "s3"
    small, large = os.urandom(10_000), os.urandom(3 * PART + 12345)
    cards = [await put(fetch, small, "small.bin"), await put(fetch, large, "large.bin")]
    form = body_of(await upload(large[:PART + 1], "form.bin"))
    shas = [hashlib.sha256(d).hexdigest() for d in (small, large, large[:PART + 1])]
    assert [c["sha256"] for c in cards] + [form["sha256"]] == shas
    assert await leftovers(services.blobs) == committed(*shas)
    got = await fetch(path_of(cards[1]["url_d"]))
    assert got.code == 200 and got.body == large
    ranged = await fetch(path_of(cards[1]["url_i"]), headers={"Range": f"bytes={PART - 10}-{PART + 9}"})
    assert ranged.code == 206 and ranged.body == large[PART - 10:PART + 10]


@pytest.mark.gen_test(timeout=120)
async def test_a_multipart_photo_is_stripped_and_only_the_stripped_blob_remains(fetch, services):
    """Bigger than one part: staged as a multipart object, downloaded for the stripper, the stripped
    file uploaded under its own address; neither the staging object nor a scratch copy stays."""
    original = mediagen.camera_jpeg()
    padding = os.urandom(PART + 1000)  # after the JPEG's end: kept as it is by the stripper
    original += padding
    stripped, removed = strip(original, "jpeg", "gps")
    assert len(stripped) > PART and removed
    card = await put(fetch, original, "big.jpg")
    assert card["media"]["metadata_removed"] == removed
    assert card["sha256"] == hashlib.sha256(stripped).hexdigest()
    assert (await fetch(path_of(card["url_i"]))).body == stripped
    assert await leftovers(services.blobs) == committed(card["sha256"])
    scratch = services.blobs.scratch.tmp_dir
    assert not [name for name in os.listdir(scratch) if name.endswith((".copy", ".strip"))]


@pytest.mark.gen_test(timeout=120)
async def test_concurrent_identical_uploads_make_one_object_and_one_record(fetch, services):
    data = os.urandom(PART + 777)
    cards = await asyncio.gather(*(put(fetch, data, f"same{i}.bin") for i in range(20)))
    assert len({c["filehash"] for c in cards}) == 1
    assert sum(1 for c in cards if c.get("delete_token")) == 1
    sha = hashlib.sha256(data).hexdigest()
    assert await services.store.count_sha256_refs(sha) == 1
    assert await leftovers(services.blobs) == committed(sha)


@pytest.mark.gen_test(timeout=120)
async def test_delete_removes_the_object_at_once(fetch, services):
    card = await put(fetch, os.urandom(PART + 1), "gone.bin")
    response = await fetch(f"/api/v1/files/{card['filehash']}", method="DELETE",
                           headers={"X-Delete-Token": card["delete_token"]})
    assert response.code == 200
    assert await leftovers(services.blobs) == committed()
    assert (await fetch(path_of(card["url_i"]))).code == 404


@pytest.mark.gen_test(timeout=120)
async def test_resets_and_refusals_abort_the_multipart_upload(fetch, services, settings, http_port):
    # A client that sends 2.5 parts and vanishes.
    stream = await half_upload(http_port, b"x" * (PART * 5 // 2), PART * 4, path="/reset.bin", method="PUT",
                               ctype="application/octet-stream")
    await asyncio.sleep(0.5)  # two parts are up (or on their way)
    stream.close()
    assert await poll(lambda: services.inflight == 0, 10)
    # Too large, found out mid-body (no Content-Length to refuse it early).
    limit = settings.max_upload_size

    async def body_producer(write):
        for _ in range(3):
            await write(b"y" * PART)

    services.ingestor.max_upload_size = 2 * PART
    try:
        refused = await fetch("/big.bin", method="PUT", body_producer=body_producer,
                              headers={"Accept": "application/json", "Transfer-Encoding": "chunked"})
    finally:
        services.ingestor.max_upload_size = limit
    assert refused.code == 413
    # Refused by type after the last byte.
    services.ingestor.policy = TypePolicy((), ("text/plain",))
    typed = await fetch("/text.txt", method="PUT", body=b"plain text\n" * (PART // 10),
                        headers={"Accept": "application/json"})
    assert typed.code == 415

    async def clean() -> bool:
        return (await leftovers(services.blobs))["uploads"] == []

    for _ in range(50):
        if await clean():
            break
        await asyncio.sleep(0.1)
    found = await leftovers(services.blobs)
    assert found["uploads"] == [] and found["staging"] == [] and found["retired"] == []


@pytest.mark.gen_test(timeout=120)
async def test_preview_excerpt_reads_from_s3(fetch):
    card = await put(fetch, b"hello from the bucket\n" * 10, "note.txt")
    page = await fetch(path_of(card["url_p"]), headers={"Accept": "text/html"})
    assert page.code == 200 and b"hello from the bucket" in page.body


@pytest.mark.gen_test(timeout=120)
async def test_expired_files_are_swept_from_s3(fetch, services):
    card = await put(fetch, os.urandom(2000), "soon.bin")
    record = await services.store.get_by_filehash(card["filehash"])
    from datetime import timedelta

    from tornado_paste.core.records import utcnow

    await services.store.expiry.set_expiry(record.id, utcnow() - timedelta(seconds=1))
    report = await services.retention.sweeper.sweep_expired()
    assert report.records == 1 and report.blobs == 1
    assert await leftovers(services.blobs) == committed()
    # An orphan (no record) goes once older than the grace.
    orphan = await put(fetch, os.urandom(3000), "orphan.bin")
    await services.store.delete_file((await services.store.get_by_filehash(orphan["filehash"])).id)
    services.retention.sweeper.grace = 0
    assert (await services.retention.sweeper.sweep_orphans()).blobs == 1
    assert await leftovers(services.blobs) == committed()


# -- redirect mode --------------------------------------------------------------------------------------

def follow(url: str, headers: dict[str, str] | None = None, method: str = "GET"):
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.gen_test(timeout=120)
async def test_redirect_mode_sends_clients_to_a_presigned_url(fetch, s3_server, services, monkeypatch):
    monkeypatch.setattr(services, "settings", services.settings.replace(s3_download="redirect"))
    data = os.urandom(PART + 10)
    card = await put(fetch, data, 'report "q1".pdf')
    response = await fetch(path_of(card["url_d"]))
    assert response.code == 307 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["ETag"] == f'"{card["sha256"]}"'
    location = response.headers["Location"]
    assert location.startswith(s3_server.endpoint_url + "/" + s3_server.bucket + "/")
    status, headers, body = follow(location)
    assert status == 200 and body == data
    assert headers["Content-Disposition"].startswith("attachment;") and "report" in headers["Content-Disposition"]
    assert headers["Content-Type"] == card["mimetype"]
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    status, headers, body = follow(location, {"Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200] and headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    # Conditionals and impossible ranges are answered by the app, as ever.
    assert (await fetch(path_of(card["url_i"]), headers={"If-None-Match": f'"{card["sha256"]}"'})).code == 304
    too_far = await fetch(path_of(card["url_i"]), headers={"Range": f"bytes={len(data) + 5}-"})
    assert too_far.code == 416 and too_far.headers["Content-Range"] == f"bytes */{len(data)}"
    head = await fetch(path_of(card["url_i"]), method="HEAD")
    assert head.code == 307
    status, headers, _ = follow(head.headers["Location"], method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) == len(data)


# -- the store going down and coming back ---------------------------------------------------------------

@pytest.fixture
def relay(s3_server):
    host, port = s3_server.endpoint_url.split("://", 1)[1].split(":")
    r = TcpRelay(host, int(port)).up()
    yield r
    r.down()


@pytest.fixture
def relayed_services(io_loop, tmp_path, http_port, relay, s3_server):
    from settings import Settings
    from tornado_paste.services import build_services

    settings = Settings(address="127.0.0.1", port=http_port, data_dir=str(tmp_path / "data"),
                        base_url=f"http://127.0.0.1:{http_port}",
                        **s3_settings(s3_server, endpoint=relay.url)).validated()
    svc = build_services(settings)
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


@pytest.mark.gen_test(timeout=120)
async def test_object_store_down_is_503_and_back_without_restart(relayed_services, relay, http_port):
    import tornado.httpclient

    from handlers.routes import make_app
    from run import make_server

    server = make_server(make_app(relayed_services), relayed_services.settings)
    server.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    base = f"http://127.0.0.1:{port}"

    async def call(path: str, **kw):
        kw.setdefault("raise_error", False)
        kw.setdefault("request_timeout", 30)
        return await client.fetch(base + path, **kw)

    try:
        data = os.urandom(PART + 50)
        first = await call("/before.bin", method="PUT", body=data, headers={"Accept": "application/json"})
        assert first.code == 201
        card = json.loads(first.body)
        relay.down()
        down = await call("/during.bin", method="PUT", body=os.urandom(PART + 60),
                          headers={"Accept": "application/json"})
        assert down.code == 503 and down.headers["Retry-After"]
        assert json.loads(down.body)["error"]["code"] == "unavailable"
        read = await call(path_of(card["url_i"]))
        assert read.code == 503 and read.headers["Retry-After"]
        relay.up()
        again = await call(path_of(card["url_i"]))
        assert again.code == 200 and again.body == data
        after = await call("/after.bin", method="PUT", body=os.urandom(1000), headers={"Accept": "application/json"})
        assert after.code == 201
    finally:
        client.close()
        server.stop()



def test_refused_credentials_stop_run_py_with_one_clear_line(tmp_path, s3_server):
    from tests.helpers import ServerProcess
    from tests.system.scale_stack import machine_env

    env = machine_env(s3_server, "", "", "refused/", "proxy")
    del env["TORNADO_PASTE_MONGO_URL"], env["TORNADO_PASTE_MONGO_DATABASE"]
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    server = ServerProcess(tmp_path / "data", env=env, log_path=tmp_path / "refused.log")
    with pytest.raises(RuntimeError, match="exited with 3"):
        server.start(timeout=30)
    server.stop()
    log = server.log()
    assert "cannot start: the object store refused us (403) for s3://test-bucket/refused/" in log, log[-2000:]
    assert "Traceback" not in log


def test_run_py_starts_with_the_store_down_and_serves_once_it_is_up(tmp_path, s3_server, relay):
    from tests.helpers import ServerProcess
    from tests.system.scale_stack import machine_env

    env = machine_env(s3_server, "", "", "late/", "proxy")
    del env["TORNADO_PASTE_MONGO_URL"], env["TORNADO_PASTE_MONGO_DATABASE"]
    env["TORNADO_PASTE_S3_ENDPOINT_URL"] = relay.url
    env["TORNADO_PASTE_S3_CONNECT_TIMEOUT"] = "0.5"
    relay.down()
    server = ServerProcess(tmp_path / "data", env=env, log_path=tmp_path / "late.log").start(timeout=40)
    try:
        request = urllib.request.Request(server.url + "/late.txt", data=b"late bytes", method="PUT",
                                         headers={"Accept": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 503 and refused.value.headers["Retry-After"]
        relay.up()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 201
    finally:
        server.stop()
    assert "start-up sweep of the blob store skipped" in server.log()

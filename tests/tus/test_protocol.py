"""tus 1.0.0 at /api/v1/tus/ against the real server: core protocol and every extension we advertise."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import body_of, path_of
from tests.tus_helpers import TUS, checksum, create, head, metadata, patch, upload_all


def tus_files(services) -> list[str]:
    return sorted(os.listdir(services.tus.dir))


@pytest.mark.gen_test
async def test_options_advertises_capabilities(fetch, settings):
    response = await fetch("/api/v1/tus/", method="OPTIONS")
    assert response.code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert {"creation", "creation-with-upload", "creation-defer-length", "termination", "expiration",
            "checksum", "concatenation"} <= extensions
    assert int(response.headers["Tus-Max-Size"]) == settings.max_upload_size
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}


@pytest.mark.gen_test
async def test_unsupported_version_is_412(fetch):
    for headers in ({"Tus-Resumable": "0.2.2", "Upload-Length": "5"}, {"Upload-Length": "5"}):
        response = await fetch("/api/v1/tus/", method="POST", headers=headers)
        assert response.code == 412
        assert response.headers["Tus-Version"] == "1.0.0"
        assert response.headers["Tus-Resumable"] == "1.0.0"
        assert body_of(response)["error"]["code"] == "unsupported_tus_version"


@pytest.mark.gen_test
async def test_happy_path_in_several_patches(fetch, upload, services):
    data = os.urandom(300 * 1024 + 17)
    response, path = await create(fetch, len(data), meta=metadata(filename="big.bin", filetype="x/y"))
    assert response.code == 201
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Upload-Expires"].endswith("GMT")
    assert path.startswith("/api/v1/tus/")
    first = await head(fetch, path)
    assert first.code == 200 and first.body == b""
    assert first.headers["Upload-Offset"] == "0"
    assert first.headers["Upload-Length"] == str(len(data))
    assert first.headers["Cache-Control"] == "no-store"
    assert "filename" in first.headers["Upload-Metadata"]
    chunk = 100 * 1024
    for start in range(0, len(data), chunk):
        response = await patch(fetch, path, start, data[start:start + chunk])
        assert response.code == 204, response.body
        assert response.headers["Upload-Offset"] == str(min(start + chunk, len(data)))
        assert response.headers["Tus-Resumable"] == "1.0.0"
        if start + chunk < len(data):
            assert "Upload-Expires" in response.headers
            assert "X-File-Location" not in response.headers
    location = response.headers["X-File-Location"]
    assert "/api/v1/files/" in location
    assert response.headers["X-Delete-Token"]
    card = body_of(await fetch(path_of(location)))
    assert card["filename"] == "big.bin"
    assert card["size"] == len(data)
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    raw = await fetch(path_of(card["url_i"]))
    assert hashlib.sha256(raw.body).hexdigest() == hashlib.sha256(data).hexdigest()
    done = await head(fetch, path)
    assert done.headers["Upload-Offset"] == str(len(data))
    assert done.headers["X-File-Location"] == location
    assert tus_files(services) == []  # the bytes moved into the blob store

    # Same bytes through plain POST /: deduped onto the same file.
    plain = await upload(data, "again.bin")
    assert plain.code == 200
    assert body_of(plain)["filehash"] == card["filehash"]


@pytest.mark.gen_test
async def test_plain_upload_first_then_tus_dedupes(fetch, upload):
    data = os.urandom(50_000)
    plain = await upload(data, "plain.bin")
    assert plain.code == 201
    _, last = await upload_all(fetch, data, 20_000)
    assert "X-Delete-Token" not in last.headers  # known bytes: the token stays with the first uploader
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["filehash"] == body_of(plain)["filehash"]


@pytest.mark.gen_test
async def test_wrong_offset_409_and_wrong_type_415(fetch):
    _response, path = await create(fetch, 10)
    assert (await patch(fetch, path, 3, b"abc")).code == 409
    wrong_type = await fetch(path, method="PATCH", body=b"abc",
                             headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert wrong_type.code == 415
    assert wrong_type.headers["Tus-Resumable"] == "1.0.0"
    assert (await patch(fetch, path, 0, b"abc")).code == 204
    assert (await patch(fetch, path, 0, b"abc")).code == 409
    assert (await head(fetch, path)).headers["Upload-Offset"] == "3"
    too_much = await patch(fetch, path, 3, b"x" * 8)
    assert too_much.code == 413
    assert (await head(fetch, path)).headers["Upload-Offset"] == "3"


@pytest.mark.gen_test
async def test_unknown_upload_404(fetch):
    missing = "/api/v1/tus/" + "0" * 32
    assert (await head(fetch, missing)).code == 404
    assert (await patch(fetch, missing, 0, b"x")).code == 404
    assert (await head(fetch, "/api/v1/tus/not-an-id")).code == 404


@pytest.mark.gen_test
async def test_checksums(fetch, services):
    data = b"0123456789" * 1000
    _, path = await create(fetch, len(data))
    good = await patch(fetch, path, 0, data[:4000], {"Upload-Checksum": checksum("sha1", data[:4000])})
    assert good.code == 204
    bad = await patch(fetch, path, 4000, data[4000:8000], {"Upload-Checksum": checksum("sha256", b"other")})
    assert bad.code == 460
    assert bad.headers["Tus-Resumable"] == "1.0.0"
    assert (await head(fetch, path)).headers["Upload-Offset"] == "4000"
    # No byte of the refused PATCH stayed in the staging file.
    upload_id = path.rstrip("/").rsplit("/", 1)[-1]
    assert os.path.getsize(services.tus.path_for(upload_id)) == 4000
    unsupported = await patch(fetch, path, 4000, data[4000:], {"Upload-Checksum": "md5 AAAA"})
    assert unsupported.code == 400
    last = await patch(fetch, path, 4000, data[4000:], {"Upload-Checksum": checksum("sha256", data[4000:])})
    assert last.code == 204
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test
async def test_deferred_length(fetch):
    data = os.urandom(30_000)
    response, path = await create(fetch, defer=True, meta=metadata(filename="stream.bin"))
    assert response.code == 201
    state = await head(fetch, path)
    assert state.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in state.headers
    assert (await patch(fetch, path, 0, data[:10_000])).code == 204
    last = await patch(fetch, path, 10_000, data[10_000:], {"Upload-Length": str(len(data))})
    assert last.code == 204
    assert last.headers["Upload-Length"] == str(len(data))
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    both = await fetch("/api/v1/tus/", method="POST", body=b"",
                       headers={**TUS, "Upload-Length": "5", "Upload-Defer-Length": "1"})
    assert both.code == 400
    neither = await fetch("/api/v1/tus/", method="POST", body=b"", headers=dict(TUS))
    assert neither.code == 400


@pytest.mark.gen_test
async def test_creation_with_upload_and_metadata(fetch):
    data = b"hello tus\n" * 100
    response, path = await create(fetch, len(data), body=data[:400],
                                  meta=metadata(filename="hello.txt", private="true", expires="1h"))
    assert response.code == 201
    assert response.headers["Upload-Offset"] == "400"
    last = await patch(fetch, path, 400, data[400:])
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["filename"] == "hello.txt"
    assert card["private"] is True
    assert card["expires_at"] is not None
    lifetime = datetime.fromisoformat(card["expires_at"].replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(minutes=50) < lifetime <= timedelta(hours=1)  # "1h", as for POST /
    assert card["mimetype"] == "text/plain"
    whole, _ = await create(fetch, 5, body=b"whole")
    assert whole.code == 201 and "X-File-Location" in whole.headers
    empty, _ = await create(fetch, 0)
    assert empty.code == 201 and "X-File-Location" in empty.headers
    bad_meta, _ = await create(fetch, 5, meta="filename not-base64!")
    assert bad_meta.code == 400
    bad_expires, _ = await create(fetch, 5, meta=metadata(expires="3 fortnights"))
    assert bad_expires.code == 400
    assert body_of(bad_expires)["error"]["code"] == "bad_expires"
    too_big, _ = await create(fetch, 1 << 50)
    assert too_big.code == 413


@pytest.mark.gen_test
async def test_termination(fetch, services):
    _, path = await create(fetch, 100)
    assert (await patch(fetch, path, 0, b"x" * 40)).code == 204
    assert len(tus_files(services)) == 1
    gone = await fetch(path, method="DELETE", headers=dict(TUS))
    assert gone.code == 204
    assert tus_files(services) == []
    assert (await head(fetch, path)).code == 404
    assert (await patch(fetch, path, 40, b"y")).code == 404
    assert (await fetch(path, method="DELETE", headers=dict(TUS))).code == 404


@pytest.mark.gen_test
async def test_method_override(fetch):
    _, path = await create(fetch, 6)
    response = await fetch(path, method="POST", body=b"abcdef",
                           headers={**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                    "Content-Type": "application/offset+octet-stream"})
    assert response.code == 204
    assert "X-File-Location" in response.headers
    plain_post = await fetch(path, method="POST", body=b"", headers=dict(TUS))
    assert plain_post.code == 405


@pytest.mark.gen_test
async def test_type_policy_refusal_leaves_nothing(fetch, services):
    services.ingestor.policy.deny = ("text/*",)
    _, path = await create(fetch, 20)
    assert (await patch(fetch, path, 0, b"plain text " * 1)).code == 204
    refused = await patch(fetch, path, 11, b"more text")
    assert refused.code == 415
    assert tus_files(services) == []
    assert (await head(fetch, path)).code == 404
    assert await services.store.latest(10) == []


@pytest.mark.gen_test
async def test_concurrent_patches_are_serialized(fetch, base, services):
    """A PATCH that arrives while another one holds the upload gets 423; bytes never interleave."""
    data = os.urandom(200_000)
    _, path = await create(fetch, len(data))
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
    writer.write(data[:50_000])
    await writer.drain()
    upload_id = path.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 10
    while (await services.tus.state.get(upload_id)).lock_owner is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    loser = await patch(fetch, path, 0, data)
    assert loser.code == 423
    assert body_of(loser)["error"]["code"] == "upload_locked"
    writer.write(data[50_000:])
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert b" 204 " in status_line
    writer.close()
    state = await services.tus.state.get(upload_id)
    assert state.done and state.filehash
    card = body_of(await fetch(f"/api/v1/files/{state.filehash}"))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test
async def test_resume_after_client_drops_socket_mid_patch(fetch, base, services):
    data = os.urandom(400_000)
    _, path = await create(fetch, len(data), meta=metadata(filename="dropped.bin"))
    host, port = base.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
    sent = 150_000
    writer.write(data[:sent])
    await writer.drain()
    upload_id = path.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 10
    while (await services.tus.state.get(upload_id)).lock_owner is None:  # the server has the body started
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    writer.close()  # the client vanishes mid-body
    state = None
    while True:  # the server commits what arrived and frees the upload
        state = await services.tus.state.get(upload_id)
        if state.lock_owner is None:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    reply = await head(fetch, path)
    offset = int(reply.headers["Upload-Offset"])
    assert offset == state.offset
    assert 0 < offset <= sent
    assert os.path.getsize(services.tus.path_for(upload_id)) == offset
    rest = await patch(fetch, path, offset, data[offset:])
    assert rest.code == 204
    card = body_of(await fetch(path_of(rest.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.gen_test
async def test_concatenation_of_three_concurrent_parts(fetch, services):
    parts = [os.urandom(70_000 + i) for i in range(3)]

    async def send_part(data: bytes) -> str:
        response, path = await create(fetch, len(data), headers={"Upload-Concat": "partial"})
        assert response.code == 201
        for start in range(0, len(data), 30_000):
            assert (await patch(fetch, path, start, data[start:start + 30_000])).code == 204
        state = await head(fetch, path)
        assert state.headers["Upload-Concat"] == "partial"
        assert "X-File-Location" not in state.headers  # a part is not a file
        return path

    paths = await asyncio.gather(*(send_part(p) for p in parts))
    assert await services.store.latest(10) == []
    early, _ = await create(fetch, headers={"Upload-Concat": "final;" + " ".join([*paths[:1], "/api/v1/tus/x"])})
    assert early.code == 400
    final, final_path = await create(fetch, headers={
        "Upload-Concat": "final;" + " ".join(paths), "Upload-Metadata": metadata(filename="joined.bin")})
    assert final.code == 201, final.body
    whole = b"".join(parts)
    assert final.headers["Upload-Length"] == str(len(whole))
    card = body_of(await fetch(path_of(final.headers["X-File-Location"])))
    assert card["filename"] == "joined.bin"
    assert card["sha256"] == hashlib.sha256(whole).hexdigest()
    described = await head(fetch, final_path)
    assert described.headers["Upload-Concat"].startswith("final;")
    assert described.headers["Upload-Offset"] == str(len(whole))
    assert (await patch(fetch, final_path, len(whole), b"x")).code == 403
    for part in paths:  # parts were used up
        assert (await head(fetch, part)).code == 404
    assert tus_files(services) == []


@pytest.mark.gen_test
async def test_concatenation_refuses_unfinished_parts(fetch):
    _, part = await create(fetch, 10, headers={"Upload-Concat": "partial"})
    assert (await patch(fetch, part, 0, b"abc")).code == 204
    final, _ = await create(fetch, headers={"Upload-Concat": f"final;{part}"})
    assert final.code == 400
    _, plain = await create(fetch, 3)
    assert (await patch(fetch, plain, 0, b"abc")).code == 204
    not_partial, _ = await create(fetch, headers={"Upload-Concat": f"final;{plain}"})
    assert not_partial.code == 400


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("settings_overrides", [{"tus_expiry": 0.5, "tus_sweep_interval": 0}], indirect=True)
@pytest.mark.gen_test
async def test_expiry_and_sweeper(fetch, services):
    _, path = await create(fetch, 100)
    response = await patch(fetch, path, 0, b"x" * 10)
    assert response.code == 204
    assert "Upload-Expires" in response.headers
    assert len(tus_files(services)) == 1
    deadline = time.monotonic() + 10
    while (await head(fetch, path)).code != 410:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert (await patch(fetch, path, 10, b"y")).code == 410
    assert await services.tus.sweep() == 1
    assert tus_files(services) == []
    assert (await head(fetch, path)).code == 404


@pytest.mark.gen_test
async def test_offset_follows_the_disk_after_a_power_loss(fetch, services):
    """Offsets commit without an fsync per PATCH; if the disk lost a tail, HEAD offers what survived."""
    data = os.urandom(60_000)
    _, path = await create(fetch, len(data))
    assert (await patch(fetch, path, 0, data[:40_000])).code == 204
    upload_id = path.rsplit("/", 1)[-1]
    os.truncate(services.tus.path_for(upload_id), 25_000)  # what a power cut could leave
    services.tus._hashes.clear()  # a crash takes the process memory too
    assert (await head(fetch, path)).headers["Upload-Offset"] == "25000"
    assert (await patch(fetch, path, 40_000, data[40_000:])).code == 409
    last = await patch(fetch, path, 25_000, data[25_000:])
    assert last.code == 204
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()  # re-hashed from disk on finish


@pytest.mark.gen_test
async def test_multi_piece_patches_with_checksums(fetch, services):
    """PATCHes larger than the 1 MiB write piece: hashed and written on the I/O pool, truncated on mismatch."""
    data = os.urandom(5 * 1024 * 1024 // 2)
    _, path = await create(fetch, len(data))
    upload_id = path.rsplit("/", 1)[-1]
    bad = await patch(fetch, path, 0, data, {"Upload-Checksum": checksum("sha256", data[:-1])})
    assert bad.code == 460
    assert os.path.getsize(services.tus.path_for(upload_id)) == 0
    half = len(data) // 2
    first = await patch(fetch, path, 0, data[:half], {"Upload-Checksum": checksum("sha1", data[:half])})
    assert first.code == 204
    last = await patch(fetch, path, half, data[half:], {"Upload-Checksum": checksum("sha256", data[half:])})
    assert last.code == 204
    card = body_of(await fetch(path_of(last.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("settings_overrides", [{"tus_expiry": 1.0, "tus_sweep_interval": 0}], indirect=True)
@pytest.mark.gen_test
async def test_metrics(fetch, services, monkeypatch):
    counted: dict[str, int] = {}
    monkeypatch.setattr(services.metrics, "incr",
                        lambda name, count=1: counted.__setitem__(name, counted.get(name, 0) + count))
    await upload_all(fetch, b"a" * 3000, 1000)
    _, bad = await create(fetch, 10)
    assert (await patch(fetch, bad, 0, b"abc", {"Upload-Checksum": checksum("sha1", b"xyz")})).code == 460
    assert (await fetch(bad, method="DELETE", headers=dict(TUS))).code == 204
    _, stale = await create(fetch, 10)
    deadline = time.monotonic() + 10
    while (await head(fetch, stale)).code != 410:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await services.tus.sweep()
    assert counted["tus.created"] == 3
    assert counted["tus.patch.bytes"] == 3000
    assert counted["tus.completed"] == 1
    assert counted["tus.checksum_mismatch"] == 1
    assert counted["tus.terminated"] == 1
    assert counted["tus.expired"] == 1
    assert counted["upload.count"] == 1  # the ordinary ingest metrics too


@pytest.mark.gen_test
async def test_transient_store_failure_on_finish_keeps_the_bytes(fetch, services, monkeypatch):
    """A 503 while finishing must not throw away the upload: an empty PATCH at the end finishes it."""
    from tornado_paste.storage import StoreUnavailable

    data = os.urandom(40_000)
    _, path = await create(fetch, len(data))
    real_insert = services.store.insert_file

    async def broken_insert(record):
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(services.store, "insert_file", broken_insert)
    failed = await patch(fetch, path, 0, data)
    assert failed.code == 503
    described = await head(fetch, path)
    assert described.headers["Upload-Offset"] == str(len(data))
    assert "X-File-Location" not in described.headers
    monkeypatch.setattr(services.store, "insert_file", real_insert)
    retried = await patch(fetch, path, len(data), b"")
    assert retried.code == 204
    card = body_of(await fetch(path_of(retried.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert tus_files(services) == []


@pytest.mark.parametrize("settings_overrides", [{"upload_idle_timeout": 0.5}], indirect=True)
@pytest.mark.gen_test
async def test_stalled_patch_is_cut_and_the_upload_resumable(fetch, base, services):
    """A client whose network vanished silently must not keep the upload locked: 408, bytes kept, resume."""
    data = os.urandom(100_000)
    _, path = await create(fetch, len(data))
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n").encode())
    writer.write(data[:30_000])
    await writer.drain()  # ... and then nothing more, with the socket left open
    status_line = await asyncio.wait_for(reader.readline(), 15)
    assert b" 408 " in status_line
    writer.close()
    upload_id = path.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 10
    while (await services.tus.state.get(upload_id)).lock_owner is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert (await head(fetch, path)).headers["Upload-Offset"] == "30000"
    rest = await patch(fetch, path, 30_000, data[30_000:])
    assert rest.code == 204
    card = body_of(await fetch(path_of(rest.headers["X-File-Location"])))
    assert card["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("settings_overrides", [{"tus_expiry": 0.3, "tus_sweep_interval": 0.2}], indirect=True)
@pytest.mark.gen_test
async def test_background_sweeper_removes_expired_uploads(fetch, services):
    _, path = await create(fetch, 100)
    assert (await patch(fetch, path, 0, b"x" * 10)).code == 204
    deadline = time.monotonic() + 10
    while (await head(fetch, path)).code != 404:  # 410 while expired, 404 once swept
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert tus_files(services) == []

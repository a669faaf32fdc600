"""Uploads through the real server: multipart POST /, raw PUT, dedupe, limits, leftovers."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.conftest import body_of, path_of
from tests.helpers import multipart_body

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a3b6b55c0000000049454e44ae426082"
)


def leftovers(services) -> dict[str, list[str]]:
    """Every staging file and blob on disk (for 'nothing left behind' checks)."""
    found = {"tmp": os.listdir(services.blobs.tmp_dir), "blobs": []}
    for _root, _dirs, files in os.walk(services.blobs.blob_dir):
        found["blobs"] += files
    return found


@pytest.mark.gen_test
async def test_multipart_upload_returns_201_card_with_location(upload, services):
    data = b"plain text upload\n" * 10
    response = await upload(data, "notes.txt")
    assert response.code == 201
    card = body_of(response)
    assert response.headers["Location"] == card["url_api"]
    assert card["filename"] == "notes.txt"
    assert card["size"] == len(data)
    assert card["size_human"] == "180 B"
    assert card["mimetype"] == "text/plain"
    assert card["type"] == "text"
    assert card["sha256"] == hashlib.sha256(data).hexdigest()
    assert card["filehash"].endswith(".txt")
    assert card["uploaded_at"].endswith("Z")
    assert len(card["delete_token"]) >= 24
    base = services.settings.public_base_url
    for key, prefix in (("url_p", "/p/"), ("url_i", "/i/"), ("url_d", "/d/")):
        assert card[key] == f"{base}{prefix}{card['filehash']}"
    assert card["url_s"].startswith(f"{base}/s/")
    assert set(card["embed"]) == {"markdown", "html", "bbcode"}
    with open(services.blobs.path_for(card["sha256"]), "rb") as blob:
        assert blob.read() == data
    assert leftovers(services)["tmp"] == []


@pytest.mark.gen_test
async def test_type_is_sniffed_not_claimed(upload):
    response = await upload(PNG_1x1, "not-really.txt")
    card = body_of(response)
    assert card["mimetype"] == "image/png"
    assert card["type"] == "image"
    assert card["filehash"].endswith(".png")
    assert card["filename"] == "not-really.txt"


@pytest.mark.gen_test
async def test_links_use_configured_base_url_not_host_header(upload, services):
    response = await upload(b"host header test", "h.txt", headers={"Host": "evil.example"})
    card = body_of(response)
    assert card["url_p"].startswith(services.settings.public_base_url + "/p/")
    assert "evil.example" not in response.body.decode()


@pytest.mark.gen_test
async def test_reupload_of_same_bytes_answers_200_with_existing_card(upload, services):
    first = body_of(await upload(b"same bytes", "one.txt"))
    again = await upload(b"same bytes", "two.txt")
    assert again.code == 200
    card = body_of(again)
    assert card["filehash"] == first["filehash"]
    assert "delete_token" not in card  # only the first uploader may delete
    assert "Location" not in again.headers
    assert leftovers(services)["blobs"] == [first["sha256"]]


@pytest.mark.gen_test(timeout=60)
async def test_twenty_concurrent_uploads_of_same_bytes_share_one_blob_and_record(upload, services, fetch):
    data = os.urandom(300_000)
    responses = await asyncio.gather(*(upload(data, f"copy{i}.bin") for i in range(20)))
    codes = sorted(r.code for r in responses)
    assert codes.count(201) == 1 and codes.count(200) == 19, codes
    hashes = {body_of(r)["filehash"] for r in responses}
    assert len(hashes) == 1
    assert leftovers(services) == {"tmp": [], "blobs": [hashlib.sha256(data).hexdigest()]}
    assert await services.store.count_sha256_refs(hashlib.sha256(data).hexdigest()) == 1


@pytest.mark.gen_test
async def test_put_raw_body_both_routes(fetch, services):
    for path in ("/hello%20world.txt", "/api/v1/files/r%C3%A9sum%C3%A9.txt"):
        data = f"raw body via {path}".encode()
        response = await fetch(path, method="PUT", body=data, headers={"Accept": "application/json"})
        assert response.code == 201, response.body
        card = body_of(response)
        assert card["size"] == len(data)
    assert card["filename"] == "résumé.txt"
    first = await services.store.get_public_original(hashlib.sha256(b"raw body via /hello%20world.txt").hexdigest())
    assert first.filename == "hello world.txt"


@pytest.mark.gen_test
async def test_curl_gets_the_short_url_as_text(fetch, services):
    body, ctype = multipart_body(files={"file": ("c.txt", b"for curl", "text/plain")})
    response = await fetch("/", method="POST", body=body,
                           headers={"Content-Type": ctype, "User-Agent": "curl/8.5.0", "Accept": "*/*"})
    assert response.code == 201
    assert response.headers["Content-Type"].startswith("text/plain")
    text = response.body.decode()
    # Line 1 the short link (scripts read it), line 2 the delete link (only the uploader learns it).
    assert text.endswith("\n") and text.count("\n") == 2
    short, delete = text.splitlines()
    assert short.startswith(services.settings.public_base_url + "/s/")
    assert delete.startswith(services.settings.public_base_url + "/delete/")
    put = await fetch("/c.txt", method="PUT", body=b"for curl -T",
                      headers={"User-Agent": "curl/8.5.0", "Accept": "*/*"})
    assert put.body.decode().strip().startswith(services.settings.public_base_url + "/s/")
    plain = await fetch("/", method="POST", body=body, headers={"Content-Type": ctype, "Accept": "text/plain"})
    assert plain.body.decode().strip().startswith(services.settings.public_base_url + "/s/")


@pytest.mark.gen_test
async def test_browser_form_post_gets_303_to_preview(fetch):
    body, ctype = multipart_body(files={"file": ("f.txt", b"from a form", "text/plain")})
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = await fetch("/", method="POST", body=body, headers={"Content-Type": ctype, "Accept": accept})
    assert response.code == 303
    assert "/p/" in response.headers["Location"]


@pytest.mark.gen_test
async def test_msgpack_card(upload):
    response = await upload(b"msgpack please", "m.txt", headers={"Accept": "application/msgpack"})
    assert response.headers["Content-Type"] == "application/msgpack"
    assert body_of(response)["filename"] == "m.txt"


@pytest.mark.gen_test
async def test_empty_file_is_stored(upload, fetch):
    response = await upload(b"", "empty.txt")
    assert response.code == 201
    card = body_of(response)
    assert card["size"] == 0
    raw = await fetch(path_of(card["url_i"]))
    assert raw.code == 200 and raw.body == b""


@pytest.mark.gen_test
async def test_unicode_and_hostile_filenames_are_cleaned(upload):
    card = body_of(await upload(b"unicode name", "фото 📷.txt"))
    assert card["filename"] == "фото 📷.txt"
    card = body_of(await upload(b"traversal name", "../../etc/passwd"))
    assert card["filename"] == "passwd"
    card = body_of(await upload(b"no name", ""))
    assert card["filename"] == "file.txt"


@pytest.mark.gen_test
async def test_private_upload_is_unlisted(upload, fetch):
    card = body_of(await upload(b"secret-ish", "p.txt", fields={"private": "1"}))
    assert card["private"] is True
    listing = body_of(await fetch("/api/v1/files"))
    assert card["filehash"] not in [f["filehash"] for f in listing["files"]]
    assert (await fetch(path_of(card["url_i"]))).code == 200


@pytest.mark.gen_test
async def test_missing_file_part_is_400_and_leaves_nothing(fetch, services):
    body, ctype = multipart_body(fields={"private": "1"})
    response = await fetch("/", method="POST", body=body, headers={"Content-Type": ctype})
    assert response.code == 400
    assert body_of(response)["error"]["code"] == "bad_request"
    assert leftovers(services) == {"tmp": [], "blobs": []}


@pytest.mark.gen_test
async def test_other_multipart_is_415(fetch):
    # Any body that is not multipart is a raw paste (tests/previews/test_text.py); other multiparts are refused.
    response = await fetch("/", method="POST", body=b"--b\r\n\r\nx\r\n--b--\r\n",
                           headers={"Content-Type": "multipart/mixed; boundary=b"})
    assert response.code == 415
    assert body_of(response)["error"]["code"] == "unsupported_content_type"


@pytest.mark.gen_test
async def test_post_without_length_is_411(server, http_port):
    reply = await raw_exchange(http_port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                                          b"boundary=b\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 411")
    assert b'"length_required"' in reply


class TestSizeLimit:
    @pytest.fixture
    def settings_overrides(self):
        return {"max_upload_size": 1000}

    @pytest.mark.gen_test
    async def test_declared_length_over_limit_is_413_before_the_body(self, server, http_port, services):
        # Only headers are sent: the answer must come without the body ever arriving.
        reply = await raw_exchange(http_port, b"PUT /big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 413")
        assert b'"too_large"' in reply
        assert leftovers(services) == {"tmp": [], "blobs": []}

    @pytest.mark.gen_test
    async def test_chunked_body_crossing_limit_is_413_and_temp_deleted(self, fetch, services):
        async def producer(write):
            for _ in range(10):
                await write(b"x" * 300)

        response = await fetch("/chunky.bin", method="PUT", body_producer=producer,
                               headers={"Transfer-Encoding": "chunked"})
        assert response.code == 413
        assert body_of(response)["error"]["code"] == "too_large"
        assert leftovers(services) == {"tmp": [], "blobs": []}

    @pytest.mark.gen_test
    async def test_multipart_file_over_limit_is_413(self, upload, services):
        response = await upload(b"y" * 1001, "big.bin")
        assert response.code == 413
        assert leftovers(services) == {"tmp": [], "blobs": []}

    @pytest.mark.gen_test
    async def test_file_exactly_at_limit_is_accepted(self, upload):
        response = await upload(b"z" * 1000, "exact.bin")
        assert response.code == 201


class TestTypePolicy:
    @pytest.fixture
    def settings_overrides(self):
        return {"deny_types": ("image/*",)}

    @pytest.mark.gen_test
    async def test_denied_type_is_415_and_leaves_nothing(self, upload, services):
        response = await upload(PNG_1x1, "pixel.png")
        assert response.code == 415
        assert body_of(response)["error"]["code"] == "type_refused"
        assert leftovers(services) == {"tmp": [], "blobs": []}
        assert await services.store.count_public() == 0
        assert (await upload(b"text is fine", "ok.txt")).code == 201


@pytest.mark.gen_test(timeout=30)
async def test_abort_mid_upload_leaves_nothing(server, http_port, services):
    head = (b"PUT /aborted.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    _reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(head + os.urandom(3 * 1024 * 1024))
    await writer.drain()
    # Wait until the server has really staged bytes, then vanish mid-body.
    for _ in range(200):
        if leftovers(services)["tmp"]:
            break
        await asyncio.sleep(0.02)
    assert leftovers(services)["tmp"], "the upload never started staging"
    writer.transport.abort()
    for _ in range(200):
        if leftovers(services) == {"tmp": [], "blobs": []}:
            break
        await asyncio.sleep(0.02)
    assert leftovers(services) == {"tmp": [], "blobs": []}
    assert await services.store.count_public() == 0


async def raw_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes or answers (for requests a client won't send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
    return data



"""Upload-request links (reverse shares): limits set at creation, enforced on the server through the
one ingest path, tested at their edges; the quota reserved atomically in the store, so concurrent
uploads never overshoot and the refused byte leaves nothing behind (no record, no blob, no staging)."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.conftest import path_of
from tests.helpers import multipart_body

pytestmark = pytest.mark.gen_test


async def new_request(api, title="Send me files", **limits):
    status, coll, _ = await api("POST", "/api/v1/collections", {"title": title, "request": limits})
    assert status == 201, coll
    assert coll["url_upload"].endswith("/u/" + coll["request_code"]) and coll["request"]["open"]
    return coll


def leftovers(services) -> tuple[int, int]:
    """Blob files and staging files on disk."""
    blobs = sum(len(files) for _d, _s, files in os.walk(services.blobs.blob_dir))
    staging = len(os.listdir(services.blobs.tmp_dir))
    return blobs, staging


async def put_into(api, coll, data: bytes, name: str = "f.bin", headers=None):
    return await api("PUT", f"/u/{coll['request_code']}/{name}", raw=data, headers=headers)


async def test_uploads_land_in_the_collection_privately_and_the_creator_sees_them(api, put_file):
    coll = await new_request(api)
    status, card, _ = await put_into(api, coll, b"arrival one", "one.txt")
    assert status == 201 and card["private"] is True and card["manage_token"]
    body, ctype = multipart_body(None, {"file": ("two.txt", b"arrival two", "text/plain")})
    status, _two, _ = await api("POST", f"/u/{coll['request_code']}", raw=body, headers={"Content-Type": ctype})
    assert status == 201
    _, managed, _ = await api("GET", path_of(coll["url_api"]), headers={"X-Manage-Token": coll["manage_token"]})
    assert [f["filename"] for f in managed["files"]] == ["one.txt", "two.txt"]
    assert managed["request"]["used_files"] == 2 and managed["request"]["used_bytes"] == len(b"arrival one") + 11
    # What the uploader sees of the link by default: its limits, never the others' files nor the code.
    status, summary, _ = await api("GET", f"/u/{coll['request_code']}")
    assert status == 200 and "files" not in summary and coll["code"] not in str(summary)
    assert (await api("GET", "/api/v1/files?limit=10"))[1]["files"] == []  # never in the public feed


async def test_uploader_view_all_shows_the_arrivals(api):
    coll = await new_request(api, uploader_view="all")
    await put_into(api, coll, b"seen by all", "all.txt")
    _, summary, _ = await api("GET", f"/u/{coll['request_code']}")
    assert [f["filename"] for f in summary["files"]] == ["all.txt"]


async def test_total_bytes_edge_the_crossing_byte_is_413_and_leaves_nothing(api, services):
    coll = await new_request(api, max_bytes=1000)
    assert (await put_into(api, coll, b"a" * 600, "a.bin"))[0] == 201
    assert (await put_into(api, coll, b"b" * 400, "b.bin"))[0] == 201  # exactly the quota
    before = leftovers(services)
    status, body, _ = await put_into(api, coll, b"c", "c.bin")  # the byte that crosses it
    assert status == 413 and body["error"]["code"] == "quota_exceeded"
    assert leftovers(services) == before
    assert await services.store.count_sha256_refs(hashlib.sha256(b"c").hexdigest()) == 0
    got = await services.store.collections.get(coll["code"])
    assert (got.used_files, got.used_bytes) == (2, 1000)  # the refused upload gave its reservation back


async def test_multipart_crossing_the_quota_mid_body(api, fetch, services):
    coll = await new_request(api, max_bytes=100_000)
    body, ctype = multipart_body(None, {"file": ("big.bin", os.urandom(100_001), "application/octet-stream")})
    response = await fetch(f"/u/{coll['request_code']}", method="POST", body=body,
                           headers={"Content-Type": ctype, "Accept": "application/json"})
    assert response.code == 413
    assert leftovers(services) == (0, 0)
    await asyncio.sleep(0.1)  # the reservation is given back once the request ended
    assert (await services.store.collections.get(coll["code"])).used_bytes == 0


async def test_max_file_size_edge(api, services):
    coll = await new_request(api, max_file_size=1024)
    assert (await put_into(api, coll, b"x" * 1024, "fits.bin"))[0] == 201
    status, _, _ = await put_into(api, coll, b"y" * 1025, "over.bin")
    assert status == 413
    assert leftovers(services)[1] == 0


async def test_max_files_edge(api):
    coll = await new_request(api, max_files=2)
    assert (await put_into(api, coll, b"1", "1.txt"))[0] == 201
    assert (await put_into(api, coll, b"2", "2.txt"))[0] == 201
    status, body, _ = await put_into(api, coll, b"3", "3.txt")
    assert status == 413 and "at most 2 files" in body["error"]["message"]
    # The creator removes one (it was uploaded into the collection: it is deleted): room for another.
    _, managed, _ = await api("GET", path_of(coll["url_api"]), headers={"X-Manage-Token": coll["manage_token"]})
    first = managed["files"][0]["filehash"]
    await api("DELETE", f"/api/v1/collections/{coll['code']}/files/{first}",
              headers={"X-Manage-Token": coll["manage_token"]})
    assert (await api("GET", f"/api/v1/files/{first}"))[0] == 404
    assert (await put_into(api, coll, b"3", "3.txt"))[0] == 201


async def test_allowed_types(api, services):
    coll = await new_request(api, allowed_types=["image/*"])
    status, _body, _ = await put_into(api, coll, b"just some text\n", "t.txt")
    assert status == 415 and leftovers(services) == (0, 0)
    from tests.uikit import png_bytes

    status, card, _ = await put_into(api, coll, png_bytes(8, 8), "p.png")
    assert status == 201 and card["mimetype"] == "image/png"  # the sniffed type, never the name


async def test_closed_and_unknown_links(api):
    coll = await new_request(api, expires=1)
    await asyncio.sleep(1.2)
    assert (await put_into(api, coll, b"late", "late.txt"))[0] == 410
    assert (await api("GET", f"/u/{coll['request_code']}"))[0] == 410
    assert (await put_into(api, {"request_code": "x" * 22}, b"?", "q.txt"))[0] == 404
    other = await new_request(api)
    _, closed, _ = await api("PATCH", path_of(other["url_api"]), {"request_open": False},
                             headers={"X-Manage-Token": other["manage_token"]})
    assert closed["request"]["open"] is False
    assert (await put_into(api, other, b"after close", "c.txt"))[0] == 404


async def test_concurrent_uploads_never_overshoot_the_quota(api, services):
    coll = await new_request(api, max_bytes=50_000, max_files=100)
    payloads = [os.urandom(7_000) for _ in range(12)]
    answers = await asyncio.gather(*(put_into(api, coll, data, f"c{i}.bin") for i, data in enumerate(payloads)))
    codes = [a[0] for a in answers]
    assert codes.count(201) == 7 and codes.count(413) == 5
    await asyncio.sleep(0.2)
    got = await services.store.collections.get(coll["code"])
    assert got.used_bytes == 49_000 and got.used_files == 7
    _, managed, _ = await api("GET", path_of(coll["url_api"]), headers={"X-Manage-Token": coll["manage_token"]})
    assert managed["total_size"] == 49_000
    assert leftovers(services) == (7, 0)


async def test_request_code_never_reaches_the_access_log(api, caplog):
    coll = await new_request(api)
    with caplog.at_level("INFO", logger="tornado.access"):
        await put_into(api, coll, b"logged?", "l.txt")
        await api("GET", f"/u/{coll['request_code']}")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "/u/[redacted]" in text and coll["request_code"] not in text

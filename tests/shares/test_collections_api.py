"""Collections over the API: create, add (by token or because public), remove, get, change, delete; the
short link; visibility never widened; the zip, streamed with an exact Content-Length and honest Range."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.conftest import path_of

pytestmark = pytest.mark.gen_test


async def new_collection(api, **body):
    status, coll, response = await api("POST", "/api/v1/collections", body)
    assert status == 201, coll
    assert response.headers["Location"] == coll["url_api"]
    return coll


async def test_create_add_get_remove_delete(api, put_file):
    _, one = await put_file(b"first file", "one.txt")
    _, two = await put_file(b"second file", "two.txt")
    coll = await new_collection(api, title="  My   things ")
    assert coll["title"] == "My things" and coll["count"] == 0 and coll["private"] is True
    assert coll["url_manage"].endswith(f"/m/c/{coll['code']}#{coll['manage_token']}")
    code, token = coll["code"], {"X-Manage-Token": coll["manage_token"]}
    status, got, _ = await api("POST", f"/api/v1/collections/{code}/files",
                               {"files": [{"filehash": two["filehash"], "token": two["manage_token"]},
                                          one["filehash"]]}, headers=token)
    assert status == 200 and [f["filename"] for f in got["files"]] == ["two.txt", "one.txt"]
    assert got["total_size"] == len(b"first file") + len(b"second file") and got["count"] == 2
    status, public, _ = await api("GET", f"/api/v1/collections/{code}")
    assert status == 200 and public["count"] == 2 and "manage_token" not in public and "request" not in public
    status, _, _ = await api("DELETE", f"/api/v1/collections/{code}/files/{one['filehash']}", headers=token)
    assert status == 200
    assert [f["filehash"] for f in (await api("GET", f"/api/v1/collections/{code}"))[1]["files"]] == [two["filehash"]]
    assert (await api("GET", f"/api/v1/files/{one['filehash']}"))[0] == 200  # added from elsewhere: unlinked only
    assert (await api("DELETE", f"/api/v1/collections/{code}"))[0] == 401
    assert (await api("DELETE", f"/api/v1/collections/{code}", headers={"X-Manage-Token": "nope"}))[0] == 403
    status, body, _ = await api("DELETE", f"/api/v1/collections/{code}", headers=token)
    assert status == 200 and body == {"deleted": code}
    assert (await api("GET", f"/api/v1/collections/{code}"))[0] == 404
    assert (await api("GET", f"/api/v1/files/{two['filehash']}"))[0] == 200


async def test_a_private_file_needs_its_own_token_and_never_shows_otherwise(api, put_file):
    _, private = await put_file(b"private one", "p.txt", "?private=1")
    _, public = await put_file(b"public one", "q.txt")
    coll = await new_collection(api, private=False)
    code, token = coll["code"], {"X-Manage-Token": coll["manage_token"]}
    status, _, _ = await api("POST", f"/api/v1/collections/{code}/files", {"files": [private["filehash"]]},
                             headers=token)
    assert status == 403
    status, _, _ = await api("POST", f"/api/v1/collections/{code}/files",
                                {"filehash": private["filehash"], "token": "wrong"}, headers=token)
    assert status == 403
    await api("POST", f"/api/v1/collections/{code}/files", {"files": [public["filehash"]]}, headers=token)
    # The public file's owner makes it private: added by someone else, it no longer shows.
    await api("PATCH", f"/api/v1/files/{public['filehash']}", {"private": True},
              headers={"X-Manage-Token": public["manage_token"]})
    assert (await api("GET", f"/api/v1/collections/{code}"))[1]["files"] == []
    # Its own token adds it for good (its owner put it there).
    await api("POST", f"/api/v1/collections/{code}/files", {"filehash": private["filehash"],
                                                             "token": private["manage_token"]}, headers=token)
    assert [f["filehash"] for f in (await api("GET", f"/api/v1/collections/{code}"))[1]["files"]] == [
        private["filehash"]]


async def test_upload_into_a_collection_and_deleting_it_takes_those_files(api, fetch, upload):
    coll = await new_collection(api, title="Drop")
    code, token = coll["code"], {"X-Manage-Token": coll["manage_token"]}
    from tests.helpers import multipart_body

    body, ctype = multipart_body(None, {"file": ("inside.txt", b"uploaded into it", "text/plain")})
    response = await fetch(f"/api/v1/collections/{code}/upload", method="POST", body=body,
                           headers={"Content-Type": ctype, "Accept": "application/json", **token})
    assert response.code == 201
    assert (await fetch(f"/api/v1/collections/{code}/upload", method="POST", body=body,
                        headers={"Content-Type": ctype, "Accept": "application/json"})).code == 403
    status, card, _ = await api("PUT", f"/api/v1/collections/{code}/upload/put.txt", raw=b"put into it",
                                headers=token)
    assert status == 201
    got = (await api("GET", f"/api/v1/collections/{code}"))[1]
    assert [f["filename"] for f in got["files"]] == ["inside.txt", "put.txt"]
    await api("DELETE", f"/api/v1/collections/{code}", headers=token)
    assert (await api("GET", f"/api/v1/files/{card['filehash']}"))[0] == 404  # uploaded into it: gone with it


async def test_short_link_and_page(api, fetch, put_file):
    _, one = await put_file(b"page member", "page.txt")
    coll = await new_collection(api, title="Page <b>title</b>", files=[one["filehash"]])
    short = await fetch(path_of(coll["url_s"]))
    assert short.code == 302 and short.headers["Location"] == coll["url"]
    page = await fetch(path_of(coll["url"]), headers={"Accept": "text/html"})
    html = page.body.decode()
    assert page.code == 200 and "Page &lt;b&gt;title&lt;/b&gt;" in html and "page.txt" in html
    assert "<script>" not in html and 'src="/static/js/collection.js' in html


async def test_expired_collection_is_gone_and_swept(api, services, put_file):
    _, card = await put_file(b"kept after the collection", "k.txt")
    coll = await new_collection(api, expires=1, files=[card["filehash"]])
    import asyncio

    await asyncio.sleep(1.5)
    assert (await api("GET", f"/api/v1/collections/{coll['code']}"))[0] == 410
    assert await services.shares.collections.sweep() == 1
    assert (await api("GET", f"/api/v1/collections/{coll['code']}"))[0] == 404
    assert (await api("GET", f"/api/v1/files/{card['filehash']}"))[0] == 200


async def zip_of(fetch, coll, headers=None):
    return await fetch(path_of(coll["url_zip"]), headers=headers or {})


async def test_zip_streams_every_member_with_exact_length_utf8_names_and_duplicates(api, fetch, put_file):
    files = [(b"alpha", "same.txt"), (b"beta", "same.txt"), (b"gamma \xe2\x9c\x93", "%C3%BCnicode%20%E2%9C%93.txt")]
    cards = [(await put_file(data, name))[1] for data, name in files]
    coll = await new_collection(api, title="Zip me", files=[c["filehash"] for c in cards])
    head = await fetch(path_of(coll["url_zip"]), method="HEAD")
    response = await zip_of(fetch, coll)
    assert response.code == 200 and response.headers["Content-Type"] == "application/zip"
    assert response.headers["X-Accel-Buffering"] == "no" and response.headers["Accept-Ranges"] == "bytes"
    assert int(head.headers["Content-Length"]) == len(response.body) == coll["zip_size"]
    with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
        assert archive.namelist() == ["same.txt", "same (2).txt", "ünicode ✓.txt"]
        assert archive.read("same (2).txt") == b"beta" and archive.testzip() is None
    again = await zip_of(fetch, coll)
    assert again.body == response.body and again.headers["Etag"] == response.headers["Etag"]
    size = len(response.body)
    for spec, want in (("bytes=0-9", response.body[:10]), ("bytes=30-", response.body[30:]),
                       ("bytes=-25", response.body[-25:])):
        part = await zip_of(fetch, coll, {"Range": spec})
        assert part.code == 206 and part.body == want, spec
        assert part.headers["Content-Range"].endswith(f"/{size}")
    stale = await zip_of(fetch, coll, {"Range": "bytes=0-9", "If-Range": '"zip-other"'})
    assert stale.code == 200 and stale.body == response.body
    assert (await zip_of(fetch, coll, {"Range": f"bytes={size}-"})).code == 416


async def test_zip_leaves_out_guarded_members_and_counts_its_own_limit(api, fetch, put_file):
    _, plain = await put_file(b"plain member", "plain.txt")
    _, limited = await put_file(b"limited member", "limited.txt", "?max_downloads=1")
    coll = await new_collection(api, files=[plain["filehash"], limited["filehash"]], max_downloads=2)
    for _ in range(2):
        response = await zip_of(fetch, coll)
        with zipfile.ZipFile(io.BytesIO(response.body)) as archive:
            assert archive.namelist() == ["plain.txt"]
    assert (await zip_of(fetch, coll)).code == 410
    assert (await api("GET", f"/api/v1/collections/{coll['code']}"))[0] == 410
    assert (await fetch(f"/i/{limited['filehash']}")).code == 200  # its own download was never used


async def test_curl_style_form_bodies(fetch):
    import json
    import urllib.parse

    response = await fetch("/api/v1/collections", method="POST",
                           body=urllib.parse.urlencode({"title": "from curl", "private": "0"}),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    body = json.loads(response.body)
    assert response.code == 201 and body["title"] == "from curl" and body["private"] is False


async def test_a_first_request_for_a_late_range_computes_what_it_needs(api, fetch, put_file, services):
    cards = [(await put_file(bytes([65 + i]) * (5000 + i), f"late{i}.txt"))[1] for i in range(3)]
    coll = await new_collection(api, files=[c["filehash"] for c in cards])
    async def crcs():
        return [(await services.store.get_by_filehash(c["filehash"])).crc32 for c in cards]

    assert await crcs() == [None, None, None]
    tail = await zip_of(fetch, coll, {"Range": "bytes=7000-"})  # inside the second file's data: CRCs not known
    assert tail.code == 206
    whole = await zip_of(fetch, coll)
    assert tail.body == whole.body[7000:]
    assert None not in await crcs()

"""Dedupe is a storage matter, never an identity one (docs/security.md, findings 7 and 8).

Identical bytes share one blob. They share a *record* only when a public upload meets the public
original of the same bytes; any other upload (private, or meeting someone's private record) gets a
record of its own, with its own filehash, short code, visibility, expiry and delete token. A
record's lifetime changes only with its own token: nobody's re-upload moves it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import body_of, path_of
from tests.imagegen import stripes_bytes
from tests.tus_helpers import metadata, upload_all
from tornado_paste.images import render as imaging

pytestmark = pytest.mark.usefixtures("no_server_errors")

JSON = {"Accept": "application/json"}


def parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def blobs(services) -> list[str]:
    return sorted(name for _d, _s, files in os.walk(services.blobs.blob_dir) for name in files)


async def put(fetch, data: bytes, name: str, private: bool = False, expires: str | None = None):
    query = {"private": "1" if private else "0", **({"expires": expires} if expires else {})}
    return await fetch(f"/{name}?{urllib.parse.urlencode(query)}", method="PUT", body=data, headers=JSON)


async def listed(fetch) -> list[str]:
    return [f["filehash"] for f in body_of(await fetch("/api/v1/files?limit=100"))["files"]]


# -- finding 7: dedupe never reveals or merges someone else's record ---------------------------
@pytest.mark.gen_test
async def test_public_reupload_of_private_bytes_gets_its_own_record(fetch, upload, services):
    data = b"my tax return, 2024\n" * 50
    mine = body_of(await upload(data, "tax-return-jane.txt", fields={"private": "1"}))
    resp = await upload(data, "guess.txt")  # an attacker who guessed the content
    assert resp.code == 201, resp.body
    theirs = body_of(resp)
    for key in ("filehash", "short_code", "url_p", "url_s", "url_i", "url_api"):
        assert theirs[key] != mine[key], key
    assert theirs["filename"] == "guess.txt" and theirs["private"] is False
    assert "tax-return" not in json.dumps(theirs) and mine["filehash"] not in json.dumps(theirs)
    assert theirs["delete_token"] and theirs["delete_token"] != mine["delete_token"]
    assert await listed(fetch) == [theirs["filehash"]]
    # Mine is untouched and still private; one blob holds both.
    again = body_of(await fetch(f"/api/v1/files/{mine['filehash']}"))
    assert again["private"] is True and again["filename"] == "tax-return-jane.txt"
    assert blobs(services) == [mine["sha256"]]


@pytest.mark.gen_test
async def test_private_upload_of_public_bytes_is_private(fetch, upload, services):
    data = b"everyone has this meme" * 30
    public = body_of(await upload(data, "meme.txt"))
    resp = await upload(data, "meme-but-private.txt", fields={"private": "1"})
    assert resp.code == 201, resp.body
    private = body_of(resp)
    assert private["private"] is True and private["filehash"] != public["filehash"]
    assert private["filename"] == "meme-but-private.txt" and private["delete_token"]
    assert len(private["short_code"]) >= 11
    assert await listed(fetch) == [public["filehash"]]
    resp = await put(fetch, data, "put-private.txt", private=True)
    assert resp.code == 201 and body_of(resp)["private"] is True
    assert blobs(services) == [public["sha256"]]


@pytest.mark.gen_test
async def test_two_private_uploads_of_the_same_bytes_do_not_meet(fetch, upload):
    data = b"a leaked document everyone is passing around"
    first = body_of(await upload(data, "first.txt", fields={"private": "1"}))
    resp = await upload(data, "second.txt", fields={"private": "1"})
    assert resp.code == 201
    second = body_of(resp)
    assert second["filehash"] != first["filehash"] and second["filename"] == "second.txt"
    assert first["filehash"] not in json.dumps(second)


@pytest.mark.gen_test
async def test_public_reupload_of_public_bytes_answers_the_public_card(upload):
    data = b"the same public bytes"
    first = body_of(await upload(data, "one.txt"))
    again = await upload(data, "two.txt")
    assert again.code == 200
    card = body_of(again)
    assert card["filehash"] == first["filehash"] and card["filename"] == "one.txt"
    assert "delete_token" not in card  # a dedupe hit never learns the first uploader's token


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_identical_uploads_public_and_private(fetch, upload, services):
    """Public uploads of the same bytes race to one record; private ones each get their own."""
    data = b"raced by many" * 1000
    answers = await asyncio.gather(*(upload(data, f"r{i}.txt", fields={"private": str(i % 2)}) for i in range(12)))
    cards = [body_of(a) for a in answers]
    public = {c["filehash"] for c in cards if not c["private"]}
    private = [c["filehash"] for c in cards if c["private"]]
    assert len(public) == 1 and len(private) == len(set(private)) == 6
    assert sorted(a.code for a, c in zip(answers, cards, strict=True) if not c["private"]) == [200] * 5 + [201]
    assert all(a.code == 201 for a, c in zip(answers, cards, strict=True) if c["private"])
    assert await services.store.count_sha256_refs(cards[0]["sha256"]) == 7
    assert blobs(services) == [cards[0]["sha256"]]
    # Each delete token removes its own record only; the blob goes with the last one.
    for card in cards:
        if "delete_token" in card:
            resp = await fetch(f"/api/v1/files/{card['filehash']}", method="DELETE",
                               headers={"X-Delete-Token": card["delete_token"]})
            assert resp.code == 200
    assert blobs(services) == []


@pytest.mark.gen_test
async def test_a_derivative_never_becomes_someone_elses_private_record(fetch, upload, services, tmp_path):
    """Resizing a public image to bytes a private upload already holds gave that private record away."""
    source = stripes_bytes("PNG")
    src, dst = tmp_path / "src.png", tmp_path / "dst.png"
    src.write_bytes(source)
    request = imaging.parse_request("16", "16", None, None, 10_000)
    s = services.settings
    imaging.render(str(src), str(dst), request, "png", s.resize_max_source_pixels, s.resize_max_side)
    secret = body_of(await upload(dst.read_bytes(), "secret-thumbnail-of-me.png", fields={"private": "1"}))
    parent = body_of(await upload(source, "stripes.png"))
    resp = await fetch(f"/r/{parent['filehash']}?w=16&h=16", headers=JSON)
    assert resp.code == 201, resp.body
    child = body_of(resp)
    assert child["sha256"] == secret["sha256"]  # the very same bytes...
    assert child["filehash"] != secret["filehash"] and "secret" not in json.dumps(child)  # ...not the same file
    assert child["private"] is False


# -- finding 8: nobody else's upload changes my file's lifetime -------------------------------
@pytest.mark.gen_test
async def test_reupload_never_moves_someone_elses_expiry(fetch, upload, services):
    public = body_of(await upload(b"public, one hour", "p.txt", fields={"expires": "1h"}))
    private = body_of(await upload(b"private, one hour", "q.txt", fields={"expires": "1h", "private": "1"}))
    # Public dedupe hit: the existing card, its expiry untouched.
    resp = await upload(b"public, one hour", "p2.txt", fields={"expires": "never"})
    assert resp.code == 200 and body_of(resp)["expires_at"] == public["expires_at"]
    assert (await put(fetch, b"public, one hour", "p3.txt", expires="30d")).code == 200
    # Someone else's copy of private bytes: a record of its own, with its own lifetime.
    for private_flag in (False, True):
        fields = {"expires": "never", "private": str(int(private_flag))}
        resp = await upload(b"private, one hour", "q2.txt", fields=fields)
        assert resp.code == 201
        assert parse(body_of(resp)["expires_at"]) - parse(private["expires_at"]) > timedelta(days=300)
    for card in (public, private):
        stored = await services.store.get_by_filehash(card["filehash"])
        assert stored.expires_at == parse(card["expires_at"]), card["filename"]


@pytest.mark.gen_test
async def test_tus_reupload_never_moves_someone_elses_expiry(fetch, upload, services):
    data = b"resumable private bytes" * 100
    mine = body_of(await upload(data, "mine.bin", fields={"expires": "1h", "private": "1"}))
    public = body_of(await upload(b"resumable public" * 100, "pub.bin", fields={"expires": "1h"}))
    for payload, private in ((data, "1"), (data, "0"), (b"resumable public" * 100, "0")):
        _path, last = await upload_all(fetch, payload, 1000, meta=metadata(filename="x.bin", expires="never",
                                                                            private=private))
        assert last.code == 204
    for card in (mine, public):
        stored = await services.store.get_by_filehash(card["filehash"])
        assert stored.expires_at == parse(card["expires_at"]), card["filename"]
    assert await services.store.count_sha256_refs(mine["sha256"]) == 3


@pytest.mark.parametrize("settings_overrides", [dict(retention_grace=0)])
@pytest.mark.gen_test
async def test_blob_lives_as_long_as_its_longest_lived_record(fetch, upload, services):
    data = b"shared by a short and a long life" * 10
    short = body_of(await upload(data, "short.txt", fields={"expires": "1h", "private": "1"}))
    long = body_of(await upload(data, "long.txt", fields={"expires": "30d"}))
    assert long["filehash"] != short["filehash"] and blobs(services) == [short["sha256"]]
    record = await services.store.get_by_filehash(short["filehash"])
    await services.store.expiry.set_expiry(record.id, datetime.now(UTC).replace(microsecond=0) - timedelta(1))
    report = await services.retention.sweeper.sweep_expired()
    assert (report.records, report.blobs) == (1, 0)
    assert (await services.retention.sweeper.sweep_orphans()).blobs == 0
    assert (await fetch(path_of(short["url_i"]))).code == 404
    served = await fetch(path_of(long["url_i"]))
    assert served.code == 200 and served.body == data
    assert blobs(services) == [hashlib.sha256(data).hexdigest()]
    resp = await fetch(f"/api/v1/files/{long['filehash']}", method="DELETE",
                       headers={"X-Delete-Token": long["delete_token"]})
    assert resp.code == 200 and blobs(services) == []

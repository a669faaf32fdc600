"""Blocked hashes answer 451 on upload (form, PUT, tus) and on every link of a stored copy, on SQLite
and MongoDB, when another process (here: a second Services on the same store, as the admin CLI
builds) blocks them; the block reaches the server within ``blocklist_cache_ttl``."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import pytest

from tests.conftest import body_of, path_of
from tests.tus_helpers import create, patch
from tests.uikit import png_bytes
from tornado_paste.admin import commands
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore
from tornado_paste.storage.sqlite.store import SQLiteStore

TTL = 0.5


@pytest.fixture
def settings_overrides():
    return {"blocklist_cache_ttl": TTL}


@pytest.fixture(params=["sqlite", "mongo-mock"])
def stores(request, settings):
    """Two store objects on the same data: the server's, and the one another process would open."""
    if request.param == "sqlite":
        return SQLiteStore(settings.sqlite_path), SQLiteStore(settings.sqlite_path)
    from pymongo_async_mock import AsyncMongoMockClient

    client, name = AsyncMongoMockClient(), "block_" + uuid.uuid4().hex[:8]
    return MongoStore(client, name), MongoStore(client, name)


@pytest.fixture
def services(io_loop, settings, stores):
    svc = build_services(settings, store=stores[0])
    io_loop.run_sync(svc.start)
    yield svc
    io_loop.run_sync(svc.stop)


@pytest.fixture
def admin(io_loop, settings, stores, services):
    other = build_services(settings, store=stores[1])
    io_loop.run_sync(other.store.open)
    yield other
    io_loop.run_sync(other.stop)


async def _until(fetch, path, status, **kw):
    """Poll ``path`` until it answers ``status``; returns the seconds it took."""
    started = time.monotonic()
    while True:
        response = await fetch(path, **kw)
        if response.code == status:
            return time.monotonic() - started, response
        assert time.monotonic() - started < 5, (path, response.code)
        await asyncio.sleep(0.05)


LINKS = ("url_i", "url_d", "url_p", "url_s", "url_api")


@pytest.mark.gen_test(timeout=60)
async def test_a_block_from_another_process_answers_451_everywhere(fetch, upload, services, admin):
    data = png_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    card = body_of(await upload(data, "photo.png"))
    for key in LINKS:
        assert (await fetch(path_of(card[key]))).code in (200, 302), key
    assert (await fetch(f"/api/v1/files?sha256={sha256}")).code == 200

    result = await commands.block(admin, [sha256], "court order")
    assert result == {"blocked": 1, "new": 1, "stored_copies": [sha256]}
    took, blocked = await _until(fetch, path_of(card["url_i"]), 451)
    assert took < TTL + 2  # "within seconds": the cache TTL, plus a poll
    assert body_of(blocked)["error"]["code"] == "blocked"
    for key in LINKS:
        response = await fetch(path_of(card[key]))
        assert response.code == 451, (key, response.code)
        assert "Cache-Control" not in response.headers or "immutable" not in response.headers["Cache-Control"]
    assert (await fetch(path_of(card["url_i"]), method="HEAD")).code == 451
    assert (await fetch(path_of(card["url_r"]) + "?w=10&h=10")).code == 451
    page = await fetch(path_of(card["url_i"]), headers={"Accept": "text/html"})
    assert page.code == 451 and b"Unavailable for legal reasons" in page.body
    listing = body_of(await fetch("/api/v1/files"))
    assert card["filehash"] not in [f["filehash"] for f in listing["files"]]
    assert body_of(await fetch(f"/api/v1/files?sha256={sha256}"))["files"] == []

    # New copies are refused by every way in, even as a dedupe of the stored one.
    form = await upload(data, "again.png")
    assert form.code == 451 and body_of(form)["error"]["code"] == "blocked"
    put = await fetch("/again.png", method="PUT", body=data, headers={"Accept": "application/json"})
    assert put.code == 451
    response, path = await create(fetch, len(data))
    assert response.code == 201
    assert (await patch(fetch, path, 0, data)).code == 451
    assert (await fetch(path, method="HEAD", headers={"Tus-Resumable": "1.0.0"})).code == 404  # nothing kept
    assert services.store is not admin.store

    assert (await commands.unblock(admin, [sha256])) == {"unblocked": [sha256]}
    took, _ = await _until(fetch, path_of(card["url_i"]), 200)
    assert took < TTL + 2
    assert (await upload(data, "again.png")).code == 200  # a dedupe hit once more


@pytest.mark.gen_test(timeout=60)
async def test_remove_with_block_deletes_the_file_and_refuses_it_again(fetch, upload, services, admin):
    data = png_bytes()
    card = body_of(await upload(data, "photo.png"))
    derived = await fetch(path_of(card["url_r"]) + "?w=8&h=8", headers={"Accept": "application/json"})
    assert derived.code == 201
    shown = await commands.show(admin, card["filehash"])
    assert shown["blocked"] is False and shown["blob_present"] and len(shown["derivatives"]) == 1
    assert (await commands.show(admin, card["sha256"]))["filehash"] == card["filehash"]
    assert (await commands.show(admin, card["url_p"]))["filehash"] == card["filehash"]

    result = await commands.remove(admin, card["filehash"], block=True, reason="abuse report")
    assert result["removed"] == card["filehash"] and result["blocked"] is True
    assert result["derivatives"] == [body_of(derived)["filehash"]]
    assert (await fetch(path_of(card["url_i"]))).code == 404
    assert (await fetch(path_of(body_of(derived)["url_i"]))).code == 404
    assert not services.blobs.exists(card["sha256"])
    assert (await upload(data, "again.png")).code == 451
    entries = await commands.blocklist(admin)
    assert [(e["sha256"], e["reason"]) for e in entries] == [(card["sha256"], "abuse report")]
    stats = await commands.stats(admin)
    assert stats["files"] == 0 and stats["blocked"] == 1


@pytest.mark.gen_test(timeout=60)
async def test_prune_removes_expired_files_now(fetch, upload, services, admin):
    from datetime import UTC, datetime, timedelta

    card = body_of(await upload(b"short-lived " + uuid.uuid4().bytes, "note.txt", fields={"expires": "1h"}))
    record = await admin.store.get_by_filehash(card["filehash"])
    await admin.store.expiry.set_expiry(record.id, datetime.now(UTC) - timedelta(seconds=1))
    assert (await fetch(path_of(card["url_i"]))).code == 410
    result = await commands.prune(admin)
    assert result["files"] == 1 and result["blobs"] == 1
    assert (await fetch(path_of(card["url_i"]))).code == 404

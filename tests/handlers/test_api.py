"""The JSON/msgpack API: listing, metadata, delete, negotiation, errors, health, store outage."""

from __future__ import annotations

import asyncio
import os

import msgpack
import pytest

from handlers.routes import make_app
from run import make_server
from tests.conftest import body_of, path_of
from tests.helpers import free_port
from tornado_paste.services import build_services
from tornado_paste.storage.mongo.store import MongoStore


async def seed(upload, count: int, private_every: int = 0) -> list[dict]:
    cards = []
    for i in range(count):
        private = "1" if private_every and i % private_every == 0 else "0"
        cards.append(body_of(await upload(f"file number {i}".encode(), f"f{i}.txt", fields={"private": private})))
    return cards


@pytest.mark.gen_test
async def test_list_is_newest_first_paginated_with_link_and_total(upload, fetch, services):
    cards = await seed(upload, 7, private_every=3)
    public = [c for c in reversed(cards) if not c["private"]]
    first = await fetch("/api/v1/files?limit=3")
    assert first.code == 200
    assert first.headers["X-Total-Count"] == str(len(public))
    page = body_of(first)
    assert [f["filehash"] for f in page["files"]] == [c["filehash"] for c in public[:3]]
    assert all("delete_token" not in f for f in page["files"])
    link = first.headers["Link"]
    assert link.endswith('; rel="next"') and link.startswith(f"<{services.settings.public_base_url}/api/v1/files?")
    second = await fetch(path_of(link[1:link.index(">")]))
    assert [f["filehash"] for f in body_of(second)["files"]] == [c["filehash"] for c in public[3:6]]


@pytest.mark.gen_test
@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=abc", "limit=1000", "before=x", "before=0"])
async def test_list_rejects_bad_parameters(fetch, query):
    response = await fetch(f"/api/v1/files?{query}")
    assert response.code == 400
    assert body_of(response)["error"]["code"] == "bad_parameter"


@pytest.mark.gen_test
async def test_metadata_by_filehash_only(upload, fetch):
    cards = await seed(upload, 2)
    priv = body_of(await upload(b"unlisted", "u.txt", fields={"private": "1"}))
    by_hash = body_of(await fetch(f"/api/v1/files/{cards[0]['filehash']}"))
    assert by_hash["sha256"] == cards[0]["sha256"] and "id" not in by_hash
    assert (await fetch(f"/api/v1/files/{priv['filehash']}")).code == 200
    for key in ("1", "2", "3", "999999"):  # integer ids are no address (docs/security.md)
        assert (await fetch(f"/api/v1/files/{key}")).code == 404


@pytest.mark.gen_test
async def test_metadata_etag_gives_304(upload, fetch):
    card = body_of(await upload(b"meta etag", "m.txt"))
    first = await fetch(f"/api/v1/files/{card['filehash']}")
    again = await fetch(f"/api/v1/files/{card['filehash']}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.code == 304


@pytest.mark.gen_test
async def test_msgpack_everywhere_and_406(upload, fetch):
    card = body_of(await upload(b"negotiate", "n.txt"))
    for accept in ("application/msgpack", "application/x-msgpack"):
        for path in ("/api/v1/files", f"/api/v1/files/{card['filehash']}", "/healthz"):
            response = await fetch(path, headers={"Accept": accept})
            assert response.headers["Content-Type"] == "application/msgpack"
            assert isinstance(msgpack.unpackb(response.body), dict)
    refused = await fetch("/api/v1/files", headers={"Accept": "text/csv"})
    assert refused.code == 406
    assert body_of(refused)["error"]["code"] == "not_acceptable"
    missing = await fetch("/api/v1/files/0123456789abcdef.txt", headers={"Accept": "application/msgpack"})
    assert missing.code == 404 and body_of(missing)["error"]["code"] == "not_found"


@pytest.mark.gen_test
@pytest.mark.parametrize("method,path,allow", [
    # HEAD wherever GET (tests/handlers/test_pages_http.py).
    ("DELETE", "/api/v1/files", "GET, HEAD"), ("POST", "/api/v1/files/abc", "GET, HEAD, DELETE, PATCH, PUT"),
    ("POST", "/healthz", "GET, HEAD"), ("DELETE", "/", "GET, HEAD, POST"),
    ("POST", "/i/0123456789abcdef.txt", "GET, HEAD"),
])
async def test_wrong_method_is_405_with_allow(fetch, method, path, allow):
    response = await fetch(path, method=method, allow_nonstandard_methods=True)
    assert response.code == 405
    assert set(response.headers["Allow"].split(", ")) == set(allow.split(", "))
    assert body_of(response)["error"]["code"] == "method_not_allowed"


@pytest.mark.gen_test
async def test_delete_with_token_removes_record_and_blob(upload, fetch, services):
    card = body_of(await upload(b"delete me", "d.txt"))
    path = f"/api/v1/files/{card['filehash']}"
    missing = await fetch(path, method="DELETE")
    assert missing.code == 401 and body_of(missing)["error"]["code"] == "token_required"
    wrong = await fetch(path, method="DELETE", headers={"X-Delete-Token": "not-the-token"})
    assert wrong.code == 403 and body_of(wrong)["error"]["code"] == "forbidden"
    assert os.path.exists(services.blobs.path_for(card["sha256"]))
    ok = await fetch(path + "?token=" + card["delete_token"], method="DELETE")
    assert ok.code == 200
    assert (await fetch(path)).code == 404
    assert (await fetch(path_of(card["url_i"]))).code == 404
    assert (await fetch(path_of(card["url_s"]))).code == 404
    assert not os.path.exists(services.blobs.path_for(card["sha256"]))
    again = await upload(b"delete me", "d.txt")
    assert again.code == 201  # the bytes can come back as a new file


@pytest.mark.gen_test
async def test_delete_with_header_token(upload, fetch):
    card = body_of(await upload(b"delete via header", "d.txt"))
    response = await fetch(f"/api/v1/files/{card['filehash']}", method="DELETE",
                           headers={"X-Delete-Token": card["delete_token"]})
    assert response.code == 200 and body_of(response) == {"deleted": card["filehash"]}


@pytest.mark.gen_test
async def test_healthz(fetch):
    response = await fetch("/healthz")
    assert response.code == 200 and body_of(response) == {"status": "ok"}


@pytest.mark.gen_test
async def test_concurrent_health_probes_share_one_ping_and_its_failure(fetch, services, monkeypatch):
    from handlers.api import HealthHandler
    from tornado_paste.storage.base import StoreUnavailable

    arrived: list[int] = []
    pings: list[int] = []
    release = asyncio.Event()
    outcome: dict[str, Exception | None] = {"error": None}

    async def ping() -> None:
        pings.append(1)
        await release.wait()
        if outcome["error"] is not None:
            raise outcome["error"]

    real_shared = HealthHandler.shared_ping

    async def counted(self) -> None:
        arrived.append(1)
        await real_shared(self)

    monkeypatch.setattr(services.store, "ping", ping)
    monkeypatch.setattr(HealthHandler, "shared_ping", counted)
    for error, code in ((None, 200), (StoreUnavailable("down"), 503)):
        arrived.clear(), pings.clear(), release.clear()
        outcome["error"] = error
        probes = [asyncio.ensure_future(fetch("/healthz")) for _ in range(5)]
        while len(arrived) < 5:
            await asyncio.sleep(0.01)
        release.set()
        assert [r.code for r in await asyncio.gather(*probes)] == [code] * 5
        assert len(pings) == 1  # one store round trip for the five probes waiting at once
    outcome["error"] = None
    release.set()
    assert (await fetch("/healthz")).code == 200 and len(pings) == 2  # a later probe pings anew


@pytest.mark.gen_test
async def test_unknown_route_is_json_404(fetch):
    response = await fetch("/no/such/thing")
    assert response.code == 404 and body_of(response)["error"]["code"] == "not_found"


@pytest.mark.gen_test(timeout=30)
async def test_unreachable_store_answers_503_with_retry_after(tmp_path, settings, io_loop):
    """A MongoDB nobody listens on: every store-backed route says 503 + Retry-After, quickly."""
    import tornado.httpclient
    import tornado.netutil

    dead = MongoStore.from_url(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", "x", timeout=0.3)
    services = build_services(settings, store=dead)
    port = free_port()
    server = make_server(make_app(services), settings)
    server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1"))
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        for method, path, body in (("GET", "/healthz", None), ("GET", "/api/v1/files", None),
                                   ("PUT", "/x.txt", b"data"), ("GET", "/i/0123456789abcdef.txt", None)):
            response = await client.fetch(f"http://127.0.0.1:{port}{path}", method=method, body=body,
                                          raise_error=False)
            assert response.code == 503, (path, response.body)
            assert response.headers["Retry-After"] == "2"
            assert body_of(response)["error"]["code"] == "unavailable"
        assert os.listdir(services.blobs.tmp_dir) == []
    finally:
        client.close()
        server.stop()
        await services.store.close()

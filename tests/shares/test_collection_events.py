"""Live updates of a collection over the existing feeds: ``collection.updated`` events, only for
subscribers naming the collection (``?collection=<code>``), never on the public feed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import tornado.websocket

from tests.conftest import path_of

pytestmark = pytest.mark.gen_test


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"events_poll_interval": 0.05}


async def read(conn, timeout: float = 10.0) -> Any:
    message = await asyncio.wait_for(conn.read_message(), timeout)
    assert message is not None, "socket closed"
    return json.loads(message)


async def test_arrivals_and_removals_reach_the_collection_feed_only(api, http_port, put_file):
    status, coll, _ = await api("POST", "/api/v1/collections", {"title": "live", "request": {}})
    code = coll["code"]
    url = f"ws://127.0.0.1:{http_port}/ws"
    mine = await tornado.websocket.websocket_connect(f"{url}?collection={code}")
    public = await tornado.websocket.websocket_connect(url)
    try:
        await asyncio.sleep(0.2)
        status, card, _ = await api("PUT", f"/u/{coll['request_code']}/arrived.txt", raw=b"arrived live")
        assert status == 201
        event = await read(mine)
        assert event["type"] == "collection.updated" and event["collection"] == code
        assert event["action"] == "added" and event["file"]["filehash"] == card["filehash"]
        # The uploader deletes their own upload: the collection hears that it left.
        await api("DELETE", f"/api/v1/files/{card['filehash']}", headers={"X-Manage-Token": card["manage_token"]})
        event = await read(mine)
        assert event["action"] == "removed" and event["file"]["filehash"] == card["filehash"]
        await api("PATCH", path_of(coll["url_api"]), {"title": "renamed"},
                  headers={"X-Manage-Token": coll["manage_token"]})
        assert (await read(mine))["action"] == "changed"
        # The public feed heard none of it (the upload was private, the collection events are private).
        with pytest.raises(asyncio.TimeoutError):
            await read(public, timeout=0.5)
    finally:
        mine.close()
        public.close()


async def test_long_poll_with_a_collection_filter(api, fetch, put_file):
    _, coll, _ = await api("POST", "/api/v1/collections", {"title": "poll"})
    _, card = await put_file(b"public for the poll", "poll.txt")
    waiting = asyncio.ensure_future(fetch(f"/api/v1/events?collection={coll['code']}&timeout=10",
                                          headers={"Accept": "application/json"}))
    await asyncio.sleep(0.3)
    await api("POST", f"/api/v1/collections/{coll['code']}/files", {"files": [card["filehash"]]},
              headers={"X-Manage-Token": coll["manage_token"]})
    response = await waiting
    events = json.loads(response.body)["events"]
    assert [(e["type"], e["action"], e["file"]["filehash"]) for e in events] == [
        ("collection.updated", "added", card["filehash"])]
    bad = await fetch("/api/v1/events?collection=nope", headers={"Accept": "application/json"})
    assert bad.code == 400


async def test_a_protected_collections_feed_needs_its_grant_or_token(api, fetch):
    _, coll, _ = await api("POST", "/api/v1/collections", {"password": "pw"})
    base = f"/api/v1/events?collection={coll['code']}&timeout=0"
    assert (await fetch(base, headers={"Accept": "application/json"})).code == 401
    assert (await fetch(base + f"&token={coll['manage_token']}", headers={"Accept": "application/json"})).code == 200

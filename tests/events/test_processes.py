"""Cross-process fan-out: two real ``run.py`` processes sharing one data dir (one SQLite store)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import tornado.httpclient
import tornado.websocket

from tests.helpers import ServerProcess, multipart_body

WAIT = 20.0


@pytest.fixture
def pair(tmp_path):
    data = tmp_path / "shared-data"
    env = {"TORNADO_PASTE_EVENTS_POLL_INTERVAL": "0.1"}
    a = ServerProcess(data, env=env, log_path=tmp_path / "a.log").start()
    try:
        b = ServerProcess(data, env=env, log_path=tmp_path / "b.log").start()
    except BaseException:
        a.stop()
        raise
    yield a, b
    for proc in (a, b):
        proc.stop()


async def post_file(server: ServerProcess, data: bytes) -> dict:
    body, ctype = multipart_body(None, {"file": ("x.txt", data, "text/plain")})
    client = tornado.httpclient.AsyncHTTPClient()
    response = await client.fetch(server.url + "/", method="POST", body=body,
                                  headers={"Content-Type": ctype, "Accept": "application/json"})
    assert response.code == 201
    return json.loads(response.body)


@pytest.mark.gen_test(timeout=90)
async def test_an_upload_on_one_process_reaches_subscribers_on_the_other(pair):
    a, b = pair
    conn = await tornado.websocket.websocket_connect(b.url.replace("http", "ws") + "/ws")
    try:
        card = await post_file(a, f"cross {uuid.uuid4().hex}".encode())
        message = await asyncio.wait_for(conn.read_message(), WAIT)
        assert message is not None, b.log()
        event = json.loads(message)
        assert event["type"] == "file.created" and event["file"]["filehash"] == card["filehash"]

        # And the other way round, through the long-poll, continuing from the cursor B gave us.
        client = tornado.httpclient.AsyncHTTPClient()
        waiting = client.fetch(f"{a.url}/api/v1/events?cursor={event['cursor']}&timeout=30", request_timeout=WAIT)
        second = await post_file(b, f"back {uuid.uuid4().hex}".encode())
        answer = json.loads((await waiting).body)
        assert [e["file"]["filehash"] for e in answer["events"]] == [second["filehash"]]
        assert answer["events"][0]["cursor"] > event["cursor"]
        # B's own subscriber hears its local upload too, exactly once and in order.
        local = json.loads(await asyncio.wait_for(conn.read_message(), WAIT))
        assert local["file"]["filehash"] == second["filehash"] and local["cursor"] == answer["cursor"]
    finally:
        conn.close()

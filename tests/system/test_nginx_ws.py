"""WebSocket through the real nginx: a socket held by one backend hears about uploads that either
backend handled (the real-time feed, ``/ws``, shared through the store)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.helpers import require_tool
from tests.nginx_stack import Stack
from tests.system.test_nginx import filehash, put

pytestmark = pytest.mark.system


@pytest.fixture
def stack(tmp_path):
    require_tool("nginx", "/usr/sbin/nginx")
    s = Stack(tmp_path, backends=2, max_upload_size=16 << 20).start()
    yield s
    s.stop()


def test_websocket_through_nginx_sees_uploads_from_both_backends(stack):
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{stack.nginx_port}/ws?format=json"
    with connect(url, open_timeout=10) as socket:
        time.sleep(0.2)  # let the subscription settle before the uploads
        # One upload straight to each process: one of them is not the process holding the socket.
        expected = {filehash(put(port, f"ws {port} {uuid.uuid4()}".encode(), "ws.txt")) for port in stack.ports}
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while not expected <= seen and time.monotonic() < deadline:
            try:
                frame = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            event = json.loads(frame)
            if event.get("type") == "file.created":
                seen.add(event["file"]["filehash"])
        assert expected <= seen, (expected, seen)


def test_long_poll_through_nginx_wakes_for_an_upload_on_another_backend(stack):
    import threading

    from tests.nginx_stack import request

    response, body = request(stack.nginx_port, "GET", "/api/v1/events?timeout=1")
    assert response.status == 200, body
    cursor = json.loads(body)["cursor"]
    result: dict = {}

    def poll() -> None:
        result["response"] = request(stack.nginx_port, "GET", f"/api/v1/events?cursor={cursor}&timeout=20")

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    # Straight to each process: at least one of them is not the one holding the poll.
    expected = {filehash(put(port, f"lp {port} {uuid.uuid4()}".encode(), "lp.txt")) for port in stack.ports}
    poller.join(30)
    response, body = result["response"]
    assert response.status == 200, body
    events = json.loads(body)["events"]
    seen = {e["file"]["filehash"] for e in events}
    assert seen and seen <= expected, (seen, expected)
    assert all(e["type"] == "file.created" for e in events)

"""One request id from nginx to the app's JSON log and back to the client (the shipped nginx.conf).

nginx passes the client's X-Request-Id when it is a plain token and makes one ($request_id)
otherwise; the app logs it on its JSON access line and echoes it; nginx's access log has it too,
and no query string (``$uri``).
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import require_tool
from tests.nginx_stack import Stack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = Stack(tmp_path_factory.mktemp("rid-stack"), backends=1, extra_args=["--log-format", "json"]).start()
    yield s
    s.stop()


def get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET",
        body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def app_line(stack: Stack, rid: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in stack.app_logs().splitlines():
            record = json.loads(line)  # every line the app writes is JSON
            if record.get("request_id") == rid and "status" in record:
                return record
        time.sleep(0.05)
    raise AssertionError(f"no app log line with request id {rid}")


def nginx_line(stack: Stack, rid: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [line for line in stack.nginx.access_log.read_text().splitlines() if f"rid={rid}" in line]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no nginx access line with rid={rid}")


def test_nginx_makes_an_id_the_app_logs_and_echoes(stack):
    probe = uuid.uuid4().hex
    status, headers, _ = get(stack.nginx_port, f"/healthz?probe={probe}&token=never-logged")
    assert status == 200
    rid = headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid  # nginx's $request_id
    line = app_line(stack, rid)
    assert line["route"] == "healthz" and line["status"] == 200 and line["client"] == "127.0.0.1"
    assert line["query"] == f"probe={probe}&token=[redacted]"
    ngx = nginx_line(stack, rid)
    assert '"GET /healthz HTTP/1.1" 200' in ngx and probe not in ngx and "never-logged" not in ngx


def test_a_client_id_goes_through_and_a_malformed_one_is_replaced(stack):
    status, headers, _ = get(stack.nginx_port, "/api/v1/files", {"X-Request-Id": "client-trace-1"})
    assert status == 200 and headers["X-Request-Id"] == "client-trace-1"
    assert app_line(stack, "client-trace-1")["route"] == "api_list"
    nginx_line(stack, "client-trace-1")
    status, headers, _ = get(stack.nginx_port, "/api/v1/files", {"X-Request-Id": "no spaces; or quotes\""})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])
    assert app_line(stack, headers["X-Request-Id"])


def test_files_sent_by_nginx_carry_the_id_once(stack):
    status, _, body = get(stack.nginx_port, "/ids.txt", method="PUT", body=b"served by nginx\n")
    assert status == 201
    path = "/i/" + json.loads(body)["filehash"]
    status, headers, data = get(stack.nginx_port, path, {"X-Request-Id": "download-9"})
    assert status == 200 and data == b"served by nginx\n"
    assert headers.get_all("X-Request-Id") == ["download-9"]
    assert app_line(stack, "download-9")["route"] == "raw"

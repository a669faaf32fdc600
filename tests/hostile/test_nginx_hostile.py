"""The nginx side of findings 5 and 9, through the real nginx (nginx.conf as shipped, SITE lines
rendered for loopback) in front of two run.py processes.

- Finding 5: per-address ``limit_conn`` / ``limit_req`` zones on /ws, /api/v1/events and uploads,
  answered by nginx itself with a JSON 429 before the app is bothered.
- Finding 9: nginx's access log held ``DELETE /api/v1/files/<fh>?token=…`` (``$request``); it now
  logs the path without its query string.

Different clients are different loopback source addresses (127.0.0.x), as nginx sees them.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from tests.helpers import require_tool
from tests.nginx_stack import NGINX_CONF, Stack, compose_nginx_conf, request

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    require_tool("nginx", "/usr/sbin/nginx")
    s = Stack(tmp_path_factory.mktemp("nginx-hostile"), backends=2, max_upload_size=16 << 20).start()
    yield s
    s.stop()


def open_ws(port: int, source: str) -> tuple[int, dict[str, str], bytes, socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if status != 101:
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body, sock


def test_access_log_never_holds_a_delete_token(stack):
    response, body = request(stack.nginx_port, "PUT", "/secret.txt", b"a file to delete")
    assert response.status == 201, body
    card = json.loads(body)
    fh, token = card["filehash"], card["delete_token"]
    wrong = "WRONGnginxTOKEN0123456789"
    assert request(stack.nginx_port, "DELETE", f"/api/v1/files/{fh}?token={wrong}&x=1")[0].status == 403
    assert request(stack.nginx_port, "DELETE", f"/api/v1/files/{fh}?token={token}")[0].status == 200
    deadline = time.monotonic() + 5
    # nginx writes each line after its answer: wait for the second DELETE's line, not only the first one's.
    while f'"DELETE /api/v1/files/{fh} HTTP/1.1" 200' not in stack.nginx.access_log.read_text() \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    log = stack.nginx.access_log.read_text()
    assert f'"DELETE /api/v1/files/{fh} HTTP/1.1" 200' in log  # logged, by path
    assert f'"DELETE /api/v1/files/{fh} HTTP/1.1" 403' in log
    for secret in (token, wrong):
        assert secret not in log
        assert secret not in stack.app_logs()  # nor in the apps' own access logs
    assert "token=" not in log


def test_every_render_of_the_access_log_keeps_the_redacting_format(stack):
    # An access_log without the format name falls back to "combined", i.e. $request with its query.
    for text in (NGINX_CONF.read_text(), stack.nginx.conf.read_text(), compose_nginx_conf()):
        logs = re.findall(r"^\s*access_log\s+([^;]+);", text, re.M)
        assert logs and all(value.split()[-1] in ("paste", "off") for value in logs), logs
        log_format = re.search(r"log_format paste ([^;]+);", text).group(1)
        assert not re.search(r"\$(request|request_uri|args|query_string|http_referer)\b", log_format), log_format


def test_websocket_flood_from_one_address_meets_nginx_limit_conn(stack):
    flooder, neighbour = "127.0.0.7", "127.0.0.8"
    held: list[socket.socket] = []
    answers: list[tuple[int, dict[str, str], bytes]] = []
    try:
        for _ in range(40):
            status, headers, body, sock = open_ws(stack.nginx_port, flooder)
            answers.append((status, headers, body))
            held.append(sock)
        statuses = [a[0] for a in answers]
        # feed_conns allows 32 open per address (the apps' own per-process caps are not reached:
        # nginx spreads the 32 over two backends).
        assert statuses == [101] * 32 + [429] * 8, statuses
        for _status, headers, body in answers[32:]:
            assert headers["content-type"].startswith("application/json")
            assert headers["retry-after"] == "1"
            assert json.loads(body) == {"error": {"code": "too_many_requests", "message": json.loads(body)[
                "error"]["message"]}}
        # Another address still gets a socket, and the probe answers.
        status, _h, _b, sock = open_ws(stack.nginx_port, neighbour)
        held.append(sock)
        assert status == 101
        assert request(stack.nginx_port, "GET", "/healthz", source=neighbour)[0].status == 200
        # Long-polls share the flooder's feed connections: refused by nginx too.
        response, body = request(stack.nginx_port, "GET", "/api/v1/events?timeout=1", source=flooder)
        assert response.status == 429 and json.loads(body)["error"]["code"] == "too_many_requests"
    finally:
        for sock in held:
            sock.close()
    # Rejections are logged below the shipped error_log level (warn), not as errors.
    assert "limiting connections" in stack.nginx.error_log.read_text()
    assert "[error]" not in "".join(line for line in stack.nginx.error_log.read_text().splitlines(True)
                                    if "limiting" in line)


def test_upload_burst_from_one_address_meets_nginx_limit_req(stack):
    """Uploads from one address faster than the zone's 10/s refill: nginx answers 429 once the burst is spent.

    Twelve senders (under the zone's 16 upload connections, so limit_conn never answers) keep the arrival
    rate above the refill however slow the machine is; what succeeded never exceeds burst + refill.
    """
    import threading

    flooder = "127.0.0.9"
    statuses: list[int] = []
    codes: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    stop = threading.Event()

    def send(worker: int) -> None:
        for i in range(60):
            if stop.is_set():
                return
            response, body = request(stack.nginx_port, "PUT", f"/burst-{worker}-{i}.txt", b"%d" % i, source=flooder)
            with lock:
                statuses.append(response.status)
                if response.status == 429:
                    codes.append(json.loads(body)["error"]["code"])
            if response.status == 429:
                stop.set()

    threads = [threading.Thread(target=send, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - started
    assert 429 in statuses, f"{len(statuses)} uploads in {elapsed:.1f}s and none refused"
    assert "too_many_requests" in codes, codes  # nginx's zone answered, not only the app's own caps
    assert set(statuses) <= {201, 200, 429}, statuses
    assert statuses.count(201) + statuses.count(200) <= 100 + 10 * elapsed + 12
    # Reads from that address are not uploads: not limited.
    assert request(stack.nginx_port, "GET", "/healthz", source=flooder)[0].status == 200

"""Finding 5: connection floods. 250 ``/ws`` from one address exhausted the process's descriptors;
/healthz, downloads and uploads timed out, and the log gained 66,513 EMFILE accept tracebacks in
30 s. Now: per-client caps on WebSockets and long-polls (JSON 429 before any upgrade), a global cap
that is a share of the open-file limit (503), the soft limit raised to the hard one at start, and a
listener that pauses and logs one line per interval when accept() runs out of descriptors.
(The nginx side, limit_conn/limit_req, is in test_nginx_hostile.py.)
"""

from __future__ import annotations

import asyncio
import http.client
import json
import resource
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults import FakeStatsd, poll
from tests.helpers import ServerProcess, wait_for_http
from tornado_paste.limits.feedgate import total_cap

FLOODER = "203.0.113.50"
NEIGHBOUR = "198.51.100.20"


def ws_request(port: int, client: str, path: str = "/ws") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"X-Real-IP: {client}\r\n\r\n").encode()


async def open_ws(port: int, client: str) -> tuple[int, dict, bytes, asyncio.StreamWriter]:
    """Send a WebSocket upgrade; the status, headers, body (for refusals) and the open writer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(ws_request(port, client))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = b""
    if status != 101 and "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return status, headers, body, writer


@pytest.fixture
def statsd():
    fake = FakeStatsd()
    yield fake
    fake.close()


@pytest.mark.parametrize("settings_overrides", [dict(behind_proxy=True, events_ws_max_per_client=8,
                                                     statsd_host="127.0.0.1")])
@pytest.mark.gen_test(timeout=60)
async def test_websockets_over_the_per_client_cap_get_429_before_the_upgrade(fetch, services, http_port, statsd):
    services.metrics.__init__("127.0.0.1", statsd.port, "tp")
    gate = services.limits.feeds
    writers = []
    answers = []
    try:
        for _ in range(20):
            status, headers, body, writer = await open_ws(http_port, FLOODER)
            writers.append(writer)
            answers.append((status, headers, body))
        assert [a[0] for a in answers] == [101] * 8 + [429] * 12, [a[0] for a in answers]
        for _status, headers, body in answers[8:]:
            assert headers["content-type"].startswith("application/json")
            assert int(headers["retry-after"]) >= 1
            assert "upgrade" not in headers  # refused before any upgrade
            error = json.loads(body)["error"]
            assert error["code"] == "too_many_feeds" and set(error) == {"code", "message"}
        assert gate.open["ws", FLOODER] == 8
        # Another address is unaffected: its WebSocket opens and the health probe answers.
        status, _h, _b, other = await open_ws(http_port, NEIGHBOUR)
        writers.append(other)
        assert status == 101
        health = await fetch("/healthz", headers={"X-Real-IP": NEIGHBOUR})
        assert health.code == 200
        assert await poll(lambda: statsd.count("ws.refused.client") >= 12)
    finally:
        for writer in writers:
            writer.close()
    # Closed sockets give their slots back.
    assert await poll(lambda: gate.total == 0 and not gate.open), (gate.total, gate.open)
    status, _h, _b, again = await open_ws(http_port, FLOODER)
    again.close()
    assert status == 101


@pytest.mark.parametrize("settings_overrides", [dict(behind_proxy=True, events_longpoll_max_per_client=3)])
@pytest.mark.gen_test(timeout=60)
async def test_long_polls_over_the_caps_get_429_then_503(fetch, services, http_port):
    gate = services.limits.feeds
    headers = {"Accept": "application/json", "X-Real-IP": FLOODER}
    waiting = [asyncio.ensure_future(fetch("/api/v1/events?timeout=3", headers=headers, request_timeout=30))
               for _ in range(3)]
    assert await poll(lambda: gate.open["longpoll", FLOODER] == 3)
    refused = await fetch("/api/v1/events?timeout=3", headers=headers)
    assert refused.code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.body)["error"]["code"] == "too_many_feeds"
    # The process-wide cap (a share of the open-file limit): everyone else gets 503 past it.
    gate.max_total = gate.total
    full = await fetch("/api/v1/events?timeout=1", headers={"Accept": "application/json", "X-Real-IP": NEIGHBOUR})
    assert full.code == 503 and json.loads(full.body)["error"]["code"] == "feeds_full"
    assert "Retry-After" in full.headers
    assert (await fetch("/healthz")).code == 200  # probes are not feeds
    gate.max_total = 0
    # Answered long-polls give their slots back.
    assert [(await future).code for future in waiting] == [200] * 3
    assert gate.total == 0 and not gate.open
    assert (await fetch("/api/v1/events?timeout=0", headers=headers)).code == 200


def test_global_cap_is_a_share_of_the_open_file_limit():
    assert total_cap(0.5, 1024) == 512
    assert total_cap(0.0, 1024) == 0  # disabled
    assert total_cap(0.001, 100) == 1
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert total_cap(0.5) == max(1, int(soft * 0.5))


# -- a real process with few descriptors ----------------------------------------------------------
class LimitedServer(ServerProcess):
    """run.py started with RLIMIT_NOFILE (soft, hard) already set, as `ulimit -n` would."""

    def __init__(self, *args, nofile: tuple[int, int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def start(self, timeout: float = 20.0) -> LimitedServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        nofile = self.nofile
        self.proc = subprocess.Popen(self.args, cwd=Path(__file__).resolve().parents[2], env=self.env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
        wait_for_http(self.url + "/healthz", timeout, self.proc)
        return self


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line")


def healthz(port: int, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


def test_run_py_raises_the_soft_open_file_limit_to_the_hard_one(tmp_path):
    with LimitedServer(tmp_path / "data", nofile=(256, 4096)) as server:
        assert open_files_limits(server.proc.pid) == (4096, 4096)
        assert "open-file limit: 4096" in server.log()


def test_descriptor_exhaustion_pauses_accepts_without_a_traceback_flood(tmp_path):
    # 128 descriptors in all (soft = hard, so run.py cannot raise it): a flood of idle connections
    # uses every one of them and leaves the rest waiting in the listen backlog.
    server = LimitedServer(tmp_path / "data", nofile=(128, 128))
    server.start()
    flood: list[socket.socket] = []
    try:
        lines_before = len(server.log().splitlines())
        for _ in range(200):
            sock = socket.socket()
            sock.settimeout(1.0)
            try:
                sock.connect(("127.0.0.1", server.port))
            except OSError:
                sock.close()
                break
            flood.append(sock)
        assert len(flood) > 128  # more than the process can hold: accept() runs out of descriptors
        time.sleep(3)  # the loop faces EMFILE all this while
        assert server.proc.poll() is None
    finally:
        for sock in flood:
            sock.close()
    try:
        # After the flood the listener accepts again (it pauses at most a second at a time).
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            try:
                status = healthz(server.port)
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        log = server.log()
        new_lines = log.splitlines()[lines_before:]
        assert "Traceback" not in log, log[-3000:]
        assert len(new_lines) < 20, f"{len(new_lines)} log lines during the flood:\n" + "\n".join(new_lines[:20])
        assert "cannot accept connections" in log and "Too many open files" in log
    finally:
        server.stop()

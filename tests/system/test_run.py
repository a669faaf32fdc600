"""run.py as an operator starts it: exact flags, one log line, graceful stop, sweeping, settings."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time

import pytest

from settings import Settings, parse_size
from tests.helpers import ServerProcess
from tornado_paste.storage.blobs.local import BlobStore


def test_starts_with_the_documented_flags_on_a_fresh_data_dir(tmp_path):
    data = tmp_path / "fresh" / "data"
    with ServerProcess(data) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("PUT", "/a.txt", body=b"hello", headers={"Accept": "application/json"})
        response = conn.getresponse()
        card = json.loads(response.read())
        assert response.status == 201
        assert card["url_p"].startswith(server.url + "/p/")
    assert server.proc.returncode == 0
    assert (data / "paste.sqlite3").exists() and (data / "blobs").is_dir() and (data / "tmp").is_dir()
    lines = [line for line in server.log().splitlines() if "listening on" in line]
    assert len(lines) == 1 and server.url in lines[0]


def test_sigterm_lets_an_in_flight_upload_finish_then_exits_0(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    body = os.urandom(2 * 1024 * 1024)
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"PUT /slow.bin HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:1024 * 1024])
    time.sleep(0.3)  # let the server start the request before it is told to stop
    server.signal(signal.SIGTERM)
    time.sleep(0.3)
    # New connections are refused while the old request may still finish.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    sock.sendall(body[1024 * 1024:])
    reply = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    server.proc.wait(15)
    assert server.stop() == 0
    assert "stopped" in server.log()


def test_start_up_sweeps_staging_files_of_dead_processes(tmp_path):
    data = tmp_path / "data"
    blobs = BlobStore(str(data))
    blobs.ensure_dirs()
    stale = data / "tmp" / f"{socket.gethostname()}.999999.deadbeef.part"
    stale.write_bytes(b"partial upload")
    with ServerProcess(data):
        assert not stale.exists()


def test_environment_and_flags_override_defaults(monkeypatch):
    env = {"TORNADO_PASTE_PORT": "9001", "TORNADO_PASTE_MAX_UPLOAD_SIZE": "10M",
           "TORNADO_PASTE_DENY_TYPES": "text/html, image/svg+xml", "TORNADO_PASTE_BEHIND_PROXY": "yes"}
    s = Settings.from_env(env)
    assert (s.port, s.max_upload_size, s.deny_types, s.behind_proxy) == (
        9001, 10 * 1024 * 1024, ("text/html", "image/svg+xml"), True)
    assert s.public_base_url == "http://127.0.0.1:9001"
    flagged = Settings.from_env(env, port=9002, base_url="https://paste.example/")
    assert flagged.port == 9002 and flagged.public_base_url == "https://paste.example"


@pytest.mark.parametrize("text,size", [("1024", 1024), ("64k", 65536), ("100M", 100 << 20), ("1G", 1 << 30),
                                       ("2GiB", 2 << 30), ("5 kb", 5120)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", [{"port": 0}, {"processes": 0}, {"base_url": "ftp://x"}, {"max_upload_size": 0}])
def test_invalid_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Settings(**bad).validated()


def test_bad_flag_value_exits_2_with_a_message(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT

    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--max-upload-size", "lots",
                             "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "not a size" in result.stderr


def test_processes_flag_serves_from_several_workers(tmp_path):
    with ServerProcess(tmp_path / "data", extra_args=["--processes", "2"]) as server:
        pids = set()
        for _ in range(40):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
        # Workers log their pid in the start-up line; the second may still be starting.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = {line.split()[2] for line in server.log().splitlines() if "listening on" in line}
            if len(pids) == 2:
                break
            time.sleep(0.05)
        assert len(pids) == 2
    assert server.proc.returncode == 0



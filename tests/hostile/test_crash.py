"""Real ``run.py`` processes: SIGKILL mid-upload loses nothing, and a store down at start-up heals."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.faults import blob_files, blobs_intact, staging_files
from tests.helpers import ServerProcess, wait_for_http


def _put(url: str, body: bytes, name: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"{url}/{name}", data=body, method="PUT",
                                 headers={"Accept": "application/json", "Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_sigkill_mid_upload_loses_nothing(tmp_path):
    data_dir = tmp_path / "data"
    env = {"TORNADO_PASTE_RETENTION_SWEEP_INTERVAL": "0"}
    server = ServerProcess(data_dir, env=env).start()
    completed: list[tuple[str, dict]] = []
    stop = threading.Event()

    def uploader(worker: int) -> None:
        n = 0
        while not stop.is_set():
            body = os.urandom(1024 * (16 + (n * 37 + worker * 11) % 240))
            try:
                status, card = _put(server.url, body, f"w{worker}-{n}.bin")
            except OSError:
                return  # the server died under us
            if status == 201:
                completed.append((hashlib.sha256(body).hexdigest(), card))
            n += 1

    workers = [threading.Thread(target=uploader, args=(i,), daemon=True) for i in range(3)]
    slow = socket.create_connection(("127.0.0.1", server.port))
    try:
        for thread in workers:
            thread.start()
        # One upload that is surely half-way when the kill comes.
        slow.sendall(b"PUT /half.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n" + os.urandom(3 << 20))
        assert _wait(lambda: len(completed) >= 15)
        assert _wait(lambda: len(staging_files(data_dir)) >= 1)
        server.kill()  # SIGKILL, uploads in flight
    finally:
        stop.set()
        slow.close()
        for thread in workers:
            thread.join(30)
        server.stop()
    assert staging_files(data_dir), "the kill should have left staging files behind"
    done = list(completed)

    with ServerProcess(data_dir, env=env, log_path=tmp_path / "restart.log") as again:
        assert staging_files(data_dir) == []  # swept at start-up
        assert blobs_intact(data_dir) == []  # no partial blob: every blob hashes to its name
        blobs = {p.name for p in blob_files(data_dir)}
        db = sqlite3.connect(f"file:{data_dir / 'paste.sqlite3'}?mode=ro", uri=True)
        recorded = [row[0] for row in db.execute("SELECT sha256 FROM files")]
        db.close()
        assert set(recorded) <= blobs  # no record without its blob
        assert {sha for sha, _ in done} <= set(recorded)
        for sha, card in done:  # every upload answered before the kill is intact
            status, body, _ = _get(card["url_i"].replace(server.url, again.url))
            assert status == 200 and hashlib.sha256(body).hexdigest() == sha == card["sha256"]
        status, _ = _put(again.url, b"after the restart", "after.txt")
        assert status == 201


def test_store_down_at_start_serves_503_then_recovers_without_restart(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # The SQLite path is unusable (a directory is in the way), as with a missing or unmounted volume.
    blocker = data_dir / "paste.sqlite3"
    blocker.mkdir()
    env = {"TORNADO_PASTE_STORE_START_RETRIES": "1", "TORNADO_PASTE_STORE_START_BACKOFF": "0.1"}
    server = ServerProcess(data_dir, env=env)
    server.log_file = open(server.log_path, "ab")  # noqa: SIM115 - closed by stop()
    server.proc = subprocess.Popen(server.args, cwd=Path(__file__).resolve().parents[2], env=server.env,
                                   stdout=server.log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(server.url + "/", 30, server.proc)  # the upload page needs no store
        status, body, headers = _get(server.url + "/healthz")
        assert status == 503 and headers["Retry-After"] == "2", body
        status, answer = _put(server.url, b"too early", "early.txt")
        assert status == 503 and answer["error"]["code"] == "unavailable"
        assert staging_files(data_dir) == []
        blocker.rmdir()  # the volume is back
        assert _wait(lambda: _get(server.url + "/healthz")[0] == 200, timeout=30), server.log()
        status, card = _put(server.url, b"on time", "late.txt")
        assert status == 201
        assert _get(card["url_i"])[1] == b"on time"
        assert server.proc.poll() is None  # the same process all along
        assert "store is back" in server.log()
    finally:
        server.stop()


def test_sweepers_in_two_processes_remove_expired_files_once(tmp_path):
    data_dir = tmp_path / "data"
    env = {"TORNADO_PASTE_RETENTION_SWEEP_INTERVAL": "0.2", "TORNADO_PASTE_RETENTION_GRACE": "0"}
    with ServerProcess(data_dir, extra_args=["--processes", "2"], env=env) as server:
        cards = []
        for i in range(6):
            status, card = _put(server.url, b"expiring %d" % i, f"e{i}.txt?expires=1h")
            assert status == 201
            cards.append(card)
        status, keep = _put(server.url, b"not expiring", "keep.txt?expires=30d")
        assert status == 201
        db = sqlite3.connect(str(data_dir / "paste.sqlite3"), timeout=5, isolation_level=None)
        db.executemany("UPDATE files SET expires_at = '2000-01-01T00:00:00+00:00' WHERE filehash = ?",
                       [(c["filehash"],) for c in cards])
        db.close()
        assert _wait(lambda: {p.name for p in blob_files(data_dir)} == {keep["sha256"]}, timeout=30)
        for card in cards:
            assert _get(card["url_i"])[0] == 404
        assert _get(keep["url_i"])[1] == b"not expiring"
        assert "Traceback" not in server.log()

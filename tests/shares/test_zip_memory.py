"""The zip is streamed with flat memory: a slow reader of an archive much larger than the chunk size
never makes the server process grow by more than a few MiB (back-pressure between chunks)."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request

import psutil

from tests.helpers import ServerProcess

FILE = 40 << 20  # two of them: 80 MiB of archive


def test_a_slowly_read_large_zip_keeps_the_server_flat(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        fhs = []
        for i in range(2):
            path = tmp_path / f"big{i}.bin"
            with open(path, "wb") as out:
                out.write(os.urandom(1 << 20) * (FILE >> 20))
            with open(path, "rb") as body:
                request = urllib.request.Request(f"{server.url}/big{i}.bin", data=body, method="PUT",
                                                 headers={"Accept": "application/json",
                                                          "Content-Length": str(FILE)})
                with urllib.request.urlopen(request, timeout=120) as response:
                    fhs.append(json.loads(response.read())["filehash"])
            path.unlink()
        request = urllib.request.Request(f"{server.url}/api/v1/collections", data=json.dumps({"files": fhs}).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            coll = json.loads(response.read())
        proc = psutil.Process(server.proc.pid)
        baseline = proc.memory_info().rss
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET /c/{coll['code']}/zip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received, peak, started = 0, baseline, time.monotonic()
        while True:
            chunk = sock.recv(256 * 1024)
            if not chunk:
                break
            received += len(chunk)
            if received < 24 << 20:
                time.sleep(0.002)  # a slow reader for the first part
            peak = max(peak, proc.memory_info().rss)
            assert time.monotonic() - started < 120
        sock.close()
        assert received > coll["zip_size"] >= 2 * FILE
        assert peak - baseline < 24 << 20, (baseline, peak)
    finally:
        server.stop()

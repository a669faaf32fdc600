"""``run.py --processes N``: workers forked after binding, restarted when they crash, stopped together."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import psutil

from tests.helpers import ServerProcess, consecutive_free_ports, wait_for_http


def workers(server: ServerProcess) -> list[psutil.Process]:
    assert server.proc is not None
    return psutil.Process(server.proc.pid).children()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


def test_crashed_worker_is_restarted_and_sigterm_stops_all(tmp_path):
    server = ServerProcess(tmp_path / "data", extra_args=["--processes", "2"]).start()
    try:
        before = wait_for(lambda: len(workers(server)) == 2 and workers(server), what="two workers")
        victim = before[0]
        victim.kill()  # a crash: SIGKILL, no clean exit
        after = wait_for(lambda: (w := workers(server)) and len(w) == 2 and victim.pid not in {p.pid for p in w}
                         and w, what="a replacement worker")
        assert before[1].pid in {p.pid for p in after}
        wait_for_http(server.url + "/healthz", 10)
        for i in range(6):  # whichever worker takes it
            request = urllib.request.Request(server.url + f"/p{i}.txt", data=f"payload {i}".encode(), method="PUT",
                                             headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 201
                assert json.loads(response.read())["size"] == len(f"payload {i}")
        pids = [p.pid for p in workers(server)]
        server.signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in pids)
        assert "restarting it" in server.log()
    finally:
        server.stop()


def test_port_per_process(tmp_path):
    port = consecutive_free_ports(2)
    server = ServerProcess(tmp_path / "data", port=port, extra_args=["--processes", "2", "--port-per-process"])
    server.start()
    try:
        wait_for_http(f"http://127.0.0.1:{port + 1}/healthz", 15)
        pids = set()
        for p in (port, port + 1):
            with urllib.request.urlopen(f"http://127.0.0.1:{p}/healthz", timeout=5) as response:
                assert response.status == 200
        pids = {w.pid for w in workers(server)}
        assert len(pids) == 2
        server.signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
    finally:
        server.stop()
    assert not os.path.exists(tmp_path / "data" / "tmp") or os.listdir(tmp_path / "data" / "tmp") == []

"""The provisioned alert rules, evaluated as Grafana would through the real graphite-web, driven by real faults.

Each fault test breaks something for real (the SQLite store locked, the image executor saturated, a
12 s upload, the data dir's tmpfs filled, a worker process stopped with SIGSTOP, the StatsD daemon
stopped), waits until the rule's own query, reducer and threshold (tests/metrics/alerting.py)
say "Alerting", removes the fault and waits until they say "Normal" again. Only the time range is
shortened (to ``WINDOW`` seconds; the file has 2-5 minutes), so a test takes seconds.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import IN_CI, ServerProcess, consecutive_free_ports, multipart_body, wait_for_http
from tests.imagegen import stripes_bytes
from tests.metrics.alerting import Evaluation, evaluate, load_rules
from tests.metrics_stack import MetricsStack

pytestmark = pytest.mark.system

WINDOW = 6
RULES = load_rules()


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def upload(port: int, data: bytes, name: str = "f.txt") -> dict[str, Any]:
    body, ctype = multipart_body(files={"file": (name, data, "application/octet-stream")})
    status, answer = call(port, "POST", "/", body, {"Content-Type": ctype})
    assert status in (200, 201), answer
    return json.loads(answer)


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """An 8 MiB tmpfs for the app's data dir (a real filesystem that can fill), or None when we may not mount."""
    mount_point = tmp_path_factory.mktemp("alerts") / "data"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        yield mount_point, False
        return
    try:
        yield mount_point, True
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def app(metrics_stack: MetricsStack, small_disk):
    data_dir, on_tmpfs = small_disk
    prefix = f"tp_alerts_{uuid.uuid4().hex[:8]}"
    first = consecutive_free_ports(2)
    server = ServerProcess(data_dir, port=first, log_path=data_dir.parent / "server.log", extra_args=[
        "--statsd-host", "127.0.0.1", "--statsd-port", str(metrics_stack.statsd_port), "--statsd-prefix", prefix,
        "--processes", "2", "--port-per-process", "--metrics-host", "alerts", "--log-level", "WARNING"],
        # One client (this test) saturates the whole executor: no per-client share, so the global
        # refusal fires.
        env={"TORNADO_PASTE_STORE_TIMEOUT": "1.0", "TORNADO_PASTE_RESIZE_WORKERS": "1",
             "TORNADO_PASTE_RESIZE_MAX_PER_CLIENT": "0", "TORNADO_PASTE_RESIZE_MAX_PENDING": "8",
             "TORNADO_PASTE_METRICS_BLOB_SCAN_INTERVAL": "5"})
    with server:
        wait_for_http(f"http://127.0.0.1:{first + 1}/healthz", 20)
        yield {"prefix": prefix, "server": server, "ports": (first, first + 1), "data_dir": data_dir,
               "on_tmpfs": on_tmpfs, "stack": metrics_stack}


def state(app: dict[str, Any], uid: str, window: int | None = WINDOW) -> Evaluation:
    return evaluate(RULES[uid], app["stack"], app["prefix"], window)


def wait_state(app: dict[str, Any], uids: list[str], firing: bool, traffic: Callable[[], None] | None = None,
               timeout: float = 45) -> dict[str, Evaluation]:
    """Evaluate ``uids`` until every one is (or is not) firing, running ``traffic()`` between evaluations."""
    deadline = time.monotonic() + timeout
    while True:
        if traffic is not None:
            traffic()
        now = {uid: state(app, uid) for uid in uids}
        if all(e.firing == firing for e in now.values()):
            return now
        if time.monotonic() > deadline:
            seen = app["stack"].render(f"stats.timers.{app['prefix']}.http.*.time.upper_99", "-60s")
            pytest.fail(f"not {'firing' if firing else 'normal'} within {timeout}s: "
                        f"{ {uid: (e.state, e.value) for uid, e in now.items()} }; "
                        f"route p99 series in the last minute: {[(x['target'], x['datapoints'][-8:]) for x in seen]}")
        time.sleep(0.3)


def healthy(app: dict[str, Any]) -> Callable[[], None]:
    """A little ordinary traffic on both workers: pages, API, health, one small upload."""
    counter = iter(range(10**6))

    def run() -> None:
        for port in app["ports"]:
            assert call(port, "GET", "/healthz")[0] == 200
            assert call(port, "GET", "/api/v1/files")[0] == 200
            assert call(port, "GET", "/", headers={"Accept": "text/html"})[0] == 200
        upload(app["ports"][0], b"healthy %d\n" % next(counter))

    return run


def test_every_rule_is_normal_on_healthy_traffic(app):
    port = app["ports"][0]
    image = upload(port, stripes_bytes("PNG", 400, 300), "small.png")
    traffic = healthy(app)
    for _ in range(6):  # a few seconds of every kind of request the rules read
        traffic()
        assert call(port, "GET", f"/r/{image['filehash']}?w=40&h=30")[0] in (200, 201)
        time.sleep(0.5)
    time.sleep(2.5)  # two flushes
    for uid in RULES:
        for window in (None, WINDOW):  # the file's own range and the tests' short one
            result = state(app, uid, window)
            assert result.state == "Normal", (uid, window, result)
            assert result.value == result.value, (uid, window, "nothing to compare: the query read no data")


def test_store_locked_fires_store_5xx_and_interactive_latency_then_recovers(app):
    port = app["ports"][0]
    card = upload(port, b"to delete later\n")
    lock = sqlite3.connect(Path(app["data_dir"]) / "paste.sqlite3", timeout=5, isolation_level=None)
    pool = concurrent.futures.ThreadPoolExecutor(4)
    uids = ["tp-store-unavailable", "tp-5xx-ratio", "tp-p99-interactive"]
    try:
        lock.execute("BEGIN EXCLUSIVE")  # every write now waits store_timeout (1 s) and answers 503

        def broken_traffic() -> None:
            jobs = [pool.submit(call, port, "PUT", f"/locked{i}.txt", b"never stored\n") for i in range(2)]
            jobs.append(pool.submit(call, port, "DELETE", f"/api/v1/files/{card['filehash']}",
                                    headers={"X-Delete-Token": card["delete_token"]}))
            jobs.append(pool.submit(call, port, "GET", "/healthz"))
            statuses = [job.result()[0] for job in jobs]
            assert statuses == [503, 503, 503, 200], statuses

        fired = wait_state(app, uids, True, broken_traffic)
        assert fired["tp-p99-interactive"].value > 300  # the DELETEs waited the store's 1 s
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        pool.shutdown()
    wait_state(app, uids, False, healthy(app))


def test_saturated_executor_fires_rejections_and_image_latency_then_recovers(app):
    port = app["ports"][0]
    image = upload(port, stripes_bytes("PNG", 4000, 3000), "big.png")["filehash"]
    uids = ["tp-executor-rejections", "tp-p99-images"]
    # One worker, 8 waiting: 20 new sizes at once are 9 renders of ~1 s in a row and 11 refusals (503).
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        burst = [pool.submit(call, port, "GET", f"/r/{image}?w={100 + i}&h=80", timeout=60) for i in range(20)]
        wait_state(app, ["tp-executor-rejections"], True)
        statuses = [job.result()[0] for job in burst]
    assert statuses.count(503) >= 5 and statuses.count(201) >= 5, statuses
    sizes = iter(range(2500, 3999))

    def queued_renders() -> None:
        """Nine big new sizes at once behind one worker (each a full-size resample and encode): answers
        that waited in the queue land in every window."""
        with concurrent.futures.ThreadPoolExecutor(9) as pool:
            list(pool.map(lambda w: call(port, "GET", f"/r/{image}?w={w}&h=2000&mode=fit", timeout=60),
                          [next(sizes) for _ in range(9)]))

    wait_state(app, ["tp-p99-images"], True, queued_renders, timeout=90)
    # One size made now and asked again below: a cache hit (older sizes may have been evicted by the cap).
    assert call(port, "GET", f"/r/{image}?w=100&h=80", timeout=60)[0] in (200, 201)

    def cached() -> None:
        healthy(app)()
        assert call(port, "GET", f"/r/{image}?w=100&h=80")[0] == 200  # a cache hit: fast, no executor

    wait_state(app, uids, False, cached)


def test_slow_upload_fires_transfer_latency_then_recovers(app):
    port = app["ports"][0]
    chunks = 12
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"PUT /slow.bin HTTP/1.1\r\nHost: t\r\nAccept: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (chunks * 1000))
        for i in range(chunks):  # 1 kB a second: a 12 s upload
            sock.sendall(b"%d" % (i % 10) * 1000)
            time.sleep(1)
        assert sock.recv(4096).startswith(b"HTTP/1.1 201")
    fired = wait_state(app, ["tp-p99-transfer"], True)
    assert fired["tp-p99-transfer"].value > 10_000
    wait_state(app, ["tp-p99-transfer"], False, healthy(app))


def test_full_disk_fires_disk_free_then_recovers(app):
    if not app["on_tmpfs"]:
        reason = "cannot mount a tmpfs here (not root?): no real filesystem to fill"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    data_dir = Path(app["data_dir"])
    st = os.statvfs(data_dir)
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    filler = data_dir / "filler.bin"
    try:
        filler.write_bytes(b"\0" * (free - total // 20))  # leaves ~5% free
        fired = wait_state(app, ["tp-disk-free"], True)
        assert fired["tp-disk-free"].value < 10
    finally:
        filler.unlink(missing_ok=True)
    wait_state(app, ["tp-disk-free"], False)


def _worker_pid(server: ServerProcess, port: int) -> int:
    for child in psutil.Process(server.proc.pid).children():
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in child.net_connections("tcp")):
            return child.pid
    raise AssertionError(f"no worker listens on {port}")


def test_stalled_worker_fires_event_lag_then_recovers(app):
    first, second = app["ports"]
    stalled = _worker_pid(app["server"], second)
    os.kill(stalled, signal.SIGSTOP)  # its event loop stops: events published meanwhile reach it late
    try:
        for i in range(3):
            upload(first, b"published while the other worker sleeps %d\n" % i)
            time.sleep(0.5)
        time.sleep(2.5)
    finally:
        os.kill(stalled, signal.SIGCONT)
    fired = wait_state(app, ["tp-event-lag"], True)
    assert fired["tp-event-lag"].value > 2000
    wait_state(app, ["tp-event-lag"], False, lambda: (upload(first, b"on time %f\n" % time.time()), time.sleep(1)))


def test_statsd_stopped_fires_statsd_silent_then_recovers(app):
    stack: MetricsStack = app["stack"]
    stack.stop_statsd()
    try:
        fired = wait_state(app, ["tp-statsd-silent"], True)
        assert fired["tp-statsd-silent"].value == 0
    finally:
        stack.start_statsd()
    wait_state(app, ["tp-statsd-silent"], False)

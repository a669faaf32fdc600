"""End to end: run.py -> StatsD daemon -> carbon-cache -> graphite-web, asserted through /render.

The stack (tests/metrics_stack.py) is started once per session on free loopback ports; it needs
`make setup-system tools-statsd`. Locally a missing piece skips with the reason; under CI=true it fails.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, ServerProcess, multipart_body
from tests.imagegen import stripes_bytes
from tests.metrics_stack import MetricsStack

pytestmark = pytest.mark.system

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "tornado-paste.json"
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "graphite.yaml"


# -- a tiny HTTP client with full control over the request -------------------------


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def post_file(port: int, data: bytes, filename: str) -> tuple[int, dict[str, str], bytes]:
    body, ctype = multipart_body(files={"file": (filename, data, "application/octet-stream")})
    return call(port, "POST", "/", body, {"Content-Type": ctype, "Accept": "application/json"})


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


# -- the traffic, once per module ----------------------------------------------------

A = b"alpha metrics " * 40  # 560 bytes
B = b"bravo metrics " * 20  # 280 bytes
T = b"tango metrics " * 10  # 140 bytes, sent with tus
PNG = stripes_bytes("PNG", 2400, 1600)  # a few KB, but tens of ms to resize


@pytest.fixture(scope="module")
def traffic(metrics_stack: MetricsStack, tmp_path_factory) -> dict[str, Any]:
    """Run the app against the stack and do a known mix of requests; returns the prefix used."""
    prefix = f"tp_e2e_{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path_factory.mktemp("metrics-app") / "data"
    server = ServerProcess(data_dir, extra_args=[
        "--statsd-host", "127.0.0.1", "--statsd-port", str(metrics_stack.statsd_port), "--statsd-prefix", prefix,
        "--max-upload-size", "1M",
    ], env={"TORNADO_PASTE_DENY_TYPES": "image/gif", "TORNADO_PASTE_STORE_TIMEOUT": "0.3",
            # One image worker and no queue, so a burst of resizes meets executor rejections.
            "TORNADO_PASTE_RESIZE_WORKERS": "1", "TORNADO_PASTE_RESIZE_MAX_PENDING": "0",
            # A resize budget of 50 that hardly refills: the test spends it and meets 429s.
            "TORNADO_PASTE_RATELIMIT_RESIZE_BURST": "50", "TORNADO_PASTE_RATELIMIT_RESIZE_RATE": "0.001"})
    with server:
        port = server.port
        # A WebSocket subscriber hears every event of the run (events.*, ws.subscribers).
        feed = _Subscriber(port)
        # Uploads: new (form), dedupe (form), new (PUT).
        status, _, body = post_file(port, A, "a.txt")
        assert status == 201, body
        card_a = json.loads(body)
        assert post_file(port, A, "again.txt")[0] == 200
        status, _, body = call(port, "PUT", "/b.txt", B, {"Accept": "application/json"})
        assert status == 201, body
        card_b = json.loads(body)
        # Downloads: two raw, one Range, one attachment; HEAD and 304 send no body.
        raw = path_of(card_a["url_i"])
        assert call(port, "GET", raw)[0] == 200
        status, headers, _ = call(port, "GET", raw)
        assert status == 200
        assert call(port, "GET", raw, headers={"Range": "bytes=0-9"})[0] == 206
        assert call(port, "HEAD", raw)[0] == 200
        assert call(port, "GET", raw, headers={"If-None-Match": headers["Etag"]})[0] == 304
        assert call(port, "GET", path_of(card_b["url_d"]))[0] == 200
        # Pages, short link, API, static, unknown paths.
        assert call(port, "GET", path_of(card_a["url_s"]))[0] == 302
        assert call(port, "GET", path_of(card_a["url_p"]))[0] == 200
        assert call(port, "GET", "/p/0123456789abcdef.txt")[0] == 404
        assert call(port, "GET", "/api/v1/files")[0] == 200
        assert call(port, "GET", "/static/app.css")[0] == 200
        assert call(port, "GET", "/no/such/page")[0] == 404
        # Refusals, one per reason (two for size: mid-body and by declared length).
        big = (b"z" * 8192 for _ in range(150))
        assert call(port, "PUT", "/big.bin", big, {"Transfer-Encoding": "chunked"}, chunked=True)[0] == 413
        assert _declared_only(port, "/big2.bin", 10_000_000) == 413
        assert post_file(port, b"GIF89a" + b"\0" * 64, "x.gif")[0] == 415
        assert call(port, "POST", "/", b"x", {"Content-Type": "multipart/mixed; boundary=x"})[0] == 415
        body, ctype = multipart_body({"private": "1"})
        assert call(port, "POST", "/", body, {"Content-Type": ctype})[0] == 400
        _aborted_upload(port, metrics_stack, prefix)
        _store_failure(port, data_dir)
        resizes = _resizes(port)
        limited = _rate_limited(port)
        # A long-poll waits (longpoll.subscribers is sampled once a second) until the tus upload wakes it.
        poll = _waiting_long_poll(port)
        time.sleep(1.5)
        _tus_upload(port)
        assert poll.result(timeout=30)["events"], "the long-poll was not woken by the upload"
        heard = feed.close(expect=4 + resizes["resizes_made"])
    return {"prefix": prefix, "card_a": card_a, "heard": heard, **resizes, **limited}


class _Subscriber:
    """A real WebSocket client on /ws, reading frames in a thread."""

    def __init__(self, port: int) -> None:
        from websockets.sync.client import connect

        self.socket = connect(f"ws://127.0.0.1:{port}/ws?cursor=0")
        self.events: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for frame in self.socket:
                self.events.append(json.loads(frame))
        except Exception:
            pass  # closed

    def close(self, expect: int) -> int:
        deadline = time.monotonic() + 30
        while len(self.events) < expect and time.monotonic() < deadline:
            time.sleep(0.05)
        self.socket.close()
        self.thread.join(10)
        return len(self.events)


def _waiting_long_poll(port: int) -> concurrent.futures.Future[dict[str, Any]]:
    status, _, body = call(port, "GET", "/api/v1/events?timeout=0")
    assert status == 200, body
    cursor = json.loads(body)["cursor"]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(lambda: json.loads(call(port, "GET", f"/api/v1/events?cursor={cursor}&timeout=20")[2]))
    pool.shutdown(wait=False)
    return future


def _tus_upload(port: int) -> None:
    """A resumable upload: create, then one PATCH with the whole body; it ends as a normal upload."""
    tus = {"Tus-Resumable": "1.0.0"}
    status, headers, body = call(port, "POST", "/api/v1/tus/", b"", {**tus, "Upload-Length": str(len(T))})
    assert status == 201, body
    location = path_of(headers["Location"])
    status, _, body = call(port, "PATCH", location, T, {**tus, "Upload-Offset": "0",
                                                       "Content-Type": "application/offset+octet-stream"})
    assert status == 204, body


def _rate_limited(port: int) -> dict[str, int]:
    """Spend the rest of the resize budget on a missing file (404s) until the limiter answers 429."""
    statuses: list[int] = []
    while statuses.count(429) < 2:
        statuses.append(call(port, "GET", "/r/0123456789abcdef.png?w=10&h=10")[0])
        assert len(statuses) <= 60 and set(statuses) <= {404, 429}, statuses
    return {"resize_404": statuses.count(404), "limited": statuses.count(429)}


def _resizes(port: int) -> dict[str, int]:
    """One resize made, one served from the cache, then bursts until the executor refuses some."""
    status, _, body = post_file(port, PNG, "stripes.png")
    assert status == 201, body
    base = f"/r/{json.loads(body)['filehash']}"
    accept = {"Accept": "application/json"}
    assert call(port, "GET", f"{base}?w=40&h=30", headers=accept)[0] == 201
    assert call(port, "GET", f"{base}?w=40&h=30", headers=accept)[0] == 200
    made, rejected = 1, 0
    for burst in range(6):
        widths = range(100 + 10 * burst, 106 + 10 * burst)  # distinct sizes: no shared in-flight job
        with ThreadPoolExecutor(len(widths)) as pool:
            statuses = list(pool.map(lambda w: call(port, "GET", f"{base}?w={w}&h=50", headers=accept)[0], widths))
        assert set(statuses) <= {201, 503}, statuses
        made += statuses.count(201)
        rejected += statuses.count(503)
        if rejected:
            break
    assert rejected, "six bursts of six resizes never met a busy executor"
    return {"resizes_made": made, "resizes_rejected": rejected}


def _declared_only(port: int, path: str, length: int) -> int:
    """A PUT announcing ``length`` bytes that is refused before we send any of them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def _aborted_upload(port: int, stack: MetricsStack, prefix: str) -> None:
    """A client that sends part of a body and goes away; while it hangs, in-flight is at least 1."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"PUT /gone.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000\r\n\r\n" + b"q" * 1000)
        stack.wait_for(lambda: _max(stack, f"sumSeries(stats.gauges.{prefix}.proc.*.*.http.inflight)") >= 1,
                       what="in-flight gauge >= 1")


def _store_failure(port: int, data_dir: Path) -> None:
    """Hold SQLite's write lock so the insert times out: a real 503 from the store."""
    conn = sqlite3.connect(data_dir / "paste.sqlite3", timeout=5, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        status, _, body = call(port, "PUT", "/c.txt", b"charlie metrics\n" * 8)
        assert status == 503, body
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _max(stack: MetricsStack, target: str) -> float:
    points = [v for s in stack.render(target, "-10min") for v, _ in s["datapoints"] if v is not None]
    return max(points, default=float("-inf"))


# -- test 1: every documented metric arrived, with the right totals -------------------


def expected_totals(prefix: str, made: int, rejected: int, missing: int, limited: int) -> dict[str, float]:
    c, t = f"stats.counters.{prefix}", f"stats.timers.{prefix}"
    counts = {
        # The PNG is the fourth upload and the tus one the fifth; resize results are not uploads.
        "upload.count": 5, "upload.dedupe_hit": 1, "upload.bytes": 2 * len(A) + len(B) + len(PNG) + len(T),
        "upload.source.form": 3, "upload.source.put": 1, "upload.source.tus": 1,
        "tus.created": 1, "tus.completed": 1, "tus.patch.bytes": len(T),
        "http.tus.code.201": 1, "http.tus.code.204": 1,
        "resize.count": made, "resize.cache_hit": 1, "executor.rejected": rejected,
        "http.resize.code.201": made, "http.resize.code.200": 1, "http.resize.code.503": rejected,
        "http.resize.code.404": missing, "http.resize.code.429": limited,
        "ratelimit.limited": limited, "ratelimit.limited.resize": limited,
        "upload.refused.size": 2, "upload.refused.type": 1, "upload.refused.bad_request": 2,
        "upload.refused.aborted": 1, "upload.refused.error": 1,
        "download.raw.count": 2, "download.raw.bytes": 2 * len(A),
        "download.range.count": 1, "download.range.bytes": 10,
        "download.download.count": 1, "download.download.bytes": len(B),
        "download.not_modified.count": 1,
        "short.hits": 1,
        "http.upload_form.code.201": 2, "http.upload_form.code.200": 1, "http.upload_form.code.415": 2,
        "http.upload_form.code.400": 1, "http.upload_form.status.2xx": 3, "http.upload_form.status.4xx": 3,
        "http.upload_put.code.201": 1, "http.upload_put.code.413": 2, "http.upload_put.code.503": 1,
        "http.upload_put.status.5xx": 1, "http.upload_put.client_closed": 1,
        "http.raw.code.200": 3, "http.raw.code.206": 1, "http.raw.code.304": 1, "http.raw.status.3xx": 1,
        "http.download.code.200": 1, "http.short.code.302": 1, "http.preview.code.200": 1,
        "http.preview.code.404": 1, "http.api_list.code.200": 1, "http.static.code.200": 1,
        "http.not_found.code.404": 1, "store.insert_file.errors": 1,
        # Four new files (form, PUT, the PNG, tus) and every derivative were published once each.
        "events.published": 4 + made,
    }
    timers = {"upload.duration": 5, "http.raw.time": 5, "http.upload_form.time": 6, "http.short.time": 1,
              "store.insert_file.time": 5 + made, "resize.duration": made}
    out = {f"{c}.{name}.count": value for name, value in counts.items()}
    out.update({f"{t}.{name}.count": value for name, value in timers.items()})
    return out


def test_every_metric_arrives_with_the_right_totals(metrics_stack, traffic):
    prefix = traffic["prefix"]
    expected = expected_totals(prefix, traffic["resizes_made"], traffic["resizes_rejected"], traffic["resize_404"],
                               traffic["limited"])
    actual: dict[str, float] = {}

    def arrived() -> bool:
        actual.clear()
        actual.update({target: metrics_stack.total(target) for target in expected})
        return actual == expected

    try:
        metrics_stack.wait_for(arrived, timeout=45, what="the documented metrics")
    except AssertionError:
        wrong = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
        pytest.fail(f"metrics (actual, expected) that differ: {wrong}")
    t, g = f"stats.timers.{prefix}", f"stats.gauges.{prefix}.proc.*.*"
    # Values, not just counts: durations are positive, the gauge was sampled, store calls were timed.
    assert _max(metrics_stack, f"{t}.upload.duration.upper_99") > 0
    assert _max(metrics_stack, f"{t}.http.raw.time.upper_50") > 0
    assert _max(metrics_stack, f"{g}.http.inflight") >= 1
    assert _max(metrics_stack, f"{t}.resize.duration.upper_99") > 0
    assert _max(metrics_stack, f"{g}.executor.queue_depth") >= 0
    assert metrics_stack.total(f"{t}.store.get_by_filehash.time.count") >= 7
    assert metrics_stack.total(f"{t}.store.ping.time.count") >= 1
    # Real subscribers: the WebSocket heard every public event, the long-poll one; both were gauged.
    assert metrics_stack.total(f"stats.counters.{prefix}.events.delivered.count") >= traffic["heard"] + 1
    assert metrics_stack.total(f"{t}.events.delivery_lag.count") >= 1
    assert _max(metrics_stack, f"{g}.ws.subscribers") >= 1
    assert _max(metrics_stack, f"{g}.longpoll.subscribers") >= 1
    # Low cardinality: no file hash or short code became a metric name.
    names = _find(metrics_stack, f"stats.counters.{prefix}.*.*") + _find(metrics_stack, f"stats.timers.{prefix}.*.*")
    hashish = traffic["card_a"]["filehash"].split(".")[0]
    assert names and not [n for n in names if hashish in n or re.search(r"[0-9a-f]{16}", n)]


def _find(stack: MetricsStack, query: str) -> list[str]:
    url = f"{stack.graphite_url}/metrics/find?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return [node["id"] for node in json.loads(response.read())]


# -- test 2: the dashboard's every panel target returns data --------------------------


def dashboard_targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["target"]) for panel in dashboard["panels"] if panel["type"] != "row"
            for target in panel["targets"]]


def test_dashboard_is_current_schema_and_every_target_returns_data(metrics_stack, traffic):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert {p["type"] for p in dashboard["panels"]} <= {"row", "timeseries", "stat"}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert "prefix" in variables
    uid = re.search(r"^\s*uid:\s*(\S+)", DATASOURCE.read_text(), re.M).group(1)
    assert {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"} == {uid}
    prefix = traffic["prefix"]
    # The $route variable's query must list routes.
    routes = _find(metrics_stack, variables["route"]["query"].replace("$prefix", prefix))
    assert f"stats.timers.{prefix}.http.raw" in routes

    targets = [(title, t.replace("$prefix", prefix).replace("$route", "*").replace("$host", "*"))
               for title, t in dashboard_targets(dashboard)]
    assert len(targets) >= 30
    empty: list[str] = []

    def all_have_data() -> bool:
        empty[:] = [f"{title}: {target}" for title, target in targets if not _has_points(metrics_stack, target)]
        return not empty

    try:
        metrics_stack.wait_for(all_have_data, timeout=45, what="data for every panel target")
    except AssertionError:
        pytest.fail("panel targets without data:\n" + "\n".join(empty))
    # A ratio reads 0, not "no data", while its numerator was never emitted (no 5xx on /static/).
    ratio = next(t["target"] for p in dashboard["panels"] if p["title"] == "5xx ratio" for t in p["targets"])
    series = metrics_stack.render(ratio.replace("$prefix", prefix).replace("$route", "static"))
    assert {v for v, _ in series[0]["datapoints"] if v is not None} == {0.0}
    # The real-time panels are there and were fed by real subscribers, not stand-ins.
    assert [t for _, t in targets if ".ws.subscribers" in t or ".events." in t]


def _has_points(stack: MetricsStack, target: str) -> bool:
    return any(v is not None for series in stack.render(target, "-10min") for v, _ in series["datapoints"])


def test_render_dashboard_script_writes_pngs(metrics_stack, traffic, tmp_path):
    out = tmp_path / "png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_dashboard.py"),
         "--graphite", metrics_stack.graphite_url, "--prefix", traffic["prefix"], "--from=-5min",
         "--out", str(out), "--only", "Requests/s by status class", "--only", "Store latency p99 by operation",
         "--montage", str(out / "all.png")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- test 4: every metric the app really sent is on the dashboard and in the README -----------------


def test_every_metric_sent_is_on_the_dashboard_and_in_the_readme(metrics_stack, traffic):
    from tests.metrics.coverage import dashboard_patterns, leaf_metric, load_dashboard, read_by, readme_regexes

    with urllib.request.urlopen(f"{metrics_stack.graphite_url}/metrics/index.json", timeout=30) as response:
        leaves = json.loads(response.read())
    sent = {m for leaf in leaves if (m := leaf_metric(leaf, traffic["prefix"])) is not None}
    assert len(sent) > 80
    patterns = dashboard_patterns(load_dashboard())
    documented = readme_regexes()
    off_dashboard = sorted(f"{kind} {name}" for kind, name in sent if not read_by(patterns, kind, name))
    undocumented = sorted(f"{kind} {name}" for kind, name in sent
                          if not any(k == kind and re.fullmatch(regex, name) for k, regex in documented))
    assert off_dashboard == [], "sent but on no panel"
    assert undocumented == [], "sent but not in the README's metrics table"

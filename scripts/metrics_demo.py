#!/usr/bin/env python3
"""Watch the metrics locally: real StatsD + carbon + graphite-web, two app "hosts", every feature, PNG panels.

    python scripts/metrics_demo.py --seconds 90 --out docs/dashboard --montage docs/metrics-dashboard.png

Needs what the pipeline tests need (`make setup-system tools-statsd`). Everything runs on free
loopback ports with state in a temp dir that is removed at the end (``--keep`` leaves the stack
up until Ctrl-C and prints graphite-web's URL). Two instances share the one StatsD, as two
machines would: ``web1`` with ``--processes 2 --port-per-process`` and ``web2`` with one process.
The traffic is real and drives every panel: uploads (form, PUT, tus; new and dedupe), downloads
(raw, attachment, Range, 304), short links, pages, resizes (made, cached, bursts the executor
refuses), WebSocket and long-poll subscribers, events, refusals of every kind (size, type, bad
request, aborted, idle, slow, concurrency, capacity, rate limit, tus checksum), and twice a
locked SQLite store (503s). Nothing is made up.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from scripts import render_dashboard  # noqa: E402
from tests.helpers import ServerProcess, consecutive_free_ports, multipart_body, wait_for_http  # noqa: E402
from tests.metrics_stack import MetricsStack, missing_tools  # noqa: E402

PREFIX = "tornado_paste"
LIMIT = 64 * 1024
APP_ENV = {
    "TORNADO_PASTE_RESIZE_WORKERS": "1", "TORNADO_PASTE_RESIZE_MAX_PENDING": "1",
    # A small resize budget, so the bursts also meet the rate limiter (429).
    "TORNADO_PASTE_RATELIMIT_RESIZE_BURST": "20", "TORNADO_PASTE_RATELIMIT_RESIZE_RATE": "1.5",
    "TORNADO_PASTE_DENY_TYPES": "image/gif", "TORNADO_PASTE_STORE_TIMEOUT": "0.5",
    # Small admission limits and timeouts, so idle / slow / concurrency / capacity refusals happen.
    "TORNADO_PASTE_UPLOAD_IDLE_TIMEOUT": "1.5", "TORNADO_PASTE_UPLOAD_MAX_PER_CLIENT": "2",
    "TORNADO_PASTE_UPLOAD_MAX_INFLIGHT_BYTES": "150000", "TORNADO_PASTE_METRICS_BLOB_SCAN_INTERVAL": "10",
}


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except OSError:
        return 0


def post(url: str, data: bytes, name: str = "demo.txt") -> dict | None:
    body, ctype = multipart_body(files={"file": (name, data, "application/octet-stream")})
    req = urllib.request.Request(url + "/", data=body, method="POST",
                                 headers={"Content-Type": ctype, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())
    except (urllib.error.HTTPError, OSError):
        return None


def raw(port: int, head: bytes, chunks: list[bytes], pause: float, source: str = "127.0.0.1") -> None:
    """A hand-driven upload: headers, then ``chunks`` with ``pause`` between them, then read what comes."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0)) as sock:
            sock.sendall(head)
            for chunk in chunks:
                time.sleep(pause)
                sock.sendall(chunk)
            if chunks and chunks[-1] == b"":  # the caller asked to go away mid-body
                return
            sock.recv(4096)
    except OSError:
        pass


class Site:
    """One app instance ("host"): its ports and what was uploaded to it."""

    def __init__(self, name: str, ports: list[int], data_dir: Path) -> None:
        self.name = name
        self.ports = ports
        self.data_dir = data_dir
        self.cards: list[dict] = []
        self.images: list[str] = []

    def url(self, rng: random.Random) -> str:
        return f"http://127.0.0.1:{rng.choice(self.ports)}"


def traffic(site: Site, rng: random.Random) -> None:
    """One step of a plausible mix: uploads (some repeated), reads, resizes, pages, misses, refusals."""
    base = site.url(rng)
    roll = rng.random()
    if roll < 0.14 or not site.cards:
        size = rng.choice([200, 2_000, 20_000, 60_000])
        card = post(base, (b"demo %d " % rng.randrange(40 if roll < 0.05 else 10**9)) * (size // 12))
        if card:
            site.cards.append(card)
    elif roll < 0.17:
        request(f"{base}/demo{rng.randrange(10**6)}.txt", "PUT", b"put body %f\n" % rng.random())
    elif roll < 0.50:
        card = rng.choice(site.cards)
        url = card["url_i"] if rng.random() < 0.7 else card["url_d"]
        headers = {"Range": "bytes=0-99"} if rng.random() < 0.2 else {}
        if rng.random() < 0.1:
            headers = {"If-None-Match": '"' + card["sha256"] + '"'}
        request(url, headers=headers)
    elif roll < 0.56:
        request(rng.choice(site.cards)["url_p"])
    elif roll < 0.64 and site.images:
        size = rng.choice([32, 64, 96, 128]) + (rng.randrange(1000) if roll < 0.6 else 0)
        request(f"{base}/r/{rng.choice(site.images)}?w={size}&h={size}", headers={"Accept": "application/json"})
    elif roll < 0.71:
        request(rng.choice(site.cards)["url_s"])
    elif roll < 0.80:
        request(base + "/api/v1/files")
    elif roll < 0.84:
        request(base + "/healthz")
    elif roll < 0.88:
        request(base + "/p/0123456789abcdef.txt")
    elif roll < 0.90:
        request(base + "/", "POST", b"x", {"Content-Type": "text/plain"})  # bad request
    elif roll < 0.92:
        request(base + "/big.bin", "PUT", b"z" * (LIMIT + 10))  # over the limit: 413
    elif roll < 0.94:
        post(base, b"GIF89a" + b"\0" * 64, "x.gif")  # a denied type: 415
    elif roll < 0.96:
        tus(base, rng)
    else:
        request(base + "/static/app.css")


def tus(base: str, rng: random.Random) -> None:
    """A resumable upload: created, then finished, cancelled, or refused for a bad checksum."""
    head = {"Tus-Resumable": "1.0.0"}
    data = b"tus demo %f\n" % rng.random() * 20
    req = urllib.request.Request(base + "/api/v1/tus/", data=b"", method="POST",
                                 headers={**head, "Upload-Length": str(len(data))})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            location = response.headers["Location"]
    except (urllib.error.HTTPError, OSError):
        return
    fate = rng.random()
    if fate < 0.15:
        request(location, "DELETE", headers=head)
        return
    patch = {**head, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    if fate < 0.25:
        patch["Upload-Checksum"] = "sha1 " + "AAAAAAAAAAAAAAAAAAAAAAAAAAA="  # wrong: 460
    request(location, "PATCH", data, patch)


def refusals(site: Site, rng: random.Random) -> None:
    """The refusals that need a stalled or concurrent client: aborted, idle, slow, concurrency, capacity."""
    port = rng.choice(site.ports)
    head = b"PUT /held%d.bin HTTP/1.1\r\nHost: demo\r\nContent-Length: %d\r\n\r\n"
    jobs = [
        lambda: raw(port, head % (1, 50_000), [b"a" * 1000, b""], 0.2),  # aborted: goes away mid-body
        lambda: raw(port, head % (2, 50_000), [b"i" * 1000], 2.5),  # idle: stalls past the idle timeout
        lambda: raw(port, head % (3, 50_000), [b"s" * 60] * 8, 0.45),  # slow: a trickle below the minimum rate
    ]
    # Three at once from one client (the cap is 2), and 3 x 60 kB declared from others (the budget is 150 kB).
    jobs += [lambda: raw(port, head % (4, 30_000), [b"c" * 100], 0.8, "127.0.0.5") for _ in range(3)]
    jobs += [lambda i=i: raw(port, head % (5, 60_000), [b"b" * 100], 0.8, f"127.0.0.{10 + i}") for i in range(3)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(lambda job: job(), jobs))


def resize_burst(site: Site, rng: random.Random, size: int = 6) -> None:
    """Concurrent resizes of new sizes: the queue fills and the executor turns some away (503)."""
    base = f"http://127.0.0.1:{site.ports[0]}"
    sizes = [rng.randrange(50, 1500) for _ in range(size)]
    with ThreadPoolExecutor(size) as pool:
        list(pool.map(lambda w: request(f"{base}/r/{site.images[-1]}?w={w}&h={w}",
                                        headers={"Accept": "application/json"}), sizes))


def lock_store(data_dir: Path, seconds: float, site: Site) -> None:
    """Hold SQLite's write lock for a while: uploads meanwhile answer 503 (store errors, 5xx)."""
    conn = sqlite3.connect(data_dir / "paste.sqlite3", timeout=5, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            request(f"http://127.0.0.1:{site.ports[0]}/locked.txt", "PUT", b"refused while locked\n")
    finally:
        conn.execute("ROLLBACK")
        conn.close()


class Feeds:
    """Real subscribers held open for the whole demo: WebSockets reading frames, long-polls re-polling."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sockets: list = []

    def websocket(self, port: int) -> None:
        from websockets.sync.client import connect

        ws = connect(f"ws://127.0.0.1:{port}/ws?cursor=0")
        self.sockets.append(ws)

        def read() -> None:
            try:
                for _frame in ws:
                    pass
            except Exception:
                pass

        self._thread(read)

    def long_poll(self, port: int) -> None:
        def loop() -> None:
            cursor = ""
            while not self.stop.is_set():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/events?timeout=20{cursor}",
                                                timeout=30) as response:
                        cursor = f"&cursor={json.loads(response.read())['cursor']}"
                except (OSError, ValueError):
                    time.sleep(0.5)

        self._thread(loop)

    def _thread(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self) -> None:
        self.stop.set()
        for ws in self.sockets:
            ws.close()


def _upload_image(base: str, width: int, height: int) -> str:
    from tests.imagegen import stripes_bytes

    card = post(base, stripes_bytes("PNG", width, height), "stripes.png")
    assert card, "the demo image was refused"
    return card["filehash"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=90)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    p.add_argument("--montage", type=Path, default=ROOT / "docs" / "metrics-dashboard.png")
    p.add_argument("--keep", action="store_true", help="leave the stack running until Ctrl-C")
    args = p.parse_args()
    missing = missing_tools()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp, MetricsStack(Path(tmp) / "stack") as stack:
        print(f"graphite-web: {stack.graphite_url}  (StatsD udp://127.0.0.1:{stack.statsd_port})", flush=True)
        common = ["--statsd-host", "127.0.0.1", "--statsd-port", str(stack.statsd_port), "--statsd-prefix", PREFIX,
                  "--max-upload-size", str(LIMIT), "--log-level", "WARNING"]
        first = consecutive_free_ports(2)
        web1 = ServerProcess(Path(tmp) / "web1" / "data", port=first, env=APP_ENV, extra_args=[
            *common, "--processes", "2", "--port-per-process", "--metrics-host", "web1"])
        web2 = ServerProcess(Path(tmp) / "web2" / "data", env=APP_ENV, extra_args=[*common, "--metrics-host", "web2"])
        feeds = Feeds()
        with web1, web2:
            wait_for_http(f"http://127.0.0.1:{first + 1}/healthz", 20)
            sites = [Site("web1", [first, first + 1], web1.data_dir), Site("web2", [web2.port], web2.data_dir)]
            for site in sites:
                base = f"http://127.0.0.1:{site.ports[0]}"
                site.images = [_upload_image(base, w, h) for w, h in ((1600, 1200), (2400, 1600))]
            # Subscribers on every process: 3 + 2 WebSockets and 2 + 1 long-polls on web1, 4 + 2 on web2.
            for port, sockets, polls in ((first, 3, 2), (first + 1, 2, 1), (web2.port, 4, 2)):
                for _ in range(sockets):
                    feeds.websocket(port)
                for _ in range(polls):
                    feeds.long_poll(port)
            started = time.monotonic()
            tick = 0
            side = ThreadPoolExecutor(2)
            while time.monotonic() - started < args.seconds:
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    for site in sites:
                        traffic(site, rng)
                    time.sleep(rng.uniform(0.005, 0.03))
                tick += 1
                site = sites[tick % 2]
                if tick % 7 == 0:
                    side.submit(resize_burst, site, rng)
                if tick % 5 == 0:
                    side.submit(refusals, site, rng)
                if tick % 40 == 20:
                    side.submit(lock_store, site.data_dir, 2.0, site)
            side.shutdown(wait=True)
            time.sleep(2.5)  # two StatsD flushes while everything is still held, so the last second is in graphite
            feeds.close()
        time.sleep(1.5)
        span = int(args.seconds) + 5
        code = render_dashboard.main(["--graphite", stack.graphite_url, "--prefix", PREFIX, f"--from=-{span}s",
                                      "--out", str(args.out), "--montage", str(args.montage)])
        if args.keep:
            print(f"stack up at {stack.graphite_url}; Ctrl-C to stop", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return code


if __name__ == "__main__":
    sys.exit(main())

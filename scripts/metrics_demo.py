#!/usr/bin/env python3
"""Watch the metrics locally: real StatsD + carbon + graphite-web, the app, some traffic, PNG panels.

    python scripts/metrics_demo.py --seconds 90 --out docs/dashboard --montage docs/metrics-dashboard.png

Needs what the pipeline tests need (`make setup-system tools-statsd`). Everything runs on free
loopback ports with state in a temp dir that is removed at the end (``--keep`` leaves the stack
up until Ctrl-C and prints graphite-web's URL). ``--stand-ins`` also feeds made-up values for the
families of features not merged yet (events, ws, longpoll, tus), so their panels are not empty.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from scripts import render_dashboard  # noqa: E402
from tests.helpers import ServerProcess, multipart_body  # noqa: E402
from tests.metrics_stack import MetricsStack, missing_tools  # noqa: E402
from tornado_paste.metrics.client import Metrics  # noqa: E402


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def traffic(base: str, seconds: float, rng: random.Random, cards: list[dict], images: list[str]) -> None:
    """A plausible mix: uploads (some repeated), reads, resizes, pages, misses, refusals."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        roll = rng.random()
        if roll < 0.15 or not cards:
            size = rng.choice([200, 2_000, 20_000, 60_000])
            data = (b"demo %d " % rng.randrange(40 if roll < 0.05 else 10**9)) * (size // 12)
            body, ctype = multipart_body(files={"file": ("demo.txt", data, "text/plain")})
            req = urllib.request.Request(base + "/", data=body, method="POST",
                                         headers={"Content-Type": ctype, "Accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as response:
                    cards.append(json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                exc.read()
        elif roll < 0.55:
            card = rng.choice(cards)
            url = card["url_i"] if rng.random() < 0.7 else card["url_d"]
            headers = {"Range": "bytes=0-99"} if rng.random() < 0.2 else {}
            request(url, headers=headers)
        elif roll < 0.62:
            request(rng.choice(cards)["url_p"])
        elif roll < 0.70 and images:
            size = rng.choice([32, 64, 96, 128, 160, 200, 240, 320]) + (rng.randrange(1000) if roll < 0.64 else 0)
            request(f"{base}/r/{rng.choice(images)}?w={size}&h={size}", headers={"Accept": "application/json"})
        elif roll < 0.78:
            request(rng.choice(cards)["url_s"])
        elif roll < 0.88:
            request(base + "/api/v1/files")
        elif roll < 0.94:
            request(base + "/p/0123456789abcdef.txt")
        elif roll < 0.97:
            request(base + "/", "POST", b"x", {"Content-Type": "text/plain"})
        else:
            request(base + "/big.bin", "PUT", b"z" * 70_000)  # over the demo's 64k limit
        time.sleep(rng.uniform(0.005, 0.03))


def _upload_image(base: str, width: int, height: int) -> str:
    from tests.imagegen import stripes_bytes

    body, ctype = multipart_body(files={"file": ("stripes.png", stripes_bytes("PNG", width, height), "image/png")})
    req = urllib.request.Request(base + "/", data=body, method="POST",
                                 headers={"Content-Type": ctype, "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read())["filehash"]


def _resize_burst(base: str, image: str, rng: random.Random, size: int = 6) -> None:
    """Concurrent resizes of new sizes: the queue fills and the executor turns some away (503)."""
    sizes = [rng.randrange(50, 1500) for _ in range(size)]
    with ThreadPoolExecutor(size) as pool:
        list(pool.map(lambda w: request(f"{base}/r/{image}?w={w}&h={w}", headers={"Accept": "application/json"}),
                      sizes))


def stand_ins(stack: MetricsStack, prefix: str, rng: random.Random) -> None:
    """Made-up values for families whose producers are not in this checkout (one flush's worth)."""
    m = Metrics("127.0.0.1", stack.statsd_port, prefix)
    for _ in range(rng.randrange(2, 8)):
        m.timing("events.delivery_lag", rng.lognormvariate(1, 0.6))
        m.incr("events.published")
    m.gauge("ws.subscribers", 20 + rng.randrange(-3, 4))
    m.gauge("longpoll.subscribers", 3 + rng.randrange(0, 3))
    m.incr("tus.created", rng.randrange(0, 2))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=90)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard")
    p.add_argument("--montage", type=Path, default=ROOT / "docs" / "metrics-dashboard.png")
    p.add_argument("--stand-ins", action="store_true", help="feed made-up values for other features' families")
    p.add_argument("--keep", action="store_true", help="leave the stack running until Ctrl-C")
    args = p.parse_args()
    missing = missing_tools()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 2
    rng = random.Random(5)
    prefix = "tornado_paste"
    with tempfile.TemporaryDirectory() as tmp, MetricsStack(Path(tmp) / "stack") as stack:
        print(f"graphite-web: {stack.graphite_url}  (StatsD udp://127.0.0.1:{stack.statsd_port})", flush=True)
        app_dir = Path(tmp) / "app"
        app_dir.mkdir()
        server = ServerProcess(app_dir / "data", extra_args=[
            "--statsd-host", "127.0.0.1", "--statsd-port", str(stack.statsd_port), "--statsd-prefix", prefix,
            "--max-upload-size", "64k", "--log-level", "WARNING"],
            env={"TORNADO_PASTE_RESIZE_WORKERS": "1", "TORNADO_PASTE_RESIZE_MAX_PENDING": "1",
                 # A small resize budget, so the bursts also meet the rate limiter (429).
                 "TORNADO_PASTE_RATELIMIT_RESIZE_BURST": "30", "TORNADO_PASTE_RATELIMIT_RESIZE_RATE": "3"})
        with server:
            cards: list[dict] = []
            images = [_upload_image(server.url, w, h) for w, h in ((1600, 1200), (2400, 1600))]
            started = time.monotonic()
            tick = 0
            while time.monotonic() - started < args.seconds:
                traffic(server.url, 1.0, rng, cards, images)
                tick += 1
                if tick % 7 == 0:
                    _resize_burst(server.url, images[-1], rng)
                if args.stand_ins:
                    stand_ins(stack, prefix, rng)
        time.sleep(2.5)  # two StatsD flushes, so the last second is in graphite
        span = int(args.seconds) + 5
        code = render_dashboard.main(["--graphite", stack.graphite_url, "--prefix", prefix, f"--from=-{span}s",
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

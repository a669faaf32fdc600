#!/usr/bin/env python3
"""Resize benchmark: server latency vs the same Pillow work in-process, and /healthz under resize load.

    python bench/resize.py [--rounds 30] [--load-seconds 8]

1. Generates a 4000x3000 JPEG (gradients + noise, so it decodes like a photo)
   and uploads it to a fresh ``run.py`` server (SQLite, temp data dir).
2. Latency: ``GET /r/<hash>?w=400&h=<n>`` with a new ``h`` each time (so the
   derivative cache never answers: every request is real Pillow work), the
   card asked for with ``Accept: application/json``. Interleaved with it, the
   same operation in this process: ``tornado_paste.images.render.render`` on the same
   file with the same parameters (draft fast path, Lanczos, progressive JPEG
   written to a file). Target: server median <= 1.2 x in-process median.
3. Event loop freedom: 4 client threads resize continuously (new parameters
   each time) while a fifth thread times ``GET /healthz``. Target: p95 <= 10 ms.

Prints both figures and their targets; the machine's noise is part of them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ (the server fixtures) is not installed: the benchmarks import it from the checkout.
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.helpers import ServerProcess, multipart_body  # noqa: E402
from tornado_paste.images import render as imaging  # noqa: E402

SIZE = (4000, 3000)
WIDTH = 400


def make_photo(path: Path) -> None:
    w, h = SIZE
    red = Image.linear_gradient("L").resize(SIZE)
    green = Image.effect_noise(SIZE, 48).point(lambda v: v // 2 + 64)
    blue = Image.radial_gradient("L").resize(SIZE)
    Image.merge("RGB", (red, green, blue)).save(path, "JPEG", quality=90)
    assert os.path.getsize(path) > 100_000 and (w, h) == SIZE


class Client:
    """One keep-alive HTTP connection (one per thread)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, response.read()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--load-seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-resize-") as tmp:
        tmp_path = Path(tmp)
        photo = tmp_path / "photo.jpg"
        make_photo(photo)
        print(f"source: {SIZE[0]}x{SIZE[1]} JPEG, {os.path.getsize(photo) / 1e6:.1f} MB")
        server = ServerProcess(tmp_path / "data", env={"TORNADO_PASTE_LOG_LEVEL": "WARNING"})
        server.start()
        try:
            client = Client(server.port)
            body, ctype = multipart_body(None, {"file": ("photo.jpg", photo.read_bytes(), "image/jpeg")})
            status, answer = client.request("POST", "/", body, {"Content-Type": ctype, "Accept": "application/json"})
            assert status == 201, (status, answer)
            filehash = json.loads(answer)["filehash"]

            # -- 1. latency: server vs in-process, interleaved --------------------------
            server_ms, local_ms = [], []
            out = tmp_path / "local.jpg"
            heights = iter(range(300, 0, -1))
            for _ in range(args.rounds):
                h = next(heights)
                started = time.perf_counter()
                status, answer = client.request("GET", f"/r/{filehash}?w={WIDTH}&h={h}",
                                                headers={"Accept": "application/json"})
                server_ms.append((time.perf_counter() - started) * 1000)
                assert status == 201, (status, answer)  # 201: computed now, not a cache hit
                started = time.perf_counter()
                imaging.render(str(photo), str(out), imaging.ResizeRequest(WIDTH, h), "jpeg", 50_000_000, 4096)
                local_ms.append((time.perf_counter() - started) * 1000)
            server_median, local_median = statistics.median(server_ms), statistics.median(local_ms)
            ratio = server_median / local_median
            print(f"resize to {WIDTH} px wide, {args.rounds} rounds (new parameters each time):")
            print(f"  server median      {server_median:7.1f} ms  (p95 {percentile(server_ms, 0.95):.1f} ms)")
            print(f"  in-process Pillow  {local_median:7.1f} ms  (p95 {percentile(local_ms, 0.95):.1f} ms)")
            print(f"  ratio              {ratio:7.2f} x   (target <= 1.2)")

            # -- 2. /healthz while N clients resize continuously -------------------------
            def probe_healthz(seconds: float) -> list[float]:
                probe = Client(server.port)
                timings = []
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    status, _ = probe.request("GET", "/healthz")
                    timings.append((time.perf_counter() - started) * 1000)
                    assert status == 200
                    time.sleep(0.02)
                return timings

            # Baseline: the same probe with no resize load (what the shared machine alone costs).
            idle_ms = probe_healthz(min(3.0, args.load_seconds))
            stop = threading.Event()
            counter = iter(range(10_000))
            lock = threading.Lock()
            done = [0] * args.clients
            errors: list[str] = []

            def load(slot: int) -> None:
                c = Client(server.port)
                while not stop.is_set():
                    with lock:
                        n = next(counter)
                    status, answer = c.request("GET", f"/r/{filehash}?w={WIDTH}&h={200 + n}",
                                               headers={"Accept": "application/json"})
                    if status not in (200, 201):
                        errors.append(f"{status} {answer[:80]!r}")
                    done[slot] += 1

            threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(0.5)  # let the load reach steady state
            health_ms = probe_healthz(args.load_seconds)
            stop.set()
            for t in threads:
                t.join(60)
            p95 = percentile(health_ms, 0.95)
            print(f"/healthz while {args.clients} clients resize ({sum(done)} resizes in "
                  f"{args.load_seconds:.0f} s, {len(errors)} errors):")
            print(f"  healthz p50 {statistics.median(health_ms):.1f} ms, p95 {p95:.1f} ms, "
                  f"max {max(health_ms):.1f} ms over {len(health_ms)} probes  (target p95 <= 10 ms)")
            print(f"  (no load: healthz p50 {statistics.median(idle_ms):.1f} ms, "
                  f"p95 {percentile(idle_ms, 0.95):.1f} ms over {len(idle_ms)} probes)")
            if errors:
                print("  first errors:", errors[:3])
        finally:
            server.stop()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (a shared, noisy machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

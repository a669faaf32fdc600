#!/usr/bin/env python3
"""Soak test: N minutes of mixed load against ONE tornado-paste process, then the verdict.

    python bench/soak.py                  # 10 minutes (the issue's run)
    python bench/soak.py --minutes 2      # a shorter run

The mix (weights in MIX): new uploads, duplicate uploads (must answer 200 with the same
file), downloads with and without Range (bodies verified against the sha256), list /
metadata / short-link reads, deletes with the token, crop-resizes through /r/ and WebSocket
subscribers that connect, read and leave (each skipped, and said so, when the build does
not serve that route), and hostile requests (bad request lines, oversize headers, malformed
multipart, traversal, bad Range/Accept, absurd Content-Length, method abuse) that must get
a 4xx.

Reported: requests, statuses, unexpected answers per operation, the 5xx count (must be 0),
server RSS after the warm-up and at the end (growth must be <= 10%), open file descriptors
idle before and after the load (no leak), and an integrity check of every stored blob
(sha256 of each blob file equals its name; every record has its blob; every file the soak
still owns downloads with its sha256). Exit status 0 only when all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import tornado.httpclient

ROOT = Path(__file__).resolve().parent.parent
# tests/ (the server fixtures) is not installed: the benchmarks import it from the checkout.
sys.path.insert(0, str(ROOT))

# Operation -> weight. Each worker picks one at a time.
MIX = {
    "upload_new": 10, "upload_dup": 6, "get_range": 14, "get_full": 8, "get_meta": 6, "list": 5, "short": 4,
    "delete": 3, "resize": 6, "subscribe": 3, "hostile": 8,
}
# Statuses that are a correct answer for each operation (anything else is "unexpected").
EXPECTED = {
    "upload_new": {200, 201}, "upload_dup": {200}, "get_range": {200, 206, 416}, "get_full": {200},
    "get_meta": {200}, "list": {200}, "short": {302}, "delete": {200}, "resize": {200, 201, 302},
    "subscribe": {101}, "hostile": set(range(400, 500)),
}


@dataclass
class Stored:
    filehash: str
    sha256: str
    size: int
    short_code: str
    token: str | None
    data: bytes
    image: bool = False


@dataclass
class Stats:
    requests: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    by_op: collections.Counter = field(default_factory=collections.Counter)
    unexpected: collections.Counter = field(default_factory=collections.Counter)
    unexpected_samples: list[str] = field(default_factory=list)
    transport_errors: collections.Counter = field(default_factory=collections.Counter)
    integrity_errors: list[str] = field(default_factory=list)

    def record(self, op: str, status: int, detail: str = "") -> None:
        self.requests += 1
        self.by_op[op] += 1
        self.statuses[status] += 1
        if status not in EXPECTED[op]:
            self.unexpected[f"{op}:{status}"] += 1
            if len(self.unexpected_samples) < 15:
                self.unexpected_samples.append(f"{op} -> {status} {detail[:200]}")


def multipart(data: bytes, filename: str) -> tuple[bytes, str]:
    boundary = "soak" + os.urandom(8).hex()
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def make_png(width: int, height: int, seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    for _ in range(20):
        x, y = rng.randrange(width), rng.randrange(height)
        image.putpixel((x, y), (rng.randrange(256), 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


HOSTILE: list[bytes] = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
    b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"BREW /api/v1/files HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /i/..%2f..%2fsettings.py HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /static/..%2fsettings.py HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/files/%C2%B2 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/files?before=abc HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /s/zzzzzzzzzzzzzzzz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/files HTTP/1.1\r\nHost: x\r\nAccept: image/png\r\n\r\n",
    b"PUT /x.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1e5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    b"Content-Length: 99999999999999999999\r\n\r\n--b",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 60\r\n\r\n"
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="\xff"\r\n\r\nx\r\n--b-',
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000,
]


def hostile_multipart_header() -> bytes:
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
    filler = b"a" * (256 * 1024)
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            + f"Content-Length: {len(start) + len(filler)}\r\n\r\n".encode() + start + filler)


class Soak:
    def __init__(self, base: str, port: int, data_dir: Path, concurrency: int, seed: int) -> None:
        self.base = base
        self.port = port
        self.data_dir = data_dir
        self.concurrency = concurrency
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.pool: list[Stored] = []
        self.client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=concurrency * 2)
        self.has_resize = False
        self.has_ws = False
        self.stop_at = 0.0

    async def fetch(self, path: str, **kwargs: object) -> tornado.httpclient.HTTPResponse:
        kwargs.setdefault("raise_error", False)
        kwargs.setdefault("follow_redirects", False)
        kwargs.setdefault("request_timeout", 60)
        return await self.client.fetch(self.base + path, **kwargs)

    # -- operations ---------------------------------------------------------------------------
    async def upload(self, data: bytes, name: str, image: bool = False) -> tuple[int, dict | None]:
        body, ctype = multipart(data, name)
        resp = await self.fetch("/", method="POST", body=body, headers={"Content-Type": ctype,
                                                                         "Accept": "application/json"})
        card = json.loads(resp.body) if resp.code in (200, 201) else None
        if resp.code == 201 and card is not None:
            self.pool.append(Stored(card["filehash"], card["sha256"], card["size"], card["short_code"],
                                    card.get("delete_token"), data, image))
        if card is not None and card["sha256"] != hashlib.sha256(data).hexdigest():
            self.stats.integrity_errors.append(f"upload answered sha {card['sha256']} for other bytes")
        return resp.code, card

    async def op_upload_new(self) -> tuple[int, str]:
        if self.rng.random() < 0.15:
            data = make_png(self.rng.randrange(40, 300), self.rng.randrange(40, 300), self.rng.randrange(1 << 30))
            code, _ = await self.upload(data, "img.png", image=True)
        else:
            data = os.urandom(self.rng.choice([100, 4096, 65536, 300_000, 1 << 20]))
            code, _ = await self.upload(data, f"f{self.rng.randrange(1000)}.bin")
        return code, ""

    async def op_upload_dup(self) -> tuple[int, str]:
        if not self.pool:
            return await self.op_upload_new()
        item = self.rng.choice(self.pool)
        code, card = await self.upload(item.data, "again.bin")
        still_there = any(s is item for s in self.pool)
        if card is not None and card["filehash"] != item.filehash and still_there:
            return -1, f"duplicate answered another file {card['filehash']} != {item.filehash}"
        if code == 201 and not still_there:
            return 200, ""  # the original was deleted meanwhile: storing the bytes anew is right
        return code, ""

    async def op_get_range(self) -> tuple[int, str]:
        if not self.pool:
            return await self.op_upload_new()
        item = self.rng.choice(self.pool)
        size = item.size
        kind = self.rng.randrange(4)
        if kind == 0:
            start = self.rng.randrange(size)
            end = self.rng.randrange(start, size)
            spec, want = f"bytes={start}-{end}", item.data[start:end + 1]
        elif kind == 1:
            start = self.rng.randrange(size)
            spec, want = f"bytes={start}-", item.data[start:]
        elif kind == 2:
            n = self.rng.randrange(1, size + 1)
            spec, want = f"bytes=-{n}", item.data[-n:]
        else:
            spec, want = f"bytes={size + self.rng.randrange(1, 1000)}-", None
        route = self.rng.choice(["i", "d"])
        resp = await self.fetch(f"/{route}/{item.filehash}", headers={"Range": spec})
        if resp.code == 404 and not any(s is item for s in self.pool):
            return 206, ""  # deleted meanwhile by another worker
        if resp.code in (200, 206) and want is not None and resp.body not in (want, item.data):
            self.stats.integrity_errors.append(f"range {spec} of {item.filehash}: wrong bytes")
        return resp.code, ""

    async def op_get_full(self) -> tuple[int, str]:
        if not self.pool:
            return await self.op_upload_new()
        item = self.rng.choice(self.pool)
        resp = await self.fetch(f"/{self.rng.choice(['i', 'd'])}/{item.filehash}")
        if resp.code == 404 and not any(s is item for s in self.pool):
            return 200, ""
        if resp.code == 200 and hashlib.sha256(resp.body).hexdigest() != item.sha256:
            self.stats.integrity_errors.append(f"download of {item.filehash}: sha256 mismatch")
        return resp.code, ""

    async def op_get_meta(self) -> tuple[int, str]:
        if not self.pool:
            return await self.op_upload_new()
        item = self.rng.choice(self.pool)
        resp = await self.fetch(f"/api/v1/files/{item.filehash}",
                                headers={"Accept": self.rng.choice(["application/json", "application/msgpack"])})
        if resp.code == 404 and not any(s is item for s in self.pool):
            return 200, ""
        return resp.code, resp.body[:200].decode("latin1")

    async def op_list(self) -> tuple[int, str]:
        resp = await self.fetch(f"/api/v1/files?limit={self.rng.randrange(1, 101)}")
        return resp.code, resp.body[:200].decode("latin1")

    async def op_short(self) -> tuple[int, str]:
        if not self.pool:
            return await self.op_upload_new()
        item = self.rng.choice(self.pool)
        resp = await self.fetch(f"/s/{item.short_code}")
        if resp.code == 404 and not any(s is item for s in self.pool):
            return 302, ""
        return resp.code, ""

    async def op_delete(self) -> tuple[int, str]:
        owned = [s for s in self.pool if s.token]
        if len(owned) < 20:  # keep a working set
            return await self.op_upload_new()
        item = self.rng.choice(owned)
        self.pool = [s for s in self.pool if s is not item]
        resp = await self.fetch(f"/api/v1/files/{item.filehash}", method="DELETE",
                                headers={"X-Delete-Token": item.token or ""})
        return resp.code, resp.body[:200].decode("latin1")

    async def op_resize(self) -> tuple[int, str]:
        images = [s for s in self.pool if s.image]
        if not self.has_resize or not images:
            return await self.op_get_full()
        item = self.rng.choice(images)
        w, h = self.rng.randrange(8, 200), self.rng.randrange(8, 200)
        resp = await self.fetch(f"/r/{item.filehash}?w={w}&h={h}")
        if resp.code == 404 and not any(s is item for s in self.pool):
            return 302, ""
        return resp.code, resp.body[:200].decode("latin1")

    async def op_subscribe(self) -> tuple[int, str]:
        if not self.has_ws:
            return await self.op_list()
        import websockets

        try:
            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=10) as ws:
                hold = time.monotonic() + self.rng.uniform(0.5, 5)
                while time.monotonic() < min(hold, self.stop_at):
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except TimeoutError:
                        pass
            return 101, ""
        except websockets.InvalidStatus as exc:
            return exc.response.status_code, ""

    async def op_hostile(self) -> tuple[int, str]:
        if self.rng.random() < 0.6:
            resp = await self.fetch(self.rng.choice([
                "/i/" + "../" * 5 + "etc/passwd", "/d/%2e%2e%2f%2e%2e%2fsettings.py", "/s/%C2%B2",
                "/api/v1/files?limit=0", "/api/v1/files/99999999999999999999999", "/static/%00x",
            ]), headers={"Accept": "application/json"})
            return resp.code, resp.body[:200].decode("latin1")
        payload = hostile_multipart_header() if self.rng.random() < 0.1 else self.rng.choice(HOSTILE)
        return await raw_status(self.port, payload), ""

    # -- driver -------------------------------------------------------------------------------
    async def worker(self) -> None:
        ops, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < self.stop_at:
            op = self.substitute(self.rng.choices(ops, weights)[0])
            try:
                status, detail = await getattr(self, f"op_{op}")()
            except Exception as exc:  # a transport failure is a finding too
                self.stats.transport_errors[f"{op}:{type(exc).__name__}"] += 1
                continue
            self.stats.record(op, status, detail)

    def substitute(self, op: str) -> str:
        """The operation to run instead when the build lacks a route or the pool is too small."""
        if op == "resize" and not self.has_resize:
            return "get_full"
        if op == "subscribe" and not self.has_ws:
            return "list"
        if op == "delete" and sum(1 for s in self.pool if s.token) < 20:  # keep a working set
            return "upload_new"
        return op

    async def probe_features(self) -> None:
        png = make_png(64, 48, 1)
        await self.upload(png, "probe.png", image=True)
        image = next(s for s in self.pool if s.image)
        resp = await self.fetch(f"/r/{image.filehash}?w=10&h=10")
        self.has_resize = resp.code in (200, 201, 302)
        try:
            import websockets

            async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=5):
                self.has_ws = True
        except Exception:
            self.has_ws = False
        print(f"resize mix: {'on' if self.has_resize else 'SKIPPED (/r/ not served by this build)'}")
        print(f"subscriber mix: {'on' if self.has_ws else 'SKIPPED (/ws not served by this build)'}")

    async def run(self, seconds: float) -> None:
        self.stop_at = time.monotonic() + seconds
        await asyncio.gather(*(self.worker() for _ in range(self.concurrency)))


async def raw_status(port: int, payload: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        raw = b""
        try:
            while b"\r\n" not in raw:
                chunk = await asyncio.wait_for(reader.read(4096), 10)
                if not chunk:
                    break
                raw += chunk
        except (TimeoutError, ConnectionError, OSError):
            pass
        if not raw.startswith(b"HTTP/1."):
            return 499  # closed without an answer (only for a header block beyond Tornado's read cap)
        return int(raw.split(b" ", 2)[1])
    finally:
        writer.close()


def integrity(data_dir: Path, stats: Stats) -> int:
    blobs = {}
    for path in (data_dir / "blobs").rglob("*"):
        if path.is_file():
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(chunk)
            blobs[path.name] = digest.hexdigest()
    for name, digest in blobs.items():
        if name != digest:
            stats.integrity_errors.append(f"blob {name} holds {digest}")
    with sqlite3.connect(f"file:{data_dir / 'paste.sqlite3'}?mode=ro", uri=True) as conn:
        for filehash, sha in conn.execute("SELECT filehash, sha256 FROM files"):
            if sha not in blobs:
                stats.integrity_errors.append(f"record {filehash} has no blob")
    staging = os.listdir(data_dir / "tmp")
    if staging:
        stats.integrity_errors.append(f"{len(staging)} staging file(s) left")
    return len(blobs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


# RSS is sampled every few seconds; "start" and "end" are medians over this window, since one
# instantaneous reading swings with the uploads and images in flight at that moment.
RSS_WINDOW = 30.0


async def sample_rss(proc: psutil.Process, samples: list[tuple[float, int]], every: float = 3.0) -> None:
    """Record (time, RSS) and print a line every 30 s, to tell a trend from noise."""
    last_print = time.monotonic()
    while True:
        await asyncio.sleep(every)
        now, rss = time.monotonic(), proc.memory_info().rss
        samples.append((now, rss))
        if now - last_print >= 30:
            last_print = now
            print(f"  RSS {rss / 2**20:6.1f} MiB  fds {proc.num_fds()}", flush=True)


def median_rss(samples: list[tuple[float, int]], until: float, proc: psutil.Process) -> int:
    window = sorted(rss for t, rss in samples if until - RSS_WINDOW <= t <= until) or [proc.memory_info().rss]
    return window[len(window) // 2]


async def settle_fds(proc: psutil.Process, seconds: float = 3.0) -> int:
    await asyncio.sleep(seconds)
    return proc.num_fds()


async def main_async(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="soak-")) / "data"
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.rate_limits:
        for allowed in EXPECTED.values():
            allowed.add(429)  # a limited request is a correct answer then
    else:
        # One client IP sends all the load: per-IP rate limits (and the per-client share of the image
        # executor) would turn much of it into 429s.
        env["TORNADO_PASTE_RATELIMIT_EXEMPT"] = "127.0.0.1"
        env["TORNADO_PASTE_RESIZE_MAX_PER_CLIENT"] = "0"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--address", "127.0.0.1", "--port", str(port),
                                   "--data-dir", str(data_dir), "--base-url", base, "--log-level", "WARNING"],
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_up(base + "/healthz", server)
        proc = psutil.Process(server.pid)
        soak = Soak(base, port, data_dir, args.concurrency, args.seed)
        fds_idle_start = proc.num_fds()
        await soak.probe_features()
        total = args.minutes * 60
        warmup = min(args.warmup, total / 4)
        print(f"soak: {total / 60:.1f} min ({warmup:.0f} s warm-up), {args.concurrency} workers, pid {server.pid}")
        samples: list[tuple[float, int]] = []
        sampler = asyncio.ensure_future(sample_rss(proc, samples))
        await soak.run(warmup)
        started = time.monotonic()
        rss_start = median_rss(samples, started, proc)
        requests_at_warmup = soak.stats.requests
        await soak.run(total - warmup)
        rss_end = median_rss(samples, time.monotonic(), proc)
        sampler.cancel()
        elapsed = time.monotonic() - started
        soak.client.close()
        fds_idle_end = await settle_fds(proc)
        blob_count = integrity(data_dir, soak.stats)
        # Every file the soak still owns downloads intact.
        owned_ok = 0
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        for item in soak.pool:
            resp = await client.fetch(f"{base}/i/{item.filehash}", raise_error=False)
            if resp.code == 200 and hashlib.sha256(resp.body).hexdigest() == item.sha256:
                owned_ok += 1
            else:
                soak.stats.integrity_errors.append(f"owned file {item.filehash}: {resp.code}")
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    log_text = log_path.read_text(errors="replace")
    tracebacks = log_text.count("Traceback")

    stats = soak.stats
    five_xx = sum(n for s, n in stats.statuses.items() if 500 <= s < 600)
    growth = (rss_end - rss_start) / rss_start * 100
    print("\n== soak report ==")
    print(f"requests: {stats.requests} ({(stats.requests - requests_at_warmup) / elapsed:.0f}/s after warm-up)")
    print("by operation: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.by_op.items())))
    print("statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.statuses.items())))
    print(f"5xx: {five_xx}")
    print("unexpected answers: " + (", ".join(f"{k}={v}" for k, v in stats.unexpected.items()) or "none"))
    for sample in stats.unexpected_samples:
        print(f"  e.g. {sample}")
    print("transport errors: " + (", ".join(f"{k}={v}" for k, v in stats.transport_errors.items()) or "none"))
    print(f"RSS (median of the last {RSS_WINDOW:.0f} s) after warm-up: {rss_start / 2**20:.1f} MiB, "
          f"at end: {rss_end / 2**20:.1f} MiB "
          f"({growth:+.1f}%, limit +10%)")
    print(f"open fds idle: {fds_idle_start} before load, {fds_idle_end} after load")
    print(f"integrity: {blob_count} blobs checked, {owned_ok}/{len(soak.pool)} owned files intact, "
          f"{len(stats.integrity_errors)} problem(s)")
    for problem in stats.integrity_errors[:15]:
        print(f"  {problem}")
    print(f"server log: {tracebacks} traceback(s) ({log_path})")
    ok = (five_xx == 0 and growth <= 10 and fds_idle_end <= fds_idle_start + 2 and not stats.integrity_errors
          and tracebacks == 0)
    print("VERDICT: " + ("PASS" if ok else "FAIL"))
    if not args.data_dir and ok:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="total duration (default 10)")
    # Two minutes: bounded buffers must be full first (the event replay buffer, events_buffer =
    # 1024 events, takes about 75 s to fill at this load, which read as +9% "growth" after 60 s).
    p.add_argument("--warmup", type=float, default=120.0,
                   help="seconds before the RSS baseline (default 120; at most 1/4 of the run)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent client workers (default 8)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--data-dir", help="keep the server's data here (default: a temp dir, removed on PASS)")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--rate-limits", action="store_true",
                   help="keep the per-IP rate limits on for the soak client (429 then counts as expected)")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

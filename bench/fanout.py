#!/usr/bin/env python3
"""Fan-out benchmark: one server process, 10,000 idle WebSockets + 1,000 long-pollers, 100 uploads.

    python bench/fanout.py [--ws 10000] [--longpoll 1000] [--uploads 100] [--interval 1.0]

Reports delivery latency (server publish timestamp -> receipt by the client,
p50/p99, WebSocket and long-poll), server RSS before/after connecting (and KB per
idle WebSocket), and events lost (expected receipts that never arrived: must be 0).
The in-run baseline is the latency with a single subscriber, measured first.
Targets (issue 4): p99 <= 2 s, <= 30 KB RSS per idle WebSocket, 0 lost.

The script raises its own ``ulimit -n`` (the server inherits it): each side holds
one descriptor per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import tornado.httpclient  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402

from tests.helpers import ServerProcess, multipart_body  # noqa: E402

CONNECT_CONCURRENCY = 100  # handshakes in flight at once (the listen backlog is 128)


def raise_nofile(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"ulimit -n hard limit {hard} is below the {needed} descriptors this run needs")
    return target


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Tally:
    """Receipts per expected file, and every publish->receipt delay."""

    def __init__(self) -> None:
        self.expected: set[str] = set()
        self.receipts: dict[str, int] = {}
        self.latency: list[float] = []
        self.duplicates = 0
        self._ts_cache: dict[str, float] = {}

    def seen(self, event: dict, now: float) -> None:
        filehash = event["file"]["filehash"]
        self.receipts[filehash] = self.receipts.get(filehash, 0) + 1
        ts = event["ts"]
        epoch = self._ts_cache.get(ts)
        if epoch is None:
            epoch = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            self._ts_cache[ts] = epoch
        if filehash in self.expected:
            self.latency.append(now - epoch)

    def received(self) -> int:
        return sum(n for h, n in self.receipts.items() if h in self.expected)


async def ws_subscriber(url: str, gate: asyncio.Semaphore, tally: Tally, opened: list[int]) -> None:
    async with gate:
        conn = await ws_connect(url, ping_interval=None, compression=None, open_timeout=120, max_queue=None)
    opened[0] += 1
    last = 0
    async with conn:
        async for message in conn:
            now = time.time()
            event = json.loads(message)
            if event["cursor"] <= last:
                tally.duplicates += 1
                continue
            last = event["cursor"]
            tally.seen(event, now)


async def long_poller(port: int, cursor: int, gate: asyncio.Semaphore, tally: Tally, waiting: list[int]) -> None:
    """A keep-alive HTTP/1.1 client that asks again at once with the cursor it was given."""
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    first = True
    try:
        while True:
            writer.write(f"GET /api/v1/events?cursor={cursor}&timeout=50 HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            if first:
                waiting[0] += 1
                first = False
            status = await reader.readline()
            if not status.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"long-poll answered {status!r}")
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            now = time.time()
            answer = json.loads(body)
            for event in answer["events"]:
                tally.seen(event, now)
            cursor = answer["cursor"]
    finally:
        writer.close()


async def upload(client: tornado.httpclient.AsyncHTTPClient, base: str, tag: str) -> str:
    body, ctype = multipart_body(None, {"file": (f"{tag}.txt", f"{tag} {uuid.uuid4().hex}\n".encode(), "text/plain")})
    response = await client.fetch(base + "/", method="POST", body=body,
                                  headers={"Content-Type": ctype, "Accept": "application/json"})
    return json.loads(response.body)["filehash"]


async def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


async def run(args: argparse.Namespace, server: ServerProcess) -> dict:
    assert server.proc is not None
    pid = server.proc.pid
    base, ws_url = server.url, server.url.replace("http://", "ws://") + "/ws"
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=4)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    out: dict = {}

    # Baseline: one subscriber, a few uploads (also warms the server up before RSS is read).
    baseline = Tally()
    one = asyncio.ensure_future(ws_subscriber(ws_url, gate, baseline, [0]))
    await asyncio.sleep(0.5)
    for i in range(args.baseline_uploads):
        baseline.expected.add(await upload(client, base, f"base{i}"))
        await asyncio.sleep(args.interval)
    await wait_until(lambda: baseline.received() == len(baseline.expected), 30)
    one.cancel()
    out["baseline_p50"], out["baseline_p99"] = percentile(baseline.latency, 50), percentile(baseline.latency, 99)
    await asyncio.sleep(1.0)
    out["rss_before"] = rss(pid)

    # The crowd.
    ws_tally, lp_tally = Tally(), Tally()
    opened, waiting = [0], [0]
    started = time.monotonic()
    tasks = [asyncio.ensure_future(ws_subscriber(ws_url, gate, ws_tally, opened)) for _ in range(args.ws)]
    if not await wait_until(lambda: opened[0] == args.ws, 600):
        raise SystemExit(f"only {opened[0]} of {args.ws} WebSockets opened")
    out["ws_connect_seconds"] = time.monotonic() - started
    await asyncio.sleep(2.0)
    out["rss_ws"] = rss(pid)
    first = json.loads((await client.fetch(base + "/api/v1/events?timeout=0")).body)["cursor"]
    tasks += [asyncio.ensure_future(long_poller(server.port, first, gate, lp_tally, waiting))
              for _ in range(args.longpoll)]
    await wait_until(lambda: waiting[0] == args.longpoll, 300)
    await asyncio.sleep(2.0)
    out["rss_connected"] = rss(pid)
    print(f"connected {opened[0]} WebSockets and {waiting[0]} long-pollers", flush=True)

    for i in range(args.uploads):
        filehash = await upload(client, base, f"ev{i}")
        ws_tally.expected.add(filehash)
        lp_tally.expected.add(filehash)
        await asyncio.sleep(args.interval)
    want_ws, want_lp = args.ws * args.uploads, args.longpoll * args.uploads
    await wait_until(lambda: ws_tally.received() >= want_ws and lp_tally.received() >= want_lp, args.drain)
    out["rss_after"] = rss(pid)
    out["ws_received"], out["lp_received"] = ws_tally.received(), lp_tally.received()
    out["lost"] = (want_ws - out["ws_received"]) + (want_lp - out["lp_received"])
    out["duplicates"] = ws_tally.duplicates
    for name, tally in (("ws", ws_tally), ("lp", lp_tally)):
        out[f"{name}_p50"], out[f"{name}_p99"] = percentile(tally.latency, 50), percentile(tally.latency, 99)
    everything = ws_tally.latency + lp_tally.latency
    out["all_p50"], out["all_p99"] = percentile(everything, 50), percentile(everything, 99)
    out["all_mean"] = statistics.fmean(everything) if everything else float("nan")
    failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    out["client_errors"] = len(failed)
    if failed:
        print(f"first client error: {failed[0].exception()!r}", flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    client.close()
    return out


def report(args: argparse.Namespace, out: dict) -> None:
    kb = 1024
    per_ws = (out["rss_ws"] - out["rss_before"]) / args.ws / kb
    per_lp = (out["rss_connected"] - out["rss_ws"]) / max(1, args.longpoll) / kb
    print(f"\nfan-out: {args.ws} idle WebSockets + {args.longpoll} long-pollers, {args.uploads} uploads "
          f"every {args.interval:g}s (machine shared and noisy: figures are indicative)")
    print(f"  WebSockets opened in {out['ws_connect_seconds']:.1f} s")
    print(f"  baseline latency (1 subscriber): p50 {out['baseline_p50'] * 1000:.0f} ms, "
          f"p99 {out['baseline_p99'] * 1000:.0f} ms")
    print(f"  delivery latency, WebSocket:  p50 {out['ws_p50'] * 1000:.0f} ms, p99 {out['ws_p99'] * 1000:.0f} ms")
    print(f"  delivery latency, long-poll:  p50 {out['lp_p50'] * 1000:.0f} ms, p99 {out['lp_p99'] * 1000:.0f} ms")
    print(f"  delivery latency, all:        p50 {out['all_p50'] * 1000:.0f} ms, p99 {out['all_p99'] * 1000:.0f} ms "
          f"(mean {out['all_mean'] * 1000:.0f} ms)")
    if out["baseline_p50"] > 0:
        print(f"  ratio to baseline: p50 x{out['all_p50'] / out['baseline_p50']:.1f}, "
              f"p99 x{out['all_p99'] / max(out['baseline_p99'], 1e-9):.1f}")
    print(f"  server RSS: before {out['rss_before'] / kb / kb:.1f} MiB, with WebSockets "
          f"{out['rss_ws'] / kb / kb:.1f} MiB, with long-pollers {out['rss_connected'] / kb / kb:.1f} MiB, "
          f"after delivery {out['rss_after'] / kb / kb:.1f} MiB")
    print(f"  added RSS per idle WebSocket: {per_ws:.1f} KB (target <= 30 KB: ratio {per_ws / 30:.2f}); "
          f"per long-poller {per_lp:.1f} KB")
    print(f"  receipts: WebSocket {out['ws_received']}/{args.ws * args.uploads}, long-poll "
          f"{out['lp_received']}/{args.longpoll * args.uploads}; lost {out['lost']} (target 0); "
          f"duplicates {out['duplicates']}; client errors {out['client_errors']}")
    print(f"  p99 target <= 2000 ms: ratio {out['all_p99'] / 2:.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ws", type=int, default=10_000, help="idle WebSocket subscribers")
    p.add_argument("--longpoll", type=int, default=1_000, help="long-polling clients")
    p.add_argument("--uploads", type=int, default=100)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between uploads")
    p.add_argument("--baseline-uploads", type=int, default=10)
    p.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last deliveries")
    args = p.parse_args()
    raise_nofile(args.ws + args.longpoll + 1000)
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        server = ServerProcess(Path(tmp) / "data", extra_args=["--log-level", "WARNING"],
                               log_path=Path(tmp) / "server.log")
        server.start()
        try:
            out = asyncio.run(run(args, server))
        finally:
            server.stop()
            errors = [line for line in server.log().splitlines() if "ERROR" in line]
            if errors:
                print(f"server log: {len(errors)} error line(s), first: {errors[0]}")
    report(args, out)
    return 0 if out["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fan-out benchmark: one server process, 10,000 idle WebSockets + 1,000 long-pollers, 100 uploads.

    python bench/fanout.py [--ws 10000] [--longpoll 1000] [--uploads 100] [--interval 1.0] [--client-procs 2]
                           [--baseline-ref REF]

Reports delivery latency (server publish timestamp -> receipt by the client,
p50/p99, WebSocket and long-poll), server RSS before/after connecting (and KB per
idle WebSocket), and events lost (expected receipts that never arrived: must be 0).
The in-run baseline is the latency with a single subscriber, measured first.
The subscribers are spread over ``--client-procs`` client processes (default 2) so
that the clients' own CPU does not dominate the measured latency.
Targets (issue 4): p99 <= 2 s, <= 30 KB RSS per idle WebSocket, 0 lost.
Server CPU is reported per event and per delivery (CPU seconds of the server during the uploads and
their delivery / (events x subscribers that received them)).

``--baseline-ref REF`` runs the same benchmark first against REF, checked out into a temporary git
worktree (bench/baseline.py; its run.py, cwd and PYTHONPATH), then against this tree, and prints the
ratios current/baseline (latency, CPU per delivery, RSS per idle WebSocket).

The script raises its own ``ulimit -n`` (the server inherits it): each side holds
one descriptor per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import queue
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

from bench import baseline  # noqa: E402
from bench.nofile import raise_nofile  # noqa: E402
from tests.helpers import ServerProcess, multipart_body  # noqa: E402

CONNECT_CONCURRENCY = 100  # handshakes in flight at once (the listen backlog is 128)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Tally:
    """What one client process saw: receipts per file hash and every publish->receipt delay."""

    def __init__(self) -> None:
        self.receipts: dict[str, int] = {}
        self.latency: list[float] = []
        self.duplicates = 0
        self.count = 0
        self._ts_cache: dict[str, float] = {}

    def seen(self, event: dict, now: float) -> None:
        filehash = event["file"]["filehash"]
        self.receipts[filehash] = self.receipts.get(filehash, 0) + 1
        self.count += 1
        ts = event["ts"]
        epoch = self._ts_cache.get(ts)
        if epoch is None:
            epoch = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            self._ts_cache[ts] = epoch
        self.latency.append(now - epoch)

    def summary(self) -> dict:
        return {"receipts": self.receipts, "latency": self.latency, "duplicates": self.duplicates}


async def ws_subscriber(url: str, gate: asyncio.Semaphore, tally: Tally, opened: list[int]) -> None:
    async with gate:
        conn = await ws_connect(url, ping_interval=None, compression=None, open_timeout=300, max_queue=None)
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
    response = await client.fetch(base + "/", method="POST", body=body, request_timeout=600,
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


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def wait_for_reports(reports, kind: str, count: int, timeout: float) -> list[tuple]:
    """``count`` messages of ``kind`` from the client processes (read off the loop)."""
    loop = asyncio.get_running_loop()
    got: list[tuple] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"client processes: {len(got)} of {count} {kind!r} reports in {timeout:.0f} s")
        try:
            message = await loop.run_in_executor(None, reports.get, True, min(left, 1.0))
        except queue.Empty:
            continue
        if message[0] == "error":
            raise SystemExit(f"client process failed: {message[1]}")
        if message[0] == kind:
            got.append(message)
    return got


async def client_process(index: int, ws_url: str, port: int, n_ws: int, n_lp: int, cursor: int, uploads: int,
                         lp_go, stop, reports) -> None:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    ws_tally, lp_tally = Tally(), Tally()
    opened, waiting = [0], [0]
    tasks = [asyncio.ensure_future(ws_subscriber(ws_url, gate, ws_tally, opened)) for _ in range(n_ws)]
    if not await wait_until(lambda: opened[0] == n_ws or any(t.done() for t in tasks), 600) or opened[0] < n_ws:
        raise RuntimeError(f"only {opened[0]} of {n_ws} WebSockets opened")
    reports.put(("ws", index, opened[0]))
    await wait_until(lp_go.is_set, 600)
    tasks += [asyncio.ensure_future(long_poller(port, cursor, gate, lp_tally, waiting)) for _ in range(n_lp)]
    await wait_until(lambda: waiting[0] == n_lp, 300)
    reports.put(("lp", index, waiting[0]))
    # Report completion as soon as every subscriber has every upload; stop when the parent says so.
    done_sent = False
    while not stop.is_set():
        if not done_sent and ws_tally.count >= n_ws * uploads and lp_tally.count >= n_lp * uploads:
            reports.put(("done", index))
            done_sent = True
        await asyncio.sleep(0.1)
    errors = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    reports.put(("result", index, ws_tally.summary(), lp_tally.summary(), len(errors),
                 repr(errors[0]) if errors else ""))


def client_main(*args) -> None:
    reports = args[-1]
    try:
        asyncio.run(client_process(*args))
    except BaseException as exc:
        reports.put(("error", repr(exc)))


async def run(args: argparse.Namespace, server: ServerProcess) -> dict:
    assert server.proc is not None
    pid = server.proc.pid
    base, ws_url = server.url, server.url.replace("http://", "ws://") + "/ws"
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=4)
    out: dict = {}

    # Baseline: one subscriber, a few uploads (also warms the server up before RSS is read).
    baseline = Tally()
    one = asyncio.ensure_future(ws_subscriber(ws_url, asyncio.Semaphore(1), baseline, [0]))
    await asyncio.sleep(0.5)
    for i in range(args.baseline_uploads):
        await upload(client, base, f"base{i}")
        await asyncio.sleep(args.interval)
    await wait_until(lambda: baseline.count == args.baseline_uploads, 30)
    one.cancel()
    out["baseline_p50"], out["baseline_p99"] = percentile(baseline.latency, 50), percentile(baseline.latency, 99)
    await asyncio.sleep(1.0)
    out["rss_before"] = rss(pid)

    # The crowd, spread over a few client processes so the clients' own CPU does not dominate latency.
    cursor = json.loads((await client.fetch(base + "/api/v1/events?timeout=0")).body)["cursor"]
    ctx = multiprocessing.get_context("spawn")
    reports, lp_go, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    procs = []
    n = args.client_procs
    for index in range(n):
        share_ws = args.ws // n + (1 if index < args.ws % n else 0)
        share_lp = args.longpoll // n + (1 if index < args.longpoll % n else 0)
        proc = ctx.Process(target=client_main, args=(index, ws_url, server.port, share_ws, share_lp, cursor,
                                                     args.uploads, lp_go, stop, reports), daemon=True)
        proc.start()
        procs.append(proc)
    try:
        started = time.monotonic()
        await wait_for_reports(reports, "ws", n, 900)
        out["ws_connect_seconds"] = time.monotonic() - started
        await asyncio.sleep(2.0)
        out["rss_ws"] = rss(pid)
        lp_go.set()
        await wait_for_reports(reports, "lp", n, 600)
        await asyncio.sleep(2.0)
        out["rss_connected"] = rss(pid)
        print(f"connected {args.ws} WebSockets and {args.longpoll} long-pollers", flush=True)

        expected: set[str] = set()
        cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
        for i in range(args.uploads):
            expected.add(await upload(client, base, f"ev{i}"))
            await asyncio.sleep(args.interval)
        try:
            await wait_for_reports(reports, "done", n, args.drain)
        except SystemExit as exc:
            print(f"drain: {exc}", flush=True)
        out["rss_after"] = rss(pid)
        out["server_cpu"], out["wall"] = cpu_seconds(pid) - cpu_start, time.monotonic() - wall_start
        stop.set()
        results = await wait_for_reports(reports, "result", n, 120)
    finally:
        stop.set()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    client.close()

    ws_lat: list[float] = []
    lp_lat: list[float] = []
    ws_got = lp_got = duplicates = errors = 0
    for _, _, ws_sum, lp_sum, n_errors, first_error in results:
        ws_lat += ws_sum["latency"]
        lp_lat += lp_sum["latency"]
        ws_got += sum(c for h, c in ws_sum["receipts"].items() if h in expected)
        lp_got += sum(c for h, c in lp_sum["receipts"].items() if h in expected)
        duplicates += ws_sum["duplicates"]
        errors += n_errors
        if first_error:
            print(f"client error: {first_error}", flush=True)
    out["ws_received"], out["lp_received"] = ws_got, lp_got
    out["deliveries"] = ws_got + lp_got
    out["cpu_us_per_delivery"] = out["server_cpu"] * 1e6 / out["deliveries"] if out["deliveries"] else float("nan")
    out["lost"] = (args.ws * args.uploads - ws_got) + (args.longpoll * args.uploads - lp_got)
    out["duplicates"], out["client_errors"] = duplicates, errors
    out["ws_p50"], out["ws_p99"] = percentile(ws_lat, 50), percentile(ws_lat, 99)
    out["lp_p50"], out["lp_p99"] = percentile(lp_lat, 50), percentile(lp_lat, 99)
    everything = ws_lat + lp_lat
    out["all_p50"], out["all_p99"] = percentile(everything, 50), percentile(everything, 99)
    out["all_mean"] = statistics.fmean(everything) if everything else float("nan")
    return out


def per_ws_kb(args: argparse.Namespace, out: dict) -> float:
    return (out["rss_ws"] - out["rss_before"]) / max(1, args.ws) / 1024


def report(args: argparse.Namespace, out: dict, title: str = "") -> None:
    kb = 1024
    per_ws = per_ws_kb(args, out)
    per_lp = (out["rss_connected"] - out["rss_ws"]) / max(1, args.longpoll) / kb
    print(f"\nfan-out{title}: {args.ws} idle WebSockets + {args.longpoll} long-pollers, {args.uploads} uploads "
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
    print(f"  server CPU during uploads+delivery: {out['server_cpu']:.1f} s in {out['wall']:.1f} s wall "
          f"({out['server_cpu'] / args.uploads * 1000:.0f} ms per event, "
          f"{out['cpu_us_per_delivery']:.1f} µs per delivery over {out['deliveries']} deliveries)")
    print(f"  p99 target <= 2000 ms: ratio {out['all_p99'] / 2:.2f}")


def run_side(args: argparse.Namespace, tree: Path | None) -> dict:
    """One whole fan-out run against a fresh server started from ``tree`` (None: this checkout)."""
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        # Every benchmark client comes from 127.0.0.1: exempt it from the per-IP rate limits and
        # feed caps, and lift the feeds' share of the open-file limit (this measures fan-out).
        server = ServerProcess(Path(tmp) / "data", extra_args=["--log-level", "WARNING"],
                               env={"TORNADO_PASTE_RATELIMIT_EXEMPT": "127.0.0.1",
                                    "TORNADO_PASTE_EVENTS_WS_MAX_PER_CLIENT": "0",
                                    "TORNADO_PASTE_EVENTS_LONGPOLL_MAX_PER_CLIENT": "0",
                                    "TORNADO_PASTE_EVENTS_FD_SHARE": "0"},
                               log_path=Path(tmp) / "server.log", root=tree)
        try:
            server.start()
            out = asyncio.run(run(args, server))
        finally:
            server.stop()
            if server.log_path.exists():
                errors = [line for line in server.log().splitlines() if "ERROR" in line]
                if errors:
                    print(f"server log: {len(errors)} error line(s), first: {errors[0]}")
    return out


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.2f}" if b and a == a and b == b else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ws", type=int, default=10_000, help="idle WebSocket subscribers")
    p.add_argument("--longpoll", type=int, default=1_000, help="long-polling clients")
    p.add_argument("--uploads", type=int, default=100)
    p.add_argument("--interval", type=float, default=1.0, help="seconds between uploads")
    p.add_argument("--client-procs", type=int, default=2, help="client processes sharing the subscribers")
    p.add_argument("--baseline-uploads", type=int, default=10)
    p.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the last deliveries")
    p.add_argument("--baseline-ref", help="run against this git ref first (a temporary worktree), then this tree")
    args = p.parse_args()
    raise_nofile(args.ws + args.longpoll + 1000)
    results: dict[str, dict] = {}
    with baseline.maybe_checkout(args.baseline_ref) as tree:
        if tree is not None:
            print(f"baseline: {baseline.describe(args.baseline_ref)} checked out at {tree}; current: {ROOT}",
                  flush=True)
            results["baseline"] = run_side(args, tree)
        results["current"] = run_side(args, None)
    for side, out in results.items():
        report(args, out, (f" (baseline {args.baseline_ref})" if side == "baseline" else " (current tree)")
               if tree is not None else "")
    if "baseline" in results:
        cur, base = results["current"], results["baseline"]
        print(f"\ncurrent/baseline: delivery p50 {ratio(cur['all_p50'], base['all_p50'])}, "
              f"p99 {ratio(cur['all_p99'], base['all_p99'])}; CPU per delivery "
              f"{ratio(cur['cpu_us_per_delivery'], base['cpu_us_per_delivery'])}; CPU per event "
              f"{ratio(cur['server_cpu'], base['server_cpu'])}; RSS per idle WebSocket "
              f"{ratio(per_ws_kb(args, cur), per_ws_kb(args, base))}")
    return 0 if all(out["lost"] == 0 for out in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

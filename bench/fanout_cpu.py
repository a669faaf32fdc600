#!/usr/bin/env python3
"""Server CPU per fan-out delivery, measured inside the server process (no process-wide sampling noise).

    python bench/fanout_cpu.py [--ws 3000] [--longpoll 300] [--events 20] [--ping 20] [--gc-young 0]

The real app (``make_app`` + ``make_server``, SQLite) runs in this process; one client process holds
the WebSockets (``websockets``) and keep-alive long-polls (re-asking at once with the cursor it got).
Events are appended with ``EventFeed.record`` every 0.5 s. Reported: CPU time of the server process
per event and per delivery (``time.process_time``, so also the long-polls' HTTP cycles and pings),
the part spent in the hub's synchronous hand-over pass (WebSocket writes, waiter wake-ups), and the
garbage collector's share (``gc.callbacks``). ``--gc-young N`` sets the youngest GC threshold as
``run.py`` does from ``gc_young_threshold`` (0: Python's default). bench/fanout.py is the end-to-end
figure (latency, RSS, losses); this one says where the CPU goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import resource
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def clients(port: int, n_ws: int, n_lp: int, ready, received) -> None:
    from websockets.asyncio.client import connect

    async def ws_one(gate: asyncio.Semaphore, got: list[int]) -> None:
        async with gate:
            conn = await connect(f"ws://127.0.0.1:{port}/ws", compression=None, ping_interval=None,
                                 max_queue=None, open_timeout=300)
        ready.value += 1
        async for _ in conn:
            got[0] += 1

    async def lp_one(gate: asyncio.Semaphore, got: list[int]) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cursor, first = 0, True
        while True:
            writer.write(f"GET /api/v1/events?cursor={cursor}&timeout=50 HTTP/1.1\r\nHost: b\r\n\r\n".encode())
            if first:
                ready.value += 1
                first = False
            await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length"):
                    length = int(line.split(b":")[1])
            answer = json.loads(await reader.readexactly(length))
            got[0] += len(answer["events"])
            cursor = answer["cursor"]

    async def main() -> None:
        gate, got = asyncio.Semaphore(100), [0]
        tasks = [asyncio.ensure_future(ws_one(gate, got)) for _ in range(n_ws)]
        tasks += [asyncio.ensure_future(lp_one(gate, got)) for _ in range(n_lp)]
        while True:
            await asyncio.sleep(0.2)
            received.value = got[0]

    asyncio.run(main())


async def measure(args: argparse.Namespace) -> None:
    import run
    from handlers.routes import make_app
    from run import make_server
    from settings import Settings
    from tornado_paste.core.records import FileRecord, utcnow
    from tornado_paste.services import build_services

    if args.gc_young:
        run.tune_gc(args.gc_young)  # as run.py does with gc_young_threshold
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with tempfile.TemporaryDirectory(prefix="fanout-cpu-") as tmp:
        settings = Settings(address="127.0.0.1", port=port, data_dir=tmp, base_url=f"http://127.0.0.1:{port}",
                            ratelimit_exempt=("127.0.0.1",), events_ws_max_per_client=0,
                            events_longpoll_max_per_client=0, events_fd_share=0,
                            events_ws_ping_interval=args.ping, events_ws_ping_timeout=args.ping).validated()
        services = build_services(settings)
        await services.start()
        make_server(make_app(services), settings).listen(port, "127.0.0.1")
        feed = services.events
        hand = [0.0]
        # The hand-over pass; older trees (before batches) had it inside _dispatch.
        name = "_hand" if hasattr(feed, "_hand") else "_dispatch"
        original = getattr(feed, name)

        def timed(*args):  # type: ignore[no-untyped-def]
            start = time.process_time()
            try:
                return original(*args)
            finally:
                hand[0] += time.process_time() - start

        setattr(feed, name, timed)
        ctx = multiprocessing.get_context("spawn")
        ready, received = ctx.Value("i", 0), ctx.Value("i", 0)
        proc = ctx.Process(target=clients, args=(port, args.ws, args.longpoll, ready, received), daemon=True)
        proc.start()
        while ready.value < args.ws + args.longpoll or feed.counts["longpoll"] < args.longpoll \
                or feed.counts["ws"] < args.ws:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        record = await services.store.insert_file(FileRecord(
            filehash=uuid.uuid4().hex[:16] + ".txt", sha256=uuid.uuid4().hex * 2, filename="a.txt",
            mimetype="text/plain", size=1, uploaded_at=utcnow(), delete_token_hash="x"))
        collected = {"seconds": 0.0, "count": 0, "full": 0}
        started = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                started[0] = time.process_time()
                return
            collected["seconds"] += time.process_time() - started[0]
            collected["count"] += 1
            collected["full"] += info["generation"] == 2

        gc.callbacks.append(on_gc)
        before = received.value
        cpu = time.process_time()
        for _ in range(args.events):
            await feed.record("file.created", record)
            await asyncio.sleep(0.5)
        cpu = time.process_time() - cpu
        gc.callbacks.remove(on_gc)
        subscribers = args.ws + args.longpoll
        expected = before + args.events * subscribers
        deadline = time.monotonic() + 120
        while received.value < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        proc.kill()
        per_event = cpu / args.events
        print(f"{args.ws} WebSockets + {args.longpoll} long-polls, {args.events} events, pings every {args.ping:g} s, "
              f"gc young threshold {gc.get_threshold()[0]}")
        print(f"  server CPU per event {per_event * 1000:.1f} ms = {per_event / subscribers * 1e6:.1f} us per delivery")
        print(f"  hand-over pass (WebSocket writes, waiter wake-ups): {hand[0] / args.events / subscribers * 1e6:.1f} "
              f"us per delivery")
        print(f"  garbage collector: {collected['seconds'] / cpu * 100:.0f} % of that CPU "
              f"({collected['count']} collections, {collected['full']} full)")
        print(f"  received {received.value - before} of {expected - before}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ws", type=int, default=3000)
    p.add_argument("--longpoll", type=int, default=300)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--ping", type=float, default=20.0, help="events_ws_ping_interval (0: no pings)")
    p.add_argument("--gc-young", type=int, default=0, help="youngest GC threshold (0: Python's default)")
    args = p.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

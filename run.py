#!/usr/bin/env python3
"""Start tornado-paste: flags -> Settings -> services -> app -> listen -> graceful stop.

    python run.py --address 127.0.0.1 --port 8000 --data-dir ./data

Every flag is also a ``TORNADO_PASTE_<NAME>`` environment variable; flags win.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time

import tornado.httpserver
import tornado.netutil
import tornado.web

from handlers.routes import make_app
from settings import Settings
from tornado_paste.services import build_services

log = logging.getLogger("tornado_paste")

# Body bytes Tornado hands the handler per call; bigger pieces mean fewer Python calls per GiB.
READ_CHUNK = 1 << 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="tornado-paste file host")
    p.add_argument("--address", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8000)")
    p.add_argument("--data-dir", help="blobs, staging files and the SQLite store (default ./data)")
    p.add_argument("--base-url", help="public URL used in every link (default http://<address>:<port>)")
    p.add_argument("--max-upload-size", help="bytes, k/M/G suffixes accepted (default 1G)")
    p.add_argument("--mongo-url", help="MongoDB URL; empty = embedded SQLite")
    p.add_argument("--processes", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--behind-proxy", action="store_const", const="true",
                   help="trust X-Real-IP / X-Forwarded-* from nginx")
    p.add_argument("--statsd-host", help="StatsD host; empty disables metrics")
    p.add_argument("--statsd-port", type=int, help="StatsD port (default 8125)")
    p.add_argument("--statsd-prefix", help="metric name prefix (default tornado_paste)")
    p.add_argument("--log-level", default=os.environ.get("TORNADO_PASTE_LOG_LEVEL", "INFO"))
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k != "log_level"}
    return Settings.from_env(**overrides)


def make_server(app: tornado.web.Application, settings: Settings) -> tornado.httpserver.HTTPServer:
    """The HTTP server as production runs it (tests use this too)."""
    return tornado.httpserver.HTTPServer(
        app,
        xheaders=settings.behind_proxy,
        # Handlers enforce the real limit per request; this is Tornado's outer fence.
        max_body_size=settings.max_upload_size + (64 << 20),
        chunk_size=READ_CHUNK,
        max_buffer_size=4 * READ_CHUNK,
        # Slowloris on headers: a connection gets this long to send them (and to idle between requests).
        # Stalled upload bodies are cut by the upload handlers' own idle timer (upload_idle_timeout).
        idle_connection_timeout=settings.idle_connection_timeout,
    )


async def serve(settings: Settings, sockets: list[socket.socket]) -> int:
    services = build_services(settings)
    await services.start()
    services.blobs.sweep_staging(settings.stale_tmp_age)
    server = make_server(make_app(services), settings)
    server.add_sockets(sockets)
    log.info("tornado-paste listening on http://%s:%d (public URL %s, pid %d)",
             settings.address, settings.port, settings.public_base_url, os.getpid())

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()

    log.info("stopping: no new connections; waiting up to %.0fs for %d request(s)",
             settings.shutdown_grace, services.inflight)
    server.stop()
    deadline = time.monotonic() + settings.shutdown_grace
    while services.inflight > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await server.close_all_connections()
    await services.stop()
    log.info("stopped")
    return 0


def supervise(count: int) -> int:
    """Fork ``count`` workers (sockets already bound), forward signals, wait for them."""
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            return -1 - index  # in a child: caller serves
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        children.pop(pid, None)
        if os.waitstatus_to_exitcode(code) != 0:
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from_args(args)
    except (ValueError, KeyError) as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    os.makedirs(settings.data_dir, exist_ok=True)
    sockets = tornado.netutil.bind_sockets(settings.port, settings.address, reuse_port=False)
    if settings.processes > 1:
        role = supervise(settings.processes)
        if role >= 0:
            return role
    return asyncio.run(serve(settings, sockets))


if __name__ == "__main__":
    sys.exit(main())

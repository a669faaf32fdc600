#!/usr/bin/env python3
"""Start tornado-paste: flags -> Settings -> services -> app -> listen -> graceful stop.

    python run.py --address 127.0.0.1 --port 8000 --data-dir ./data
    python run.py admin stats        (operator commands: docs/admin.md)

Every flag is also a ``TORNADO_PASTE_<NAME>`` environment variable; flags win.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import resource
import signal
import socket
import sys
import time

import tornado.httpserver
import tornado.netutil
import tornado.web

from handlers.routes import make_app
from handlers.wire import GuardedHTTPServer
from settings import Settings
from tornado_paste.core.secret import SecretError
from tornado_paste.metrics.logs import configure_logging, flush_repeats
from tornado_paste.services import build_services
from tornado_paste.storage.blobs.base import BlobStoreMisconfigured, BlobStoreUnavailable

log = logging.getLogger("tornado_paste")

# Body bytes Tornado hands the handler per call; bigger pieces mean fewer Python calls per GiB.
READ_CHUNK = 1 << 20
# Connections the kernel queues before we accept them. Tornado's default, 128, made a burst of 1,000
# clients overflow the queue (SYN cookies, then resets); nginx uses 511. The kernel caps it at somaxconn.
LISTEN_BACKLOG = 1024


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="tornado-paste file host")
    p.add_argument("--address", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8000)")
    p.add_argument("--data-dir", help="blobs, staging files and the SQLite store (default ./data)")
    p.add_argument("--base-url", help="public URL used in every link (default http://<address>:<port>)")
    p.add_argument("--content-base-url",
                   help="separate origin for /i/ /d/ /r/ links (default: the base URL)")
    p.add_argument("--max-upload-size", help="bytes, k/M/G suffixes accepted (default 1G)")
    p.add_argument("--mongo-url", help="MongoDB URL; empty = embedded SQLite")
    p.add_argument("--processes", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--port-per-process", action="store_const", const="true",
                   help="with --processes N: worker i listens on --port + i (for an nginx upstream)")
    p.add_argument("--behind-proxy", action="store_const", const="true",
                   help="trust X-Real-IP / X-Forwarded-* from nginx")
    p.add_argument("--max-open-files", type=int,
                   help="soft open-file limit to set at start (default 0: raise it to the hard limit)")
    p.add_argument("--statsd-host", help="StatsD host; empty disables metrics")
    p.add_argument("--statsd-port", type=int, help="StatsD port (default 8125)")
    p.add_argument("--statsd-prefix", help="metric name prefix (default tornado_paste)")
    p.add_argument("--metrics-host", help="host segment of per-process gauge names (default: short hostname)")
    p.add_argument("--log-format", choices=("text", "json"), help="text lines or JSON lines (default text)")
    p.add_argument("--log-level", default=os.environ.get("TORNADO_PASTE_LOG_LEVEL", "INFO"))
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k != "log_level"}
    return Settings.from_env(**overrides)


def make_server(app: tornado.web.Application, settings: Settings) -> tornado.httpserver.HTTPServer:
    """The HTTP server as production runs it (tests use this too)."""
    # GuardedHTTPServer: Tornado's protocol-level refusals answered as JSON errors (handlers/wire.py).
    return GuardedHTTPServer(
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


async def serve(settings: Settings, sockets: list[socket.socket], worker: int = 0) -> int:
    services = build_services(settings, worker=worker)
    await services.start()
    try:
        await services.blobs.sweep(settings.stale_tmp_age)
    except BlobStoreUnavailable as exc:  # the object store is down at start-up: its sweeper retries later
        log.warning("start-up sweep of the blob store skipped: %s", exc)
    server = make_server(make_app(services), settings)
    server.add_sockets(sockets)
    log.info("tornado-paste listening on http://%s:%d (public URL %s, pid %d)",
             settings.address, settings.port, settings.public_base_url, os.getpid())
    if settings.behind_proxy:
        # xheaders: the client address in logs and rate limits comes from X-Real-IP/X-Forwarded-For,
        # which anyone can forge if they can reach this port without going through nginx.
        log.info("behind a proxy: trusting X-Real-IP / X-Forwarded-*; %s:%d must be reachable only from it",
                 settings.address, settings.port)

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


# A worker that dies sooner than this after its start is crash-looping: wait before the next try.
CRASH_WINDOW = 5.0
MAX_BACKOFF = 30.0


def supervise(count: int) -> tuple[int | None, int]:
    """Fork ``count`` workers (sockets already bound) and keep them running until told to stop.

    Returns ``(index, 0)`` in a worker, which then serves; in the parent ``(None, status)`` once
    every worker is gone: status 0 after a clean SIGTERM/SIGINT, 1 otherwise. A worker
    that dies on its own (crash, OOM kill) is forked again, with a growing pause if it keeps
    dying at start-up, so one bad request cannot take a port's capacity down for good.
    """
    children: dict[int, tuple[int, float]] = {}  # pid -> (worker index, start time)
    stopping = False
    failed = False

    def spawn(index: int) -> bool:
        """Fork worker ``index``; True in the child."""
        pid = os.fork()
        if pid == 0:
            # The child installs its own handlers in serve(); until then the defaults apply.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            return True
        children[pid] = (index, time.monotonic())
        return False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for index in range(count):
        if spawn(index):
            return index, 0
    crashes: dict[int, int] = {}
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index, started = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            # Killed by the very signal we forwarded (it arrived before serve() took it over) is clean too.
            failed = failed or code not in (0, -signal.SIGTERM, -signal.SIGINT)
            continue
        if code == 0:
            # Only a signal sent to the worker itself ends it cleanly: the operator meant it.
            log.info("worker %d (pid %d) exited; not restarting it", index, pid)
            continue
        crashes[index] = crashes.get(index, 0) + 1 if time.monotonic() - started < CRASH_WINDOW else 0
        delay = min(MAX_BACKOFF, 0.1 * 2 ** crashes[index]) if crashes[index] else 0.0
        log.warning("worker %d (pid %d) died with %s; restarting it in %.1fs", index, pid, code, delay)
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.05)
        if not stopping and spawn(index):
            return index, 0
    return None, 1 if failed else 0


def bind(settings: Settings) -> list[list[socket.socket]]:
    """The listening sockets of each worker: one shared list, or one port per worker."""
    if settings.processes > 1 and settings.port_per_process:
        return [tornado.netutil.bind_sockets(settings.port + i, settings.address, reuse_port=False,
                                           backlog=LISTEN_BACKLOG)
                for i in range(settings.processes)]
    return [tornado.netutil.bind_sockets(settings.port, settings.address, reuse_port=False, backlog=LISTEN_BACKLOG)]


def limit_malloc_arenas(count: int) -> None:
    """Cap glibc's malloc arenas (M_ARENA_MAX) before any thread starts; a no-op elsewhere."""
    if count <= 0:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, count)  # -8 is M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        pass


def tune_gc(young_threshold: int) -> tuple[int, int, int]:
    """Raise the youngest generation's GC threshold (0: leave Python's); returns the thresholds in force.

    Why: with thousands of open feeds the heap holds a million long-lived objects. At Python's 700,
    young collections run so often that a waiting long-poll's objects (alive about one event
    interval) are promoted to the oldest generation, and every few events a full collection walks
    the whole heap: 0.8 s pauses and 40 % of the CPU at 10,000 WebSockets (docs/performance.md).
    Cyclic garbage is still collected, in rarer and larger young collections."""
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
    return gc.get_threshold()


def raise_open_files_limit(wanted: int = 0) -> int:
    """Set the soft RLIMIT_NOFILE to the hard limit (``wanted`` 0) or to ``wanted`` (at most the hard
    limit); returns the soft limit in force. Every connection is a descriptor: a default soft limit of
    1024 is what a few hundred WebSockets exhausted. The feeds' global cap is a share of this limit."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return 0
    target = hard if wanted <= 0 else wanted
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    elif target == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else soft
    if target != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:
            log.warning("could not set the open-file limit to %s (keeping %s): %s", target, soft, exc)
    return soft


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:
        # `python run.py admin ...` is `python -m tornado_paste.admin ...` (docs/admin.md).
        from tornado_paste.admin.__main__ import main as admin_main

        return admin_main(argv[1:])
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
    except (ValueError, KeyError) as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 2
    # Text or JSON lines, secrets redacted, repeated warnings rate-limited (tornado_paste/metrics/logs.py).
    handler = configure_logging(args.log_level, settings.log_format, settings.log_repeat_interval)
    try:
        return run(settings)
    finally:
        flush_repeats(handler)


def run(settings: Settings) -> int:
    """Bind, fork the workers if asked, and serve until told to stop."""
    limit_malloc_arenas(settings.malloc_arena_max)
    tune_gc(settings.gc_young_threshold)
    # Before the services are built: the feeds' cap is a share of the limit in force (tornado_paste/feedgate.py).
    log.info("open-file limit: %s", raise_open_files_limit(settings.max_open_files))
    os.makedirs(settings.data_dir, exist_ok=True)
    # Bind before forking: every worker inherits the listening sockets, so there is no window in
    # which a port refuses connections, and a restarted worker picks up the same sockets.
    groups = bind(settings)
    if settings.processes == 1:
        return run_serve(settings, groups[0])
    index, status = supervise(settings.processes)
    if index is None:
        return status
    if len(groups) == 1:
        return run_serve(settings, groups[0], index)
    for other, group in enumerate(groups):
        if other != index:
            for sock in group:
                sock.close()
    return run_serve(settings.replace(port=settings.port + index), groups[index], index)


def run_serve(settings: Settings, sockets: list[socket.socket], worker: int = 0) -> int:
    """``serve`` until stopped; a configuration the stores refuse (credentials, secret) exits 3 with one line."""
    try:
        return asyncio.run(serve(settings, sockets, worker))
    except (BlobStoreMisconfigured, SecretError) as exc:
        log.error("cannot start: %s", exc)
        print(f"run.py: cannot start: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

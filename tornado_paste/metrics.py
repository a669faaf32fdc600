"""Thin StatsD wrapper: one client per process, a no-op when disabled, never blocking or raising.

Names are dotted and low-cardinality (route names, reasons, kinds; never paths, hashes or ids).
The full scheme is in docs/sections/metrics.md; every producer uses this one object
(``services.metrics``) with ``incr`` / ``timing`` / ``gauge``.

Why batching: one UDP datagram per stat costs a syscall each, and a request emits three to
five stats. Between ``start()`` and ``stop()`` stats are queued (a deque: appends are
thread-safe, so executor threads may record too) and sent together every ``flush_interval``
in datagrams of at most ``max_packet`` bytes. Before ``start()`` (scripts, tests that
never start the services) each stat is sent at once, so nothing is ever held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

# Fits one Ethernet frame with IP/UDP headers; StatsD splits a datagram on newlines.
MAX_PACKET = 1432


class Metrics:
    def __init__(self, host: str = "", port: int = 8125, prefix: str = "tornado_paste",
                 flush_interval: float = 0.2, sample_interval: float = 1.0, max_packet: int = MAX_PACKET) -> None:
        self.prefix = prefix
        self.flush_interval = flush_interval
        self.sample_interval = sample_interval
        self._client: Any = None
        self._pipe: Any = None
        self._batching = False
        self._task: asyncio.Task[None] | None = None
        # Gauges read from live state once per sample_interval (e.g. in-flight requests).
        self._samplers: dict[str, Callable[[], float]] = {}
        if host:
            self._client = _make_client(host, port, prefix, max_packet)

    @classmethod
    def from_settings(cls, settings: Any) -> Metrics:
        return cls(settings.statsd_host, settings.statsd_port, settings.statsd_prefix)

    @property
    def enabled(self) -> bool:
        return self._client is not None

    # -- recording ---------------------------------------------------------------
    def _sink(self) -> Any:
        return self._pipe if self._batching else self._client

    def incr(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``name`` (StatsD sums per flush and derives ``.rate``)."""
        if self._client is not None:
            try:
                self._sink().incr(name, count)
            except Exception:  # never let metrics break a request
                log.debug("statsd incr failed", exc_info=True)

    def timing(self, name: str, millis: float) -> None:
        """Record one duration in milliseconds (StatsD derives mean, upper_N percentiles, count)."""
        if self._client is not None:
            try:
                self._sink().timing(name, millis)
            except Exception:
                log.debug("statsd timing failed", exc_info=True)

    def gauge(self, name: str, value: float, delta: bool = False) -> None:
        """Set (or, with ``delta``, move) the gauge ``name``; StatsD keeps the last value."""
        if self._client is not None:
            try:
                self._sink().gauge(name, value, delta=delta)
            except Exception:
                log.debug("statsd gauge failed", exc_info=True)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """``with metrics.timed("area.op"):`` records the block's duration, raised or not."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timing(name, (time.perf_counter() - started) * 1000)

    def sample(self, name: str, read: Callable[[], float]) -> None:
        """Report ``read()`` as the gauge ``name`` once per ``sample_interval`` while started.

        Sampling beats a delta gauge updated on every change: it costs nothing per request and a
        restarted process cannot leave the gauge off by the deltas it never sent.
        """
        self._samplers[name] = read

    # -- lifecycle -----------------------------------------------------------------
    def flush(self) -> None:
        if self._pipe is not None:
            try:
                self._pipe.send()
            except Exception:
                log.debug("statsd flush failed", exc_info=True)

    def _sample_now(self) -> None:
        for name, read in list(self._samplers.items()):
            try:
                self.gauge(name, read())
            except Exception:
                log.debug("gauge sampler %s failed", name, exc_info=True)

    async def start(self) -> None:
        """Begin batching and sampling on the running loop (a services ``on_start`` step)."""
        if self._client is None or self._task is not None:
            return
        self._pipe = self._client.pipeline()
        self._batching = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Send what is queued and go back to unbatched sends (a services ``on_stop`` step)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._batching:
            self._sample_now()
            self.flush()
            self._batching = False

    async def _run(self) -> None:
        next_sample = time.monotonic() + self.sample_interval
        self._sample_now()
        while True:
            await asyncio.sleep(self.flush_interval)
            now = time.monotonic()
            if now >= next_sample:
                self._sample_now()
                next_sample = now + self.sample_interval
            self.flush()


def _make_client(host: str, port: int, prefix: str, max_packet: int) -> Any:
    """A StatsD UDP client for ``host`` resolved once, here, or None (metrics off, with a warning).

    A per-datagram DNS lookup would block the loop; a non-blocking socket means a full send
    buffer drops the stat (the statsd package swallows the error) instead of stalling a request.
    """
    import statsd

    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
        client = statsd.StatsClient(addr[0], port, prefix=prefix or None, maxudpsize=max_packet,
                                    ipv6=family == socket.AF_INET6)
        client._sock.setblocking(False)
        return client
    except (OSError, UnicodeError) as exc:
        log.warning("statsd disabled: cannot resolve %s:%s (%s)", host, port, exc)
        return None

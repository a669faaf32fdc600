"""Thin StatsD wrapper: one client per process, a no-op when disabled, never blocking or raising.

Names are dotted and low-cardinality (route names, reasons, kinds; never paths, hashes or ids).
The full scheme is in docs/metrics.md; every producer uses this one object
(``services.metrics``) with ``incr`` / ``timing`` / ``gauge``.

Why batching: formatting and sending a datagram per stat cost ~10 us each, and a request
emits four or five stats; on a cheap route that was a double-digit share of its CPU. Between
``start()`` and ``stop()`` a call only appends a tuple to a deque (atomic, so executor threads
may record too); every ``flush_interval`` the loop sums counters per name, keeps the last
gauge value, and sends everything through the statsd package's pipeline in datagrams of at
most ``max_packet`` bytes. StatsD's own results (sums, rates, percentiles) are unchanged.
Before ``start()`` (scripts, tests that never start the services) each stat is sent at once.

Levels (``sample``) are per process: each is named ``proc.<host>.<worker>.<name>``, so every
process of every machine has its own series and the dashboard sums them (``sumSeries``) instead
of StatsD keeping whichever process wrote last. A dead process stops sending; StatsD, with
``deleteGauges`` and ``gaugesMaxTTL: 2`` (deploy/statsd/config.js), drops its series after two
flushes, so it cannot inflate the sum for longer than that.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from tornado_paste.core.tasks import Periodic

log = logging.getLogger(__name__)

# Fits one Ethernet frame with IP/UDP headers; StatsD splits a datagram on newlines.
MAX_PACKET = 1432
_COUNT, _TIMING, _GAUGE, _GAUGE_DELTA = range(4)


def node(text: str) -> str:
    """``text`` as one Graphite path node: letters, digits, ``_`` and ``-`` only (dots would split it)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


def default_host() -> str:
    """This machine's short host name, as a Graphite node."""
    return node(socket.gethostname().split(".")[0])


class Metrics:
    def __init__(self, host: str = "", port: int = 8125, prefix: str = "tornado_paste",
                 flush_interval: float = 0.2, sample_interval: float = 1.0, max_packet: int = MAX_PACKET,
                 host_name: str = "", worker: str = "0") -> None:
        self.prefix = prefix
        # The per-process segment of level names: proc.<host>.<worker>.
        self.host_name = node(host_name) if host_name else default_host()
        self.worker = node(worker)
        self.scope = f"proc.{self.host_name}.{self.worker}"
        self.flush_interval = flush_interval
        self.sample_interval = sample_interval
        self._client: Any = None
        self._queue: deque[tuple[int, str, float]] = deque()
        self._batching = False
        self._task: Periodic | None = None
        self._next_sample = 0.0
        # Gauges read from live state once per sample_interval (e.g. in-flight requests).
        self._samplers: dict[str, Callable[[], float]] = {}
        if host:
            self._client = _make_client(host, port, prefix, max_packet)

    @classmethod
    def from_settings(cls, settings: Any, worker: int = 0) -> Metrics:
        """The process's client; ``worker`` is its index under ``--processes`` (0 when alone)."""
        return cls(settings.statsd_host, settings.statsd_port, settings.statsd_prefix,
                   host_name=settings.metrics_host, worker=f"{settings.port}-{worker}")

    @property
    def enabled(self) -> bool:
        return self._client is not None

    # -- recording ---------------------------------------------------------------
    def incr(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``name`` (StatsD sums per flush and derives ``.rate``)."""
        if self._client is not None:
            if self._batching:
                self._queue.append((_COUNT, name, count))
            else:
                self._send_now(self._client.incr, name, count)

    def timing(self, name: str, millis: float) -> None:
        """Record one duration in milliseconds (StatsD derives mean, upper_N percentiles, count)."""
        if self._client is not None:
            if self._batching:
                self._queue.append((_TIMING, name, millis))
            else:
                self._send_now(self._client.timing, name, millis)

    def gauge(self, name: str, value: float, delta: bool = False) -> None:
        """Set (or, with ``delta``, move) the gauge ``name`` once; StatsD keeps the last value.

        StatsD drops a gauge nobody re-sent for two flushes (``deleteGauges``), so a one-off gauge
        vanishes from Graphite; for a level use ``sample``, which re-sends it and names it per process.
        """
        if self._client is not None:
            if self._batching:
                self._queue.append((_GAUGE_DELTA if delta else _GAUGE, name, value))
            else:
                self._send_now(functools.partial(self._client.gauge, delta=delta), name, value)

    @staticmethod
    def _send_now(method: Callable[..., None], *args: Any) -> None:
        try:
            method(*args)
        except Exception:  # never let metrics break a request
            log.debug("statsd send failed", exc_info=True)

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """``with metrics.timed("area.op"):`` records the block's duration, raised or not."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timing(name, (time.perf_counter() - started) * 1000)

    def sample(self, name: str, read: Callable[[], float]) -> None:
        """Report ``read()`` once per ``sample_interval`` while started, as this process's gauge ``name``.

        The gauge is ``proc.<host>.<worker>.<name>`` (``level_name``): one series per process, summed
        (or min/max-ed) on the dashboard. Use it for every level a process holds or sees (requests in
        flight, subscribers, queue depth, free disk). Sampling beats a gauge updated on every change:
        it costs nothing per request, a restarted process cannot leave it off by deltas it never sent,
        and it is re-sent every flush, which ``deleteGauges`` needs to tell a live process from a dead one.
        """
        self._samplers[self.level_name(name)] = read

    def level_name(self, name: str) -> str:
        """The full gauge name (without the prefix) ``sample(name, ...)`` reports under."""
        return f"{self.scope}.{name}"

    # -- lifecycle -----------------------------------------------------------------
    def flush(self) -> None:
        """Send everything queued: counters summed per name, gauges folded, every timing kept."""
        queue = self._queue
        if self._client is None or not queue:
            return
        try:
            pipe = self._client.pipeline()
            counters: dict[str, float] = {}
            gauges: dict[str, list[Any]] = {}  # name -> [absolute value or None, pending delta]
            while queue:
                kind, name, value = queue.popleft()
                if kind == _COUNT:
                    counters[name] = counters.get(name, 0) + value
                elif kind == _TIMING:
                    pipe.timing(name, value)
                elif kind == _GAUGE:
                    gauges[name] = [value, 0]
                else:
                    gauges.setdefault(name, [None, 0])[1] += value
            for name, total in counters.items():
                pipe.incr(name, total)
            for name, (absolute, moved) in gauges.items():
                if absolute is not None:
                    pipe.gauge(name, absolute)
                if moved:
                    pipe.gauge(name, moved, delta=True)
            pipe.send()
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
        self._batching = True
        self._next_sample = time.monotonic() + self.sample_interval
        self._sample_now()
        self._task = Periodic("metrics flush", self.flush_interval, self._tick)
        self._task.start()

    async def stop(self) -> None:
        """Send what is queued and go back to unbatched sends (a services ``on_stop`` step)."""
        task, self._task = self._task, None
        if task is not None:
            await task.stop()
        if self._batching:
            self._sample_now()
            self.flush()
            self._batching = False

    async def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_sample:
            self._sample_now()
            self._next_sample = now + self.sample_interval
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

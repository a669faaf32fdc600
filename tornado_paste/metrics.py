"""Thin StatsD wrapper: one client per process, a no-op when disabled.

StatsD is fire-and-forget UDP; nothing here may raise into a request.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self, host: str = "", port: int = 8125, prefix: str = "tornado_paste") -> None:
        self.prefix = prefix
        self._client: Any = None
        if host:
            try:
                import statsd

                # Resolve once, here: a per-packet DNS lookup would block the loop.
                address = socket.gethostbyname(host)
                self._client = statsd.StatsClient(address, port, prefix=prefix or None)
            except OSError as exc:
                log.warning("statsd disabled: cannot resolve %s (%s)", host, exc)

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def incr(self, name: str, count: int = 1) -> None:
        if self._client is not None:
            try:
                self._client.incr(name, count)
            except Exception:  # never let metrics break a request
                pass

    def timing(self, name: str, millis: float) -> None:
        if self._client is not None:
            try:
                self._client.timing(name, millis)
            except Exception:
                pass

    def gauge(self, name: str, value: float, delta: bool = False) -> None:
        if self._client is not None:
            try:
                self._client.gauge(name, value, delta=delta)
            except Exception:
                pass

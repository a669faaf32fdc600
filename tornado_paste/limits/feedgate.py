"""Caps on the connections the real-time feeds hold open: per client and in all.

A WebSocket or a waiting long-poll holds a file descriptor for as long as the client likes. Without
a cap one address opened 250 ``/ws`` and the process ran out of descriptors: probes, downloads and
uploads all timed out. Each client (IP) may hold a few (``events_ws_max_per_client``,
``events_longpoll_max_per_client``: one more is 429), and all clients together a share of the
process's open-file limit (``events_fd_share``: one more is 503), so the rest of the descriptors stay
for everything else. Checked before the WebSocket upgrade. In memory per process.
"""

from __future__ import annotations

import resource
from collections import Counter

from tornado_paste import errors

WS = "ws"
LONGPOLL = "longpoll"


class FeedRefused(errors.Refusal):
    """Not now: ``reason`` is the metric's last part (``client`` or ``total``)."""

    code = "too_many_feeds"
    reason = "client"
    retry_after = 2


class TooManyFeeds(errors.TooMany, FeedRefused):
    """This client already holds its share of open feeds (429)."""

    code = "too_many_feeds"
    reason = "client"
    retry_after = 2


class FeedsFull(errors.Unavailable, FeedRefused):
    """The process holds as many feeds as its descriptors allow (503)."""

    code = "feeds_full"
    reason = "total"
    retry_after = 5


def open_files_limit() -> int:
    """This process's soft RLIMIT_NOFILE (0 when unknown or unlimited)."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return 0
    return 0 if soft == resource.RLIM_INFINITY else int(soft)


def total_cap(fd_share: float, fd_limit: int | None = None) -> int:
    """Feeds the whole process may hold: ``fd_share`` of the open-file limit (0: no cap)."""
    limit = open_files_limit() if fd_limit is None else fd_limit
    if fd_share <= 0 or limit <= 0:
        return 0
    return max(1, int(limit * fd_share))


class FeedSlot:
    """One open feed; ``release`` (idempotent) gives it back."""

    def __init__(self, gate: FeedGate, kind: str, client: str) -> None:
        self._gate = gate
        self.kind = kind
        self.client = client
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._gate._release(self)


class FeedGate:
    def __init__(self, per_client: dict[str, int], max_total: int) -> None:
        # 0 disables a cap.
        self.per_client = per_client
        self.max_total = max_total
        self.open: Counter[tuple[str, str]] = Counter()
        self.total = 0

    def acquire(self, kind: str, client: str) -> FeedSlot:
        cap = self.per_client.get(kind, 0)
        if cap and self.open[kind, client] >= cap:
            raise TooManyFeeds(f"at most {cap} open {'WebSockets' if kind == WS else 'long-polls'} "
                               "per client; close one or retry shortly")
        if self.max_total and self.total >= self.max_total:
            raise FeedsFull("the server holds as many live feeds as it can; retry shortly")
        self.open[kind, client] += 1
        self.total += 1
        return FeedSlot(self, kind, client)

    def _release(self, slot: FeedSlot) -> None:
        key = (slot.kind, slot.client)
        self.total = max(0, self.total - 1)
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]

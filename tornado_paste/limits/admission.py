"""Admission control for uploads: a per-client concurrency cap and a global byte budget.

Rate limits bound how often a client may start an upload; this bounds what is
in flight at once, so a few clients cannot hold every connection or fill the
disk with staging files.

The budget holds the bytes that have *arrived*, never the ``Content-Length`` a
client promises: a connection that declares 10 MB and trickles holds only what
it sent, so slow clients cannot starve everyone else by promising much and
sending little. A declared length is still checked at admission (a body that
could not fit now is refused before a byte is read), but nothing is reserved
for it. One client (IP) may hold at most ``client_share`` of the budget; past
that it gets 429 (its own problem, retry later), and only a budget spent by
many clients is the global 503. In memory per process, like the rate limiter.
"""

from __future__ import annotations

from collections import Counter

from tornado_paste import errors
from tornado_paste.core.ingest import IngestError


class UploadRefused(IngestError):
    """Not now: try again later (``retry_after`` seconds)."""

    retry_after = 1


class TooManyUploads(errors.TooMany, UploadRefused):
    """This client already has its share of uploads in progress (HTTP 429)."""

    code = "too_many_uploads"
    reason = "concurrency"


class ClientShareFull(TooManyUploads):
    """This client already holds its share of the in-flight byte budget (HTTP 429, like TooManyUploads)."""

    code = "upload_client_share"
    reason = "client_share"
    retry_after = 2


class UploadCapacityFull(errors.Unavailable, UploadRefused):
    """The server's in-flight upload byte budget is spent (HTTP 503)."""

    code = "upload_capacity"
    reason = "capacity"
    retry_after = 2


class UploadTicket:
    """One admitted upload; ``release`` (idempotent) gives its slot and bytes back."""

    def __init__(self, gate: UploadGate, client: str, reserved: int = 0) -> None:
        self._gate = gate
        self.client = client
        self.reserved = reserved
        self.released = False
        self.shed_bytes = False

    def need(self, total: int) -> None:
        """Cover the ``total`` body bytes received so far; raises UploadRefused past the client's share
        (ClientShareFull) or the budget (UploadCapacityFull)."""
        if self.released or self.shed_bytes or total <= self.reserved:
            return
        extra = total - self.reserved
        self._gate._take_bytes(self.client, extra)
        self.reserved = total

    def shed(self) -> None:
        """Give the bytes back now but keep the slot: a refused body is drained and dropped, not kept."""
        if not self.released and not self.shed_bytes:
            self.shed_bytes = True
            self._gate._give_bytes(self.client, self.reserved)
            self.reserved = 0

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._gate._release(self)


class UploadGate:
    def __init__(self, max_per_client: int, max_inflight_bytes: int, client_share: float = 1.0) -> None:
        # 0 disables either cap; a client_share of 1 lets one client hold the whole budget.
        self.max_per_client = max_per_client
        self.max_inflight_bytes = max_inflight_bytes
        self.client_share = client_share
        self.inflight_bytes = 0
        self.per_client: Counter[str] = Counter()
        self.bytes_per_client: Counter[str] = Counter()

    @property
    def inflight_uploads(self) -> int:
        return sum(self.per_client.values())

    @property
    def client_cap(self) -> int:
        """Bytes one client may hold at once (0: no per-client cap)."""
        if not self.max_inflight_bytes or self.client_share >= 1:
            return 0
        return max(1, int(self.max_inflight_bytes * self.client_share))

    def admit(self, client: str, declared: int | None) -> UploadTicket:
        """Admit an upload of ``declared`` bytes (None: unknown yet) or raise UploadRefused.

        Nothing is reserved: the ticket takes budget as bytes arrive (``need``). The declared length
        only refuses at once a body that could not fit with what is in flight now.
        """
        if self.max_per_client and self.per_client[client] >= self.max_per_client:
            raise TooManyUploads(f"at most {self.max_per_client} uploads at once per client; retry shortly")
        # At least one byte: a client (or the process) already at its cap cannot start even a chunked body.
        self._check(client, max(1, declared or 0))
        self.per_client[client] += 1
        return UploadTicket(self, client)

    def _check(self, client: str, amount: int) -> None:
        # The client's own share first: a flooder hears 429 about itself, not a global 503.
        cap = self.client_cap
        if cap and self.bytes_per_client[client] + amount > cap:
            raise ClientShareFull(f"this client is already sending its share of {cap} bytes at once; "
                                  "retry when its other uploads finish")
        if self.max_inflight_bytes and self.inflight_bytes + amount > self.max_inflight_bytes:
            raise UploadCapacityFull("the server is receiving too much data right now; retry shortly")

    def _take_bytes(self, client: str, amount: int) -> None:
        self._check(client, amount)
        self.inflight_bytes += amount
        self.bytes_per_client[client] += amount

    def _give_bytes(self, client: str, amount: int) -> None:
        self.inflight_bytes = max(0, self.inflight_bytes - amount)
        left = self.bytes_per_client[client] - amount
        if left > 0:
            self.bytes_per_client[client] = left
        else:
            self.bytes_per_client.pop(client, None)

    def _release(self, ticket: UploadTicket) -> None:
        self._give_bytes(ticket.client, ticket.reserved)
        ticket.reserved = 0
        self.per_client[ticket.client] -= 1
        if self.per_client[ticket.client] <= 0:
            del self.per_client[ticket.client]

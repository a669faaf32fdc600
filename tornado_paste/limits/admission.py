"""Admission control for uploads: a per-client concurrency cap and a global byte budget.

Rate limits bound how often a client may start an upload; this bounds what is
in flight at once, so a few clients cannot hold every connection or fill the
disk with staging files. Bytes are reserved up front from ``Content-Length``
(refused before a byte is read) and, for bodies without one (chunked), as
they arrive. In memory per process, like the rate limiter.
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


class UploadCapacityFull(errors.Unavailable, UploadRefused):
    """The server's in-flight upload byte budget is spent (HTTP 503)."""

    code = "upload_capacity"
    reason = "capacity"
    retry_after = 2


class UploadTicket:
    """One admitted upload; ``release`` (idempotent) gives its slot and bytes back."""

    def __init__(self, gate: UploadGate, client: str, reserved: int) -> None:
        self._gate = gate
        self.client = client
        self.reserved = reserved
        self.released = False

    def need(self, total: int) -> None:
        """Make sure ``total`` body bytes are covered; raises UploadCapacityFull past the budget."""
        if self.released or total <= self.reserved:
            return
        extra = total - self.reserved
        self._gate._take_bytes(extra)
        self.reserved = total

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._gate._release(self)


class UploadGate:
    def __init__(self, max_per_client: int, max_inflight_bytes: int) -> None:
        # 0 disables either cap.
        self.max_per_client = max_per_client
        self.max_inflight_bytes = max_inflight_bytes
        self.inflight_bytes = 0
        self.per_client: Counter[str] = Counter()

    @property
    def inflight_uploads(self) -> int:
        return sum(self.per_client.values())

    def admit(self, client: str, declared: int | None) -> UploadTicket:
        """Admit an upload of ``declared`` bytes (None: unknown yet) or raise UploadRefused."""
        if self.max_per_client and self.per_client[client] >= self.max_per_client:
            raise TooManyUploads(f"at most {self.max_per_client} uploads at once per client; retry shortly")
        reserved = max(0, declared or 0)
        self._take_bytes(reserved)
        self.per_client[client] += 1
        return UploadTicket(self, client, reserved)

    def _take_bytes(self, amount: int) -> None:
        if self.max_inflight_bytes and self.inflight_bytes + amount > self.max_inflight_bytes:
            raise UploadCapacityFull("the server is receiving too much data right now; retry shortly")
        self.inflight_bytes += amount

    def _release(self, ticket: UploadTicket) -> None:
        self.inflight_bytes = max(0, self.inflight_bytes - ticket.reserved)
        self.per_client[ticket.client] -= 1
        if self.per_client[ticket.client] <= 0:
            del self.per_client[ticket.client]

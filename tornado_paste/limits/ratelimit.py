"""Per-client token buckets: separate budgets for uploads, resizes and reads.

State lives in this process's memory. With ``--processes N`` (or several
machines behind nginx) every process keeps its own buckets, so a client can
get up to N times a budget; nginx's ``limit_req`` is the place for a shared,
exact limit. The buckets are cheap (two floats per client and budget) and the
table is bounded: the least recently seen clients are forgotten first, which
only ever errs on the generous side (a forgotten bucket starts full again).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

UPLOAD = "upload"
RESIZE = "resize"
READ = "read"

# Routes that are never limited: probes and the operator's own endpoints.
EXEMPT_ROUTES = frozenset({"healthz", "metrics", "openapi"})
# Methods that send a new file (POST /, PUT /<name>, PUT /api/v1/files/<name>).
UPLOAD_METHODS = frozenset({"POST", "PUT"})


def budget_for(route_name: str, method: str) -> str | None:
    """Which budget a request spends, from its handler's ``route_name`` and method (None: free)."""
    if route_name in EXEMPT_ROUTES:
        return None
    if route_name in ("resize", "poster"):  # derivatives made on request share one budget
        return RESIZE
    if method.upper() in UPLOAD_METHODS:
        return UPLOAD
    return READ


@dataclass(frozen=True)
class Budget:
    rate: float  # tokens added per second (sustained requests/second)
    burst: int  # bucket size (requests allowed at once)

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against a bucket, with what the headers report."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the bucket is full again (X-RateLimit-Reset, delta seconds).
    reset: int
    # Seconds until one request would be allowed (Retry-After); 0 when allowed.
    retry_after: int
    budget: str

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """Token buckets keyed by (budget, client)."""

    def __init__(self, budgets: dict[str, Budget], max_clients: int = 100_000,
                 exempt: frozenset[str] | set[str] = frozenset(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budgets = {name: b for name, b in budgets.items() if b.enabled}
        self.max_clients = max(1, max_clients)
        self.exempt = frozenset(exempt)
        self._clock = clock
        # (budget, client) -> [tokens, last refill time]; ordered by last use for eviction.
        self._buckets: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, budget: str, client: str, cost: float = 1.0) -> Decision | None:
        """Spend ``cost`` tokens of ``client``'s ``budget``; None when that budget is unlimited."""
        spec = self.budgets.get(budget)
        if spec is None or client in self.exempt:
            return None
        now = self._clock()
        key = (budget, client)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [float(spec.burst), now]
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(float(spec.burst), bucket[0] + (now - bucket[1]) * spec.rate)
            bucket[1] = now
        allowed = bucket[0] >= cost
        if allowed:
            bucket[0] -= cost
        tokens = bucket[0]
        reset = math.ceil((spec.burst - tokens) / spec.rate)
        retry_after = 0 if allowed else max(1, math.ceil((cost - tokens) / spec.rate))
        return Decision(allowed, spec.burst, max(0, math.floor(tokens)), reset, retry_after, budget)

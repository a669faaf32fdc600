"""Abuse controls built from Settings: the per-client rate limiter and the upload gate."""

from __future__ import annotations

from dataclasses import dataclass

from settings import Settings
from tornado_paste.limits.admission import UploadGate
from tornado_paste.limits.feedgate import LONGPOLL, WS, FeedGate, total_cap
from tornado_paste.limits.ratelimit import READ, RESIZE, UPLOAD, Budget, RateLimiter


@dataclass
class Limits:
    rate: RateLimiter
    uploads: UploadGate
    # Seconds an upload may go without receiving a body byte before it is cut (0: never).
    upload_idle_timeout: float
    # Average bytes/s an upload must keep up once it is two idle periods old (0: no minimum).
    upload_min_rate: int = 0
    # The required average grows with the time held: upload_min_rate x (1 + elapsed / ramp) (0: flat).
    upload_min_rate_ramp: float = 0.0
    # Open WebSockets and long-polls, per client and in all (None: no caps).
    feeds: FeedGate | None = None


def build_limits(settings: Settings) -> Limits:
    s = settings
    budgets = {
        UPLOAD: Budget(s.ratelimit_upload_rate, s.ratelimit_upload_burst),
        RESIZE: Budget(s.ratelimit_resize_rate, s.ratelimit_resize_burst),
        READ: Budget(s.ratelimit_read_rate, s.ratelimit_read_burst),
    }
    return Limits(
        rate=RateLimiter(budgets, s.ratelimit_max_clients, frozenset(s.ratelimit_exempt)),
        uploads=UploadGate(s.upload_max_per_client, s.upload_max_inflight_bytes, s.upload_client_share),
        upload_idle_timeout=s.upload_idle_timeout,
        upload_min_rate=s.upload_min_rate,
        upload_min_rate_ramp=s.upload_min_rate_ramp,
        # The open-file limit as run.py left it (raised to the hard limit at start).
        feeds=FeedGate({WS: s.events_ws_max_per_client, LONGPOLL: s.events_longpoll_max_per_client},
                       total_cap(s.events_fd_share)),
    )

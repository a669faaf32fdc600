"""One error vocabulary: every refusal the service can give is a ``Refusal``.

A refusal is an answer, not a failure: the client (or the moment) is at fault and
can act on it. Each carries a machine-readable ``code``, a human ``message``, the
low-cardinality ``reason`` used in ``upload.refused.<reason>`` metrics, and for
"not now" answers a ``retry_after`` in seconds. Features subclass the kinds
below; ``handlers/errors.py`` holds the one table from kind to HTTP status, so
nothing here knows HTTP.

Imports nothing from the package: every layer may import it.
"""

from __future__ import annotations

import asyncio


class Refusal(Exception):
    code = "bad_request"
    reason = "bad_request"
    retry_after: float | None = None

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after


# -- kinds (each maps to one status in handlers/errors.py) -------------------------------------

class BadRequest(Refusal):
    """Malformed or contradictory input."""


class Forbidden(Refusal):
    code = "forbidden"


class NotFound(Refusal):
    code = "not_found"


class Gone(Refusal):
    code = "gone"


class Conflict(Refusal):
    code = "conflict"


class Busy(Refusal):
    """Held by another request right now (a lock); retry shortly."""

    code = "locked"


class Blocked(Refusal):
    """The content is on the operator's blocklist (451, RFC 7725): refused on upload, on every link."""

    code = "blocked"
    reason = "blocked"


class TooLarge(Refusal):
    code = "too_large"
    reason = "size"


class TypeRefused(Refusal):
    code = "type_refused"
    reason = "type"


class ChecksumMismatch(Refusal):
    code = "checksum_mismatch"


class Unprocessable(Refusal):
    """The request and the file are fine; the work it would take is refused (422)."""

    code = "unprocessable"


class ClientClosed(Refusal):
    """The client went away before its request was done; nobody reads the answer (499, as nginx logs it)."""

    code = "client_closed"
    reason = "aborted"


class TooMany(Refusal):
    """This client has used its share; it may retry later (429)."""

    code = "rate_limited"
    retry_after = 1


class Unavailable(Refusal):
    """The service cannot do this now (a dependency down, a budget spent); retry later (503)."""

    code = "unavailable"
    reason = "error"
    retry_after = 2


class InsufficientStorage(Refusal):
    code = "insufficient_storage"
    reason = "storage"


# Why an upload did not become a file: the only values of ``upload.refused.<reason>``.
# Client faults: size, type, bad_request; the client went away or stalled: aborted, idle, slow;
# admission limits: concurrency (per-client cap), capacity (byte budget); the operator: blocked (blocklist);
# ours: storage (disk), error.
REFUSAL_REASONS = frozenset({"size", "type", "bad_request", "aborted", "idle", "slow", "concurrency", "capacity",
                             "client_share", "blocked", "storage", "error"})


def reason_of(exc: BaseException) -> str:
    """The metric reason for anything that ended an upload (refusals carry their own)."""
    if isinstance(exc, Refusal):
        return exc.reason if exc.reason in REFUSAL_REASONS else "error"
    if isinstance(exc, asyncio.CancelledError):
        return "aborted"
    if isinstance(exc, OSError):
        return "storage"
    return "error"  # bugs

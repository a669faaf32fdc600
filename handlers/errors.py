"""The one table from refusal kind to HTTP status, and the JSON error every handler answers with.

The core raises ``tornado_paste.errors.Refusal`` subclasses and knows nothing of
HTTP; this is the bridge. Feature errors inherit a kind (``TooLarge``,
``Unavailable``...), so a new feature error needs no new row here.
"""

from __future__ import annotations

import http.client

import tornado.web

from tornado_paste import errors

STATUS_OF: list[tuple[type[errors.Refusal], int]] = [
    (errors.TooLarge, 413),
    (errors.TypeRefused, 415),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Gone, 410),
    (errors.Blocked, 451),
    (errors.Conflict, 409),
    (errors.Busy, 423),
    (errors.Unprocessable, 422),
    (errors.ClientClosed, 499),
    (errors.ChecksumMismatch, 460),
    (errors.TooMany, 429),
    (errors.Unavailable, 503),
    (errors.InsufficientStorage, 507),
    (errors.Refusal, 400),
]
# Statuses http.client has no phrase for (WebDAV's 423, tus's 460).
REASON_PHRASES = {423: "Locked", 460: "Checksum Mismatch", 499: "Client Closed Request"}

DEFAULT_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 410: "gone", 411: "length_required", 412: "precondition_failed",
    413: "too_large", 415: "unsupported_media_type", 416: "range_not_satisfiable", 422: "unprocessable",
    429: "rate_limited", 431: "headers_too_large", 451: "blocked", 499: "client_closed", 500: "internal_error",
    503: "unavailable", 507: "insufficient_storage",
}

RETRY_AFTER_SECONDS = 2


class APIError(tornado.web.HTTPError):
    """An HTTP error with a machine-readable ``code`` and a human ``message``."""

    def __init__(self, status: int, code: str | None = None, message: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, log_message=message, reason=REASON_PHRASES.get(status))
        self.code = code or DEFAULT_CODES.get(status, "error")
        self.message = message or http.client.responses.get(status) or REASON_PHRASES.get(status, "Error")
        self.headers = headers or {}


def status_of(exc: errors.Refusal) -> int:
    for kind, status in STATUS_OF:
        if isinstance(exc, kind):
            return status
    raise AssertionError("Refusal is the last row")


def refusal_to_api(exc: BaseException) -> APIError | None:
    """The HTTP form of a refusal (None for anything else: a bug, answered 500)."""
    if not isinstance(exc, errors.Refusal):
        return None
    status = status_of(exc)
    headers = {}
    if status in (429, 503):
        headers["Retry-After"] = str(int(exc.retry_after or RETRY_AFTER_SECONDS))
    return APIError(status, exc.code or DEFAULT_CODES.get(status), exc.message or str(exc) or None, headers)

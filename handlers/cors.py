"""CORS for browser clients on other origins (setting ``cors_origins``): the API and tus routes.

Off when ``cors_origins`` is empty. With a list, a listed ``Origin`` is echoed back (with
``Vary: Origin``, and ``Access-Control-Allow-Credentials`` only if ``cors_allow_credentials``);
with ``*`` the answer is the literal ``*`` and credentials are never allowed (settings.py refuses
the combination, and browsers would too). Preflights (``OPTIONS`` + ``Access-Control-Request-Method``)
are answered 204 before rate limits, with the methods and headers tus needs; every answer,
errors included, exposes the headers clients read (tus offsets, the delete token, paging, rate limits).
"""

from __future__ import annotations

import tornado.web

from settings import Settings

EXPOSE_HEADERS = ", ".join((
    "Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Version", "Tus-Resumable", "Tus-Max-Size",
    "Tus-Extension", "X-Delete-Token", "Link", "X-Total-Count", "X-RateLimit-Limit", "X-RateLimit-Remaining",
    "X-RateLimit-Reset", "Retry-After",
    # tus answers name the finished file here; Upload-* of HEAD; Repr-Digest of file answers.
    "X-File-Location", "Upload-Metadata", "Upload-Defer-Length", "Upload-Concat", "Tus-Checksum-Algorithm",
))
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = ", ".join((
    "Accept", "Content-Type", "Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata",
    "Upload-Defer-Length", "Upload-Concat", "Upload-Checksum", "X-Delete-Token", "X-HTTP-Method-Override",
    "X-Requested-With",
))
# Where CORS applies: the JSON API and tus (pages, /i/ and /d/ are for browsers on this origin or <img>).
PREFIXES = ("/api/",)


def allowed_origin(settings: Settings, origin: str | None) -> str | None:
    """What ``Access-Control-Allow-Origin`` says for this ``Origin`` (None: nothing, CORS refused)."""
    if not origin or not settings.cors_origins:
        return None
    if "*" in settings.cors_origins:
        return "*"
    return origin if origin in settings.cors_origins else None


def applies(handler: tornado.web.RequestHandler) -> bool:
    return bool(handler.settings["services"].settings.cors_origins) and handler.request.path.startswith(PREFIXES)


def add_cors_headers(handler: tornado.web.RequestHandler) -> None:
    """On every answer of a CORS route (called from ``set_default_headers``, so errors carry them too)."""
    if not applies(handler):
        return
    settings: Settings = handler.settings["services"].settings
    if "*" not in settings.cors_origins:
        handler.add_header("Vary", "Origin")  # the answer depends on who asks
    allowed = allowed_origin(settings, handler.request.headers.get("Origin"))
    if allowed is None:
        return
    handler.set_header("Access-Control-Allow-Origin", allowed)
    handler.set_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)
    if settings.cors_allow_credentials and allowed != "*":
        handler.set_header("Access-Control-Allow-Credentials", "true")


def is_preflight(handler: tornado.web.RequestHandler) -> bool:
    headers = handler.request.headers
    return (handler.request.method == "OPTIONS" and "Origin" in headers
            and "Access-Control-Request-Method" in headers and applies(handler))


def answer_preflight(handler: tornado.web.RequestHandler) -> None:
    """204 with what the browser asked about; a refused origin gets no Allow-* (the browser blocks)."""
    settings: Settings = handler.settings["services"].settings
    if allowed_origin(settings, handler.request.headers.get("Origin")) is not None:
        handler.set_header("Access-Control-Allow-Methods", ALLOW_METHODS)
        handler.set_header("Access-Control-Allow-Headers", ALLOW_HEADERS)
        handler.set_header("Access-Control-Max-Age", str(settings.cors_max_age))
    handler.clear_header("Content-Type")
    handler.set_status(204)
    handler.finish()

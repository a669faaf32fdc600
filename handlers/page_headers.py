"""Headers every HTML page carries (pages, error pages), kept apart so base.py can use them too."""

from __future__ import annotations

import tornado.web

# Pages run only our own scripts: a filename or a text file can never become code here.
# 'self' also covers ws:// to the same host for the live feed; blob: is for local thumbnails.
PAGE_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self'",
    "object-src 'self'",
    "frame-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


def set_page_headers(handler: tornado.web.RequestHandler) -> None:
    """CSP and caching for an HTML page (pages show live data: revalidate every time)."""
    handler.set_header("Content-Security-Policy", PAGE_CSP)
    handler.set_header("Cache-Control", "no-cache")

"""Headers every HTML page carries (pages, error pages), kept apart so base.py can use them too."""

from __future__ import annotations

import functools
import urllib.parse

import tornado.web

# Where the pages' own scripts and style sheets live (the app's static_url_prefix).
STATIC_PATH = "/static/"


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@functools.lru_cache(maxsize=8)
def page_csp(public_base_url: str, content_base_url: str = "") -> str:
    """The pages' Content-Security-Policy.

    Scripts and style sheets only from ``<public origin>/static/``: a path-restricted source (CSP
    matches paths only on host-sources, hence the absolute URL), so nothing a user uploaded (/i/,
    /d/, /r/ are on the same origin) can ever be a script or style of a page, even after an HTML
    injection; 'self' would have allowed an uploaded ES module. 'self' still covers ws:// to the same
    host for the live feed; blob: is for local thumbnails. A separate content origin
    (``content_base_url``) is allowed where pages show files: images, media, PDFs, frames, fetches.
    """
    static = origin_of(public_base_url) + STATIC_PATH
    content = ""
    if content_base_url and origin_of(content_base_url) != origin_of(public_base_url):
        content = " " + origin_of(content_base_url)
    return "; ".join((
        "default-src 'self'",
        f"script-src {static}",
        f"style-src {static}",
        f"img-src 'self' data: blob:{content}",
        f"media-src 'self'{content}",
        f"object-src 'self'{content}",
        f"frame-src 'self'{content}",
        f"connect-src 'self'{content}",
        "worker-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def set_page_headers(handler: tornado.web.RequestHandler) -> None:
    """CSP and caching for an HTML page (pages show live data: revalidate every time)."""
    settings = handler.application.settings["services"].settings
    handler.set_header("Content-Security-Policy", page_csp(settings.public_base_url, settings.content_base_url))
    handler.set_header("Cache-Control", "no-cache")

"""Server-rendered pages (autoescaped templates)."""

from __future__ import annotations

import functools
import io
import os
import urllib.parse

import segno

from handlers.base import BaseHandler
from handlers.files import find_file, served_type
from handlers.guard import require_unlocked
from handlers.page_headers import set_page_headers
from tornado_paste.core.records import is_active, is_expired
from tornado_paste.previews.excerpt import text_excerpt
from tornado_paste.previews.unfurl import duration_text, is_unfurler, meta_tags


@functools.lru_cache(maxsize=512)
def qr_svg(url: str) -> str:
    """An inline SVG QR code for a (short) link; dark on light so phones read it in dark mode too."""
    return segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff", border=2, omitsize=True)


@functools.lru_cache(maxsize=512)
def qr_svg_document(url: str) -> bytes:
    """The same QR code as a standalone SVG file (for <img> on the upload page's cards)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, dark="#000", light="#fff", border=2)
    return out.getvalue()


def split_url(url: str) -> tuple[str, str]:
    """(head, end) of a link, the end being its last two segments (``/s/<code>``, ``/p/<filehash>``):
    pages let a link wrap between the two, never inside the end (static/js/cards.js urlText)."""
    cut = url.rfind("/", 0, max(0, url.rfind("/")))
    return (url[:cut], url[cut:]) if cut > 0 else ("", url)


class QRCodeHandler(BaseHandler):
    """``/p/<filehash>/qr.svg``: a QR code of the file's short link."""

    route_name = "qr"

    async def get(self, filehash: str) -> None:
        record = await find_file(self, filehash)
        svg = qr_svg_document(self.services.links.short(record))
        self.set_header("Content-Type", "image/svg+xml")
        # Our own drawing, but an SVG all the same: nothing in it may run or load.
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.finish(svg)


class PreviewHandler(BaseHandler):
    """``/p/<filehash>``: what the file is, a preview, its links and embed snippets."""

    route_name = "preview"
    html_errors = True

    async def get(self, filehash: str) -> None:
        record = await find_file(self, filehash)
        require_unlocked(self, record)
        links = self.services.links
        previews = self.services.previews
        card = links.card(record)
        unfurler = is_unfurler(self.request.headers.get("User-Agent"), self.request.method, self.request.headers)
        oembed_url = f"{links.base}/api/v1/oembed?" + urllib.parse.urlencode({"url": card["url_p"], "format": "json"})
        set_page_headers(self)
        if record.private:
            # Unlisted: reachable by its link, never listed; a search engine that finds the link must not index it.
            self.set_header("X-Robots-Tag", "noindex, nofollow")
        if unfurler:
            self.services.metrics.incr("unfurl.preview")
            if record.private:
                # Nothing of a private file for link previews: no name, no size, no picture.
                self.render("unfurl_private.html", tags=meta_tags(card, None), oembed_url=oembed_url)
                return
        # An active type (SVG, HTML, XML, scripts) is served as text/plain (handlers/files.py served_type):
        # an <img> of an SVG would show nothing, so the page shows such files as text.
        view = record.kind
        if is_active(record.mimetype):
            view = "text" if served_type(record.mimetype).startswith("text/plain") else "binary"
        if record.max_downloads is not None:
            # Showing the bytes here (an <img>, an excerpt) would use up a download: only the button does.
            self.set_header("Cache-Control", "no-store")
            self.render("preview.html", card=card, view="limited", excerpt=None, highlighted=None, parent=None,
                        poster=None, tags=meta_tags(card, None), oembed_url=oembed_url, qr=qr_svg(card["url_s"]),
                        duration_text=duration_text, split_url=split_url)
            return
        highlighted = await previews.text.highlighted(record) if view == "text" else None
        excerpt = await text_excerpt(self.services.blobs, record) if view == "text" and not highlighted else None
        # A poster is a derivative: an unguarded copy of a guarded file's picture (shares allow none).
        poster_record = await previews.poster_for_page(record) if not record.guarded else None
        poster = links.card(poster_record) if poster_record is not None else None
        parent = None
        if record.parent_id is not None and not record.private:
            # Only a public parent is named: a copy of a private file says nothing of it.
            parent_record = await self.services.store.get_by_id(record.parent_id)
            if parent_record is not None and not parent_record.private and not is_expired(parent_record):
                parent = links.card(parent_record)
        if record.password_hash is not None:
            self.set_header("Cache-Control", "no-store")
        self.render("preview.html", card=card, view=view, excerpt=excerpt, highlighted=highlighted, parent=parent,
                    poster=poster, tags=meta_tags(card, poster), oembed_url=oembed_url, qr=qr_svg(card["url_s"]),
                    duration_text=duration_text, split_url=split_url)


STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
# Vendored by `make vendor-swagger-ui` (pinned swagger-ui-dist); absent in a bare checkout.
SWAGGER_UI = "vendor/swagger-ui/swagger-ui-bundle.js"


class APIReferenceHandler(BaseHandler):
    """``/api/v1/docs``: docs/openapi.yaml rendered by Swagger UI (served from static/, under the page CSP)."""

    route_name = "api_docs"
    html_errors = True

    def get(self) -> None:
        set_page_headers(self)
        viewer = os.path.exists(os.path.join(STATIC_DIR, SWAGGER_UI))
        self.render("api.html", viewer=viewer)

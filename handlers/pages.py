"""Server-rendered pages (autoescaped templates)."""

from __future__ import annotations

import functools
import io

import segno

from handlers.base import BaseHandler
from handlers.files import find_file, served_type
from handlers.guard import require_unlocked
from handlers.page_headers import set_page_headers
from tornado_paste.core.records import is_active
from tornado_paste.previews.excerpt import text_excerpt


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
        card = links.card(record)
        # An active type (SVG, HTML, XML, scripts) is served as text/plain (handlers/files.py served_type):
        # an <img> of an SVG would show nothing, so the page shows such files as text.
        view = record.kind
        if is_active(record.mimetype):
            view = "text" if served_type(record.mimetype).startswith("text/plain") else "binary"
        if record.max_downloads is not None:
            # Showing the bytes here (an <img>, an excerpt) would use up a download: only the button does.
            view = "limited"
            set_page_headers(self)
            self.set_header("Cache-Control", "no-store")
            self.render("preview.html", card=card, view=view, excerpt=None, parent=None, qr=qr_svg(card["url_s"]))
            return
        excerpt = await text_excerpt(self.services.blobs, record) if view == "text" else None
        parent = None
        if record.parent_id is not None:
            parent_record = await self.services.store.get_by_id(record.parent_id)
            parent = links.card(parent_record) if parent_record is not None else None
        set_page_headers(self)
        if record.password_hash is not None:
            self.set_header("Cache-Control", "no-store")
        self.render("preview.html", card=card, view=view, excerpt=excerpt, parent=parent, qr=qr_svg(card["url_s"]))

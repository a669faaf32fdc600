"""Server-rendered pages (autoescaped templates)."""

from __future__ import annotations

from handlers.base import BaseHandler
from handlers.files import find_file


class PreviewHandler(BaseHandler):
    """``/p/<filehash>``: what the file is, a preview, its links and embed snippets."""

    route_name = "preview"
    html_errors = True

    async def get(self, filehash: str) -> None:
        record = await find_file(self, filehash)
        card = self.services.links.card(record)
        self.set_header("Cache-Control", "no-cache")
        self.render("preview.html", card=card, record=record)

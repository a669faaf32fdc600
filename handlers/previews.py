"""``GET /t/<filehash>``: the poster (video), first-page thumbnail (PDF) or cover art (audio) of a file,
and ``GET /api/v1/oembed?url=``: the oEmbed answer for a preview page.

Thin: ask the preview service (tornado_paste.previews.service), answer like ``/r/`` (302 to the
derivative's raw URL, or its card for JSON/msgpack). Refusals are core exceptions mapped in
handlers/errors.py (415 no preview for this type, 404 no cover art, 422 refused within the tool
limits, 503 busy or tools missing).
"""

from __future__ import annotations

import re
import urllib.parse

from handlers.base import APIError, BaseHandler
from handlers.files import FILEHASH_PATTERN, find_file
from handlers.guard import require_unlocked
from handlers.resize import REDIRECT_MAX_AGE, card_type
from tornado_paste.previews.unfurl import oembed

_PREVIEW_PATH = re.compile(rf"^/p/({FILEHASH_PATTERN})/?$")


class PosterHandler(BaseHandler):
    route_name = "poster"

    async def get(self, filehash: str) -> None:
        media = card_type(self.request.headers.get("Accept"))
        parent = await find_file(self, filehash)
        require_unlocked(self, parent)
        if parent.guarded:
            # A poster is a new, unguarded file: it would show the bytes past the password or the count.
            raise APIError(403, "guarded_file", "a file with a password or a download limit has no posters")
        made = await self.services.previews.poster(parent)
        links = self.services.links
        if media is None:
            self.set_header("Cache-Control", f"public, max-age={REDIRECT_MAX_AGE}")
            self.redirect(links.raw(made.record), status=302)
            return
        card = links.card(made.record)
        if made.created:
            self.set_header("Location", card["url_api"])
        self.send_data(card, 201 if made.created else 200, media_type=media)

    async def head(self, filehash: str) -> None:
        # Unfurlers check og:image with HEAD: same redirect, no body.
        await self.get(filehash)


class OEmbedHandler(BaseHandler):
    """oEmbed 1.0 (https://oembed.com): ``url`` must be one of our preview pages; JSON only."""

    route_name = "oembed"

    async def get(self) -> None:
        url = self.get_query_argument("url", "")
        fmt = self.get_query_argument("format", "json")
        if fmt == "xml":  # what the oEmbed spec answers for a format the provider does not produce
            raise APIError(501, "format_not_supported", "this oEmbed endpoint answers JSON only")
        if fmt != "json":
            raise APIError(400, message="format must be json")
        links = self.services.links
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlsplit(links.base)
        match = _PREVIEW_PATH.match(parts.path)
        if parts.netloc != base.netloc or match is None:
            raise APIError(404, message="url is not a preview page of this server")
        record = await find_file(self, match.group(1))
        require_unlocked(self, record)  # a password hides even the name
        poster = None
        if not record.private and not record.guarded:
            poster = await self.services.previews.poster_for_page(record) if record.kind != "image" else None
        data = oembed(links.card(record), links.base, poster and links.card(poster),
                      _int_arg(self, "maxwidth"), _int_arg(self, "maxheight"))
        self.set_header("Cache-Control", "public, max-age=300")
        self.send_data(data, media_type="application/json")


def _int_arg(handler: BaseHandler, name: str) -> int | None:
    raw = handler.get_query_argument(name, None)
    if raw is None or not raw.isdigit() or len(raw) > 6:
        return None
    return int(raw) or None

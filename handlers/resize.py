"""``GET /r/<filehash>?w=&h=&mode=&format=&upscale=`` (crop-resize on upload is ``ImageService.resize_upload``).

Thin: parse, ask the image service (tornado_paste.images.service) on behalf of the
client's address (its fair share of the image executor), render the answer.
Refusals are core exceptions mapped in handlers/errors.py (415 not an image or
unsupported, 400 bad parameters/corrupt/too large, 429 + Retry-After when this
client holds its share of the executor, 503 + Retry-After when it is full).
"""

from __future__ import annotations

from handlers.base import APIError, BaseHandler
from handlers.files import find_file
from handlers.guard import require_unlocked
from handlers.negotiation import JSON, MSGPACK, parse_accept
from tornado_paste.images.formats import AUTO, negotiate

_CARD_TYPES = {JSON: JSON, MSGPACK: MSGPACK, "application/x-msgpack": MSGPACK}
# The derivative behind a given URL changes only if it is deleted (then /i/ answers 404 anyway).
REDIRECT_MAX_AGE = 3600


def card_type(accept: str | None) -> str | None:
    """JSON/msgpack when ``Accept`` names one at least as highly as any image type; else None (redirect).

    ``*/*`` alone (what ``<img>`` and curl send) means the picture, not the card.
    """
    best_card: tuple[float, str] | None = None
    best_image = 0.0
    for media, q in parse_accept(accept or ""):
        if q <= 0:
            continue
        if media in _CARD_TYPES and best_card is None:
            best_card = (q, _CARD_TYPES[media])
        elif media.startswith("image/"):
            best_image = max(best_image, q)
    if best_card is not None and best_card[0] >= best_image:
        return best_card[1]
    return None


class ResizeHandler(BaseHandler):
    route_name = "resize"

    async def get(self, filehash: str) -> None:
        images = self.services.images
        media = card_type(self.request.headers.get("Accept"))
        request = images.parse(self.get_query_argument("w", None), self.get_query_argument("h", None),
                               self.get_query_argument("mode", None), self.get_query_argument("format", None),
                               self.get_query_argument("upscale", None))
        parent = await find_file(self, filehash)
        require_unlocked(self, parent)
        if parent.guarded:
            # A resized copy is a new, unguarded file: it would leak the bytes past the password or the count.
            raise APIError(403, "guarded_file", "a file with a password or a download limit has no resized copies")
        if request.format == AUTO:
            # The answer depends on what the client decodes: caches must key it on Accept.
            self.set_header("Vary", "Accept")
            request = negotiate(request, self.request.headers.get("Accept"), parent.mimetype)
        derived = await images.derive(parent, request, client=self.request.remote_ip or "unknown")
        links = self.services.links
        if media is None:
            self.set_header("Cache-Control", f"public, max-age={REDIRECT_MAX_AGE}")
            self.redirect(links.raw(derived.record), status=302)
            return
        card = links.card(derived.record)  # never the delete token: a GET is anyone's
        if derived.created:
            self.set_header("Location", card["url_api"])
        self.send_data(card, 201 if derived.created else 200, media_type=media)

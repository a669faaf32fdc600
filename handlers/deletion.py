"""``/delete/<filehash>``: deleting from a browser (ShareX opens its DeletionURL with GET).

GET never deletes: it shows a confirmation page whose form POSTs the token back. The token
comes in the link's fragment (``/delete/<filehash>#<token>``: never sent to any server, so
never in an access log; static/js/delete.js moves it into the form) or, for clients that
cannot keep a fragment, in the query (``?token=``; our access log redacts it, see
handlers/access_log.py). POST takes it from the form body (``token``) or ``X-Delete-Token``.
"""

from __future__ import annotations

from typing import Any

from handlers.base import APIError, BaseHandler
from handlers.files import find_file
from handlers.negotiation import JSON, MSGPACK, prefers
from handlers.page_headers import set_page_headers
from tornado_paste.core.cards import Links
from tornado_paste.core.records import FileRecord


def delete_url(links: Links, record: FileRecord, token: str) -> str:
    """The browser deletion link of a file: its token in the fragment, which no server ever sees."""
    return f"{links.base}/delete/{record.filehash}#{token}"


class DeletePageHandler(BaseHandler):
    route_name = "delete_page"
    html_errors = True

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # A token may be in this page's URL: it must not leave in a Referer or stay in a cache.
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Robots-Tag", "noindex")

    def _page(self, template: str, **kwargs: Any) -> None:
        set_page_headers(self)
        self.set_header("Cache-Control", "no-store")
        self.render(template, **kwargs)

    async def get(self, filehash: str) -> None:
        record = await find_file(self, filehash, allow_blocked=True)
        token = self.get_query_argument("token", "")
        self._page("delete.html", card=self.services.links.card(record), token=token, done=False)

    async def post(self, filehash: str) -> None:
        record = await find_file(self, filehash, allow_blocked=True)
        token = self.get_body_argument("token", "") or self.request.headers.get("X-Delete-Token", "")
        if not token:
            raise APIError(401, "token_required", "send the delete token in the form field 'token' or X-Delete-Token",
                           headers={"WWW-Authenticate": 'Token realm="delete"'})
        card = self.services.links.card(record)
        await self.services.ingestor.delete(record, token)
        best = prefers(self.request.headers.get("Accept"), ("text/html", JSON, MSGPACK))
        if best in (JSON, MSGPACK):
            self.send_data({"deleted": record.filehash}, media_type=best)
            return
        self._page("delete.html", card=card, token="", done=True)

"""Share pages: a collection (``/c/<code>``) and the manage pages (``/m/<filehash>``, ``/m/c/<code>``).

A manage page's token is in the URL's fragment (``#<token>``): browsers never send it, so it reaches
no server log; the page's script reads it and sends it in ``X-Manage-Token``.
"""

from __future__ import annotations

from handlers.base import BaseHandler
from handlers.files import find_file
from handlers.guard import require_unlocked
from handlers.page_headers import set_page_headers


class CollectionPageHandler(BaseHandler):
    route_name = "collection"
    html_errors = True

    async def get(self, code: str) -> None:
        collections = self.services.shares.collections
        coll = await collections.get(code)
        require_unlocked(self, coll)
        card = await collections.card(coll)
        set_page_headers(self)
        self.set_header("Cache-Control", "no-store")
        self.render("collection.html", card=card)


class ManageFilePageHandler(BaseHandler):
    route_name = "manage"
    html_errors = True

    async def get(self, filehash: str) -> None:
        record = await find_file(self, filehash)
        card = self.services.links.card(record)
        set_page_headers(self)
        self.set_header("Cache-Control", "no-store")
        self.render("manage.html", card=card, policy=self.services.shares.policy.describe())


class ManageCollectionPageHandler(BaseHandler):
    route_name = "manage"
    html_errors = True

    async def get(self, code: str) -> None:
        coll = await self.services.shares.collections.get(code)
        set_page_headers(self)
        self.set_header("Cache-Control", "no-store")
        self.render("manage_collection.html", code=coll.code, title=coll.title,
                    policy=self.services.shares.policy.describe())

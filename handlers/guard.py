"""The gate in front of a guarded file's bytes (and a collection's): its password and its download count.

A password-protected file or collection answers 401 until the client shows a grant for it: the
HttpOnly cookie the unlock form sets (browsers), or the ``X-Paste-Unlock`` header (API clients). A
browser gets the unlock page with that 401, everything else the JSON error. A file with a download
limit is counted here, before the answer starts (tornado_paste/shares/files.py says what counts);
link unfurlers get 403 instead of using one up.
"""

from __future__ import annotations

from typing import Any

from handlers.base import APIError, BaseHandler
from handlers.page_headers import set_page_headers
from tornado_paste.core.records import CollectionRecord, FileRecord

UNLOCK_HEADER = "X-Paste-Unlock"


def target_of(thing: FileRecord | CollectionRecord) -> str:
    return thing.filehash if isinstance(thing, FileRecord) else f"c:{thing.code}"


def cookie_name(target: str) -> str:
    return "tpu_" + target.replace(":", "_")


def unlocked(handler: BaseHandler, thing: FileRecord | CollectionRecord) -> bool:
    """No password, or a valid grant for exactly this file or collection."""
    if thing.password_hash is None:
        return True
    target = target_of(thing)
    passwords = handler.services.shares.passwords
    secret = thing.password_hash
    return passwords.grant_valid(handler.request.headers.get(UNLOCK_HEADER), target, secret) or \
        passwords.grant_valid(handler.get_cookie(cookie_name(target)), target, secret)


class Locked(APIError):
    """401 with the unlock page (browsers) or the JSON error (API clients)."""

    def __init__(self, target: str, title: str, unlock_url: str) -> None:
        super().__init__(401, "password_required", f"{title or 'this'} is protected by a password; unlock it first",
                         headers={"WWW-Authenticate": 'Paste-Unlock realm="tornado-paste"',
                                  "Cache-Control": "no-store"})
        self.target = target
        self.title = title
        self.unlock_url = unlock_url

    def render_page(self, handler: BaseHandler) -> bool:
        """The unlock page, for a browser (``BaseHandler.write_error`` calls this)."""
        for name, value in self.headers.items():
            handler.set_header(name, value)
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        set_page_headers(handler)
        handler.set_header("Cache-Control", "no-store")
        handler.render("unlock.html", action=self.unlock_url, next_url=handler.request.path, title=self.title,
                       error=None)
        return True


def require_unlocked(handler: BaseHandler, thing: FileRecord | CollectionRecord) -> None:
    if unlocked(handler, thing):
        return
    base = handler.services.links.base
    if isinstance(thing, FileRecord):
        raise Locked(thing.filehash, "this file", f"{base}/api/v1/files/{thing.filehash}/unlock")
    raise Locked(f"c:{thing.code}", "this collection", f"{base}/api/v1/collections/{thing.code}/unlock")


async def gate_download(handler: BaseHandler, record: FileRecord, counts: bool) -> None:
    """Password first, then (for an answer that carries bytes) one download of a limited file."""
    require_unlocked(handler, record)
    if record.max_downloads is None or not counts:
        return
    headers: Any = handler.request.headers
    shares = handler.services.shares
    if shares.files.is_unfurler(headers.get("User-Agent"), handler.request.method, headers):
        raise APIError(403, "unfurler_refused", "link previews do not use up a download of a limited file")
    await shares.files.claim_download(record)

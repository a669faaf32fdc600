"""The share API: ``/api/v1/collections`` (create, get, change, delete, add/remove files) and the
unlock endpoints of password-protected files and collections. Thin: parse, call tornado_paste.shares."""

from __future__ import annotations

from typing import Any

from handlers.base import APIError, BaseHandler
from handlers.bodies import parse_body
from handlers.files import find_file
from handlers.guard import cookie_name, require_unlocked, target_of
from handlers.page_headers import set_page_headers
from tornado_paste.core.records import CollectionRecord, FileRecord
from tornado_paste.shares.cards import manage_links
from tornado_paste.shares.passwords import WrongPassword
from tornado_paste.shares.requests import REQUEST_FIELDS

# Form bodies (curl -d) give a request link's limits at the top level; the link's own expiry is this one.
FORM_REQUEST_FIELDS = REQUEST_FIELDS - {"expires"}


def manage_token(handler: BaseHandler) -> str | None:
    headers = handler.request.headers
    return headers.get("X-Manage-Token") or headers.get("X-Delete-Token") or handler.get_query_argument("token", None)


def require_token(handler: BaseHandler) -> str:
    token = manage_token(handler)
    if not token:
        raise APIError(401, "token_required", "send the collection's manage token in X-Manage-Token",
                       headers={"WWW-Authenticate": 'Token realm="manage"'})
    return token


def wanted_files(value: Any) -> list[tuple[str, str | None]]:
    """``["<filehash>", {"filehash": ..., "token": ...}, ...]`` -> (filehash, token) pairs."""
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list) or len(value) > 1000:
        raise APIError(400, "bad_parameter", "'files' must be a list of filehashes or {filehash, token} objects")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("filehash"), str) and (
                item.get("token") is None or isinstance(item.get("token"), str)):
            out.append((item["filehash"], item.get("token")))
        else:
            raise APIError(400, "bad_parameter", "'files' must be a list of filehashes or {filehash, token} objects")
    return out


class CollectionsHandler(BaseHandler):
    """``POST /api/v1/collections``: a new collection (with ``request`` limits: an upload request too)."""

    route_name = "api_collections"

    async def post(self) -> None:
        media = self.api_type()
        form = self.request.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
        body = parse_body(self.request.headers.get("Content-Type"), self.request.body)
        request = body.pop("request", None)
        if form:
            limits = {k: body.pop(k) for k in list(body) if k in FORM_REQUEST_FIELDS}
            if "request_expires" in body:
                limits["expires"] = body.pop("request_expires")
            request = limits if (limits or request) else None
        files = body.pop("files", None)
        shares = self.services.shares
        if request is not None:
            if not isinstance(request, dict):
                raise APIError(400, "bad_parameter", "'request' must be an object of upload-request limits")
            coll, token, code = await shares.requests.create(body, request)
        else:
            coll, token = await shares.collections.create(body)
            code = None
        if files:
            try:
                await shares.collections.add(coll, token, wanted_files(files))
            except BaseException:
                await shares.collections.remove_collection(coll)  # all or nothing
                raise
        card = await shares.collections.card(coll, manager=True)
        card.update(manage_links(self.services.links, coll, token, code))
        self.set_header("Location", card["url_api"])
        self.send_data(card, 201, media_type=media)


class CollectionHandler(BaseHandler):
    """``/api/v1/collections/<code>``: GET (anyone with the code; the manager sees more), PATCH, DELETE."""

    route_name = "api_collection"

    async def collection(self, code: str) -> CollectionRecord:
        return await self.services.shares.collections.get(code)

    async def get(self, code: str) -> None:
        media = self.api_type()
        coll = await self.collection(code)
        shares = self.services.shares.collections
        token = manage_token(self)
        if token:
            shares.check_token(coll, token)
        else:
            require_unlocked(self, coll)
        self.set_header("Cache-Control", "no-store")
        self.send_data(await shares.card(coll, manager=bool(token)), media_type=media)

    async def patch(self, code: str) -> None:
        media = self.api_type()
        coll = await self.collection(code)
        token = require_token(self)
        changes = parse_body(self.request.headers.get("Content-Type"), self.request.body)
        shares = self.services.shares
        close = changes.pop("request_open", None)
        coll = await shares.collections.update(coll, token, changes)
        if close is False or close == "0":
            coll = await shares.requests.close(coll, token)
        self.send_data(await shares.collections.card(coll, manager=True), media_type=media)

    async def delete(self, code: str) -> None:
        media = self.api_type()
        coll = await self.collection(code)
        await self.services.shares.collections.delete(coll, require_token(self))
        self.send_data({"deleted": coll.code}, media_type=media)


class CollectionFilesHandler(BaseHandler):
    """``POST /api/v1/collections/<code>/files`` adds files; ``DELETE .../files/<filehash>`` takes one out."""

    route_name = "api_collection"

    async def post(self, code: str, filehash: str | None = None) -> None:
        if filehash is not None:
            raise APIError(405, message="POST files to the collection's /files; DELETE takes one out")
        media = self.api_type()
        shares = self.services.shares.collections
        coll = await shares.get(code)
        token = require_token(self)
        body = parse_body(self.request.headers.get("Content-Type"), self.request.body)
        if "files" in body:
            wanted = wanted_files(body["files"])
        elif isinstance(body.get("filehash"), str):
            wanted = wanted_files({"filehash": body["filehash"], "token": body.get("token")})
        else:
            raise APIError(400, "bad_parameter", "send 'files' (a list) or one 'filehash' (with its 'token')")
        await shares.add(coll, token, wanted)
        self.send_data(await shares.card(coll, manager=True), media_type=media)

    async def delete(self, code: str, filehash: str | None = None) -> None:
        if filehash is None:
            raise APIError(405, message="DELETE one file: .../files/<filehash>")
        media = self.api_type()
        shares = self.services.shares.collections
        coll = await shares.get(code)
        if not await shares.remove(coll, require_token(self), filehash):
            raise APIError(404, message="that file is not in this collection")
        self.send_data(await shares.card(coll, manager=True), media_type=media)


class UnlockHandler(BaseHandler):
    """``POST .../unlock`` with the password: a grant (JSON, and a short-lived HttpOnly cookie);
    a browser's form post is sent back where it came from (``next``)."""

    route_name = "unlock"

    async def thing(self, key: str) -> FileRecord | CollectionRecord:
        raise NotImplementedError

    async def post(self, key: str) -> None:
        thing = await self.thing(key)
        ctype = self.request.headers.get("Content-Type", "")
        form = ctype.startswith("application/x-www-form-urlencoded")
        fields = parse_body(ctype, self.request.body)
        password = fields.get("password")
        if not isinstance(password, str) or not password:
            raise APIError(400, "bad_parameter", "send the 'password'")
        passwords = self.services.shares.passwords
        target = target_of(thing)
        if thing.password_hash is None:
            grant = passwords.grant(target, "")
        else:
            try:
                grant = await passwords.unlock(thing.password_hash, password, self.request.remote_ip or "?", target)
            except WrongPassword:
                if form and self.wants_html():
                    self.set_status(403)
                    set_page_headers(self)
                    self.set_header("Cache-Control", "no-store")
                    self.render("unlock.html", action=self.request.path, next_url=self.next_url(fields),
                                title="this", error="Wrong password. Try again.")
                    return
                raise
        secure = self.services.links.base.startswith("https://")
        self.set_cookie(cookie_name(target), grant, path="/", httponly=True, samesite="Lax", secure=secure,
                        max_age=int(passwords.ttl))
        self.set_header("Cache-Control", "no-store")
        if form and self.wants_html():
            self.redirect(self.next_url(fields), status=303)
            return
        self.send_data({"unlock": grant, "expires_in": int(passwords.ttl), "header": "X-Paste-Unlock"})

    def next_url(self, fields: dict[str, Any]) -> str:
        wanted = fields.get("next")
        # Only a path on this site: never an open redirect.
        if isinstance(wanted, str) and wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
            return wanted
        return "/"


class FileUnlockHandler(UnlockHandler):
    async def thing(self, key: str) -> FileRecord:
        return await find_file(self, key)


class CollectionUnlockHandler(UnlockHandler):
    async def thing(self, key: str) -> CollectionRecord:
        return await self.services.shares.collections.get(key)

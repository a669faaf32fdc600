"""JSON/msgpack API: file list, metadata, delete, raw PUT; health."""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from typing import ClassVar

import tornado.web

from handlers.base import APIError, BaseHandler
from handlers.bodies import MAX_BODY, parse_body
from handlers.files import find_file
from handlers.upload import RawUploadMixin
from tornado_paste.core.blocking import parse_sha256
from tornado_paste.core.records import is_expired

DEFAULT_PAGE = 20
MAX_PAGE = 100


def _positive_int(raw: str | None, name: str, default: int | None, maximum: int | None = None) -> int | None:
    if raw is None or raw == "":
        return default
    # ASCII only: str.isdigit() accepts '²' and '①', which int() then rejects (a 500 before).
    if not _is_decimal(raw) or len(raw) > 18 or int(raw) < 1:
        raise APIError(400, "bad_parameter", f"'{name}' must be a positive integer")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise APIError(400, "bad_parameter", f"'{name}' must be at most {maximum}")
    return value


def _is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


class FileListHandler(BaseHandler):
    """``GET /api/v1/files?limit=&before=``: latest public files, newest first;
    ``?sha256=`` looks up the public file(s) holding those bytes.

    ``before`` is an opaque cursor from a ``Link: rel="next"`` header (``core/cursor.py``): the
    encrypted id of the page's last public file, so pages never show an id, nor the gaps between
    ids that would count the private files in between.
    """

    route_name = "api_list"

    def _before(self) -> int | None:
        raw = self.get_query_argument("before", None)
        if raw is None or raw == "":
            return None
        before = self.services.cursors.decode(raw)
        if before is None:
            raise APIError(400, "bad_parameter", "'before' must be a cursor from this list's Link header")
        return before

    async def get(self) -> None:
        media = self.api_type()
        sha256 = self.get_query_argument("sha256", None)
        if sha256 is not None:
            await self.by_sha256(sha256, media)
            return
        limit = _positive_int(self.get_query_argument("limit", None), "limit", DEFAULT_PAGE, MAX_PAGE)
        before = self._before()
        assert limit is not None
        store = self.services.store
        records = await store.latest(limit, before)
        total = await store.count_public()
        links = self.services.links
        self.set_header("X-Total-Count", str(total))
        if len(records) == limit:
            assert records[-1].id is not None and not records[-1].private
            query = urllib.parse.urlencode({"limit": limit, "before": self.services.cursors.encode(records[-1].id)})
            self.set_header("Link", f'<{links.base}/api/v1/files?{query}>; rel="next"')
        # Expired (or burned) files the sweeper has not reached yet are not listed, nor blocked ones.
        blocks = self.services.blocks
        live = [links.card(r) for r in records
                if not is_expired(r) and not r.exhausted and not await blocks.is_blocked(r.sha256)]
        self.send_data({"files": live, "total": total}, media_type=media)

    async def by_sha256(self, raw: str, media: str) -> None:
        """The public record(s) holding these bytes: never a private (unlisted) one, an expired or a blocked one."""
        sha256 = parse_sha256(raw)
        if sha256 is None:
            raise APIError(400, "bad_parameter", "'sha256' must be 64 hexadecimal digits")
        record = await self.services.store.get_public_original(sha256)
        found = []
        if record is not None and not is_expired(record) and not record.exhausted \
                and not await self.services.blocks.is_blocked(sha256):
            found.append(self.services.links.card(record))
        self.set_header("X-Total-Count", str(len(found)))
        self.send_data({"files": found, "total": len(found)}, media_type=media)


@tornado.web.stream_request_body
class FileResourceHandler(RawUploadMixin):
    """``/api/v1/files/<filehash>``: GET metadata, PATCH/DELETE with the manage token (the delete token);
    ``PUT /api/v1/files/<name>`` raw upload.

    Integer ids are no address: they are guessable, and their 404s used to mark the private ones.
    """

    route_name = "api_file"
    _patch_body: bytearray | None = None

    async def prepare(self) -> None:
        super().prepare()
        if self.request.method == "PUT":
            self.route_name = "upload_put"
            self.start_raw_upload()
        elif self.request.method == "PATCH":
            self._patch_body = bytearray()

    async def data_received(self, chunk: bytes) -> None:
        if self._patch_body is not None:
            if len(self._patch_body) + len(chunk) > MAX_BODY:
                raise APIError(413, message=f"the request body exceeds {MAX_BODY} bytes")
            self._patch_body += chunk
            return
        await super().data_received(chunk)

    def manage_token(self) -> str | None:
        """The manage token: ``X-Manage-Token`` or ``X-Delete-Token`` (the same token), or ``?token=``."""
        headers = self.request.headers
        return headers.get("X-Manage-Token") or headers.get("X-Delete-Token") or self.get_query_argument("token", None)

    async def patch(self, key: str) -> None:
        """Change what the manage token may: expiry, private, name, password, download limit."""
        media = self.api_type()
        record = await find_file(self, key)
        token = self.manage_token()
        if not token:
            raise APIError(401, "token_required", "send the manage token in X-Manage-Token",
                           headers={"WWW-Authenticate": 'Token realm="manage"'})
        changes = parse_body(self.request.headers.get("Content-Type"), bytes(self._patch_body or b""))
        record = await self.services.shares.files.manage(record, token, changes)
        card = self.services.links.card(record)
        card["policy"] = self.services.shares.policy.describe()
        self.send_data(card, media_type=media)

    async def get(self, key: str) -> None:
        media = self.api_type()
        record = await find_file(self, key)
        self.send_data(self.services.links.card(record), media_type=media)

    async def delete(self, key: str) -> None:
        media = self.api_type()
        record = await find_file(self, key, allow_blocked=True)  # a blocked file may still be deleted
        token = self.manage_token()
        if not token:
            raise APIError(401, "token_required", "send the delete token in X-Delete-Token or ?token=",
                           headers={"WWW-Authenticate": 'Token realm="delete"'})
        await self.services.ingestor.delete(record, token)
        self.send_data({"deleted": record.filehash}, media_type=media)


def _ping_done(pings: dict[int, asyncio.Future[None]], key: int, done: asyncio.Future[None]) -> None:
    if pings.get(key) is done:
        del pings[key]
    if not done.cancelled():
        done.exception()  # retrieved: a failed ping nobody waits for any more is not logged as lost


class HealthHandler(BaseHandler):
    """``/healthz``: 200 when the store answers, 503 otherwise.

    Probes that arrive while a ping is on its way share it (one store round trip, not one each): every
    answer still comes from a ping that ended after the probe arrived, so none is older than that ping.
    """

    route_name = "healthz"
    _pings: ClassVar[dict[int, asyncio.Future[None]]] = {}

    async def get(self) -> None:
        await self.shared_ping()
        self.set_header("Cache-Control", "no-store")
        self.send_data({"status": "ok"})

    async def shared_ping(self) -> None:
        store = self.services.store
        pending = self._pings.get(id(store))
        if pending is None or pending.done() or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(store.ping())
            self._pings[id(store)] = pending
            pending.add_done_callback(functools.partial(_ping_done, self._pings, id(store)))
        # shield: one probe going away (its client left) must not cancel the ping the others wait for.
        await asyncio.shield(pending)

    def compute_etag(self) -> None:
        return None  # a no-store answer: hashing its body for an ETag nobody may keep was wasted work

"""Uploads into a collection, through the one ingest path of ``POST /`` and ``PUT``:

- ``POST /api/v1/collections/<code>/upload`` (multipart) and ``PUT .../upload/<filename>``, with the
  collection's manage token (the upload page sends a multi-file drop this way);
- ``/u/<code>``, an upload request: ``GET`` its page (or its limits as JSON), ``POST`` multipart,
  ``PUT /u/<code>/<filename>``. The request's limits bind the upload before its body is read: the
  per-file size (413 early from Content-Length, else at the crossing byte), the allowed types (415),
  the file count and the total bytes (a quota reserved in the store as the bytes arrive: 413, nothing kept).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import tornado.web

from handlers.base import APIError
from handlers.page_headers import set_page_headers
from handlers.shares_api import manage_token
from handlers.upload import IndexHandler, RawUploadMixin, UploadResponder
from tornado_paste.core.ingest import IngestResult, Upload
from tornado_paste.core.records import CollectionRecord
from tornado_paste.shares.requests import Reservation

log = logging.getLogger(__name__)


# Reservations being given back after their request ended (kept here so none is collected mid-way).
_RELEASING: set[asyncio.Future[None]] = set()


def _released(task: asyncio.Future[None]) -> None:
    _RELEASING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not give back an upload request's reservation: %s", task.exception())


class IntoCollection(UploadResponder):
    """What every upload into a collection shares: resolve it first, bind the upload, join after."""

    coll: CollectionRecord | None = None
    reservation: Reservation | None = None
    is_request = False

    async def resolve(self, code: str) -> CollectionRecord:
        raise NotImplementedError

    async def resolve_first(self) -> None:
        """Before any body byte: 404/410 for a dead link, 403 for a wrong token."""
        if self.request.method in ("POST", "PUT"):
            self.coll = await self.resolve(self.path_args[0])

    async def reserve_file(self) -> None:
        if self.reservation is not None:
            await self.reservation.take_file()

    def upload_limit(self) -> int:
        limit = super().upload_limit()
        request = self.coll.request if self.coll is not None else None
        if self.is_request and request and request.get("max_file_size"):
            limit = min(limit, int(request["max_file_size"]))
        return limit

    def begin_upload(self, source: str) -> Upload:
        upload = super().begin_upload(source)
        if self.is_request and self.coll is not None:
            self.reservation = self.services.shares.requests.reservation(self.coll, upload)
        return upload

    def clamp_expiry(self, expires_at: Any) -> Any:
        ends = self.coll.expires_at if self.coll is not None else None
        if ends is not None and (expires_at is None or expires_at > ends):
            return ends
        return expires_at

    async def join(self, result: IngestResult) -> None:
        assert self.coll is not None
        collections = self.services.shares.collections
        try:
            joined = await collections.add_uploaded(self.coll, result.record, result.created)
        except BaseException:
            if result.created:  # it could not join (the collection filled up meanwhile): it goes
                await self.services.ingestor.remove(result.record)
            raise
        if self.reservation is not None and joined:
            self.reservation.keep()

    def _release(self) -> None:
        if self.reservation is not None and not self.reservation.released:
            task = asyncio.ensure_future(self.reservation.release())
            _RELEASING.add(task)
            task.add_done_callback(_released)

    def on_finish(self) -> None:
        super().on_finish()
        self._release()

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._release()


class _ByManageToken(IntoCollection):
    async def resolve(self, code: str) -> CollectionRecord:
        collections = self.services.shares.collections
        coll = await collections.get(code)
        collections.check_token(coll, manage_token(self))
        return coll


class _ByRequestLink(IntoCollection):
    is_request = True

    async def resolve(self, code: str) -> CollectionRecord:
        return await self.services.shares.requests.resolve(code)

    def finish_upload(self, filename: str | None, private: bool) -> Any:
        # What arrives through a request link is the creator's, never in the public feed.
        return super().finish_upload(filename, True)


class _FormInto(IndexHandler):
    async def prepare(self) -> None:
        await self.resolve_first()  # type: ignore[attr-defined]
        await super().prepare()
        if self.request.method == "POST":
            await self.reserve_file()  # type: ignore[attr-defined]

    async def post(self, code: str) -> None:  # type: ignore[override]
        await IndexHandler.post(self)

    async def after_upload(self, result: IngestResult) -> None:
        await self.join(result)  # type: ignore[attr-defined]
        self.answer(result)


class _PutInto(RawUploadMixin):
    async def prepare(self) -> None:
        await self.resolve_first()  # type: ignore[attr-defined]
        super().prepare()
        if self.request.method == "PUT":
            self.route_name = "upload_put"
            self.start_raw_upload()
            await self.reserve_file()  # type: ignore[attr-defined]

    async def put(self, code: str, filename: str) -> None:  # type: ignore[override]
        result = await self.finish_upload(filename, False)
        await self.join(result)  # type: ignore[attr-defined]
        self.answer(result)


@tornado.web.stream_request_body
class CollectionFormUploadHandler(_ByManageToken, _FormInto):
    route_name = "upload_form"
    html_errors = False

    def get(self, code: str) -> None:  # type: ignore[override]
        raise APIError(405, message="POST a multipart upload here")


@tornado.web.stream_request_body
class CollectionPutUploadHandler(_ByManageToken, _PutInto):
    route_name = "upload_put"


@tornado.web.stream_request_body
class RequestUploadHandler(_ByRequestLink, _FormInto):
    """``/u/<code>``: the upload-request page (or its limits as JSON) and its multipart uploads."""

    route_name = "upload_request"

    async def get(self, code: str) -> None:  # type: ignore[override]
        requests = self.services.shares.requests
        coll = await requests.resolve(code)
        summary = requests.summary(coll)
        if summary["uploader_view"] == "all":
            files = await self.services.shares.collections.visible_files(coll)
            summary["files"] = [self.services.links.card(f) for f in files]
        self.set_header("Cache-Control", "no-store")
        if not self.wants_html():
            self.send_data(summary)
            return
        set_page_headers(self)
        self.set_header("Cache-Control", "no-store")
        settings = self.services.settings
        self.render("request.html", summary=summary, concurrency=settings.ui_upload_concurrency)


@tornado.web.stream_request_body
class RequestPutUploadHandler(_ByRequestLink, _PutInto):
    route_name = "upload_put"

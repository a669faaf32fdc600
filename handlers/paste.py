"""``POST /`` with a raw body (``curl --data-binary @- host/``): the body is the file, like ``PUT``.

The upload page's handler, extended: a ``multipart/form-data`` POST is the form upload as before;
any other body that is not multipart (``text/*``, curl's default ``x-www-form-urlencoded``,
``application/octet-stream``, none) is stored as it is. The name comes from ``?filename=``, else
``file`` plus the extension of the sniffed type (a shell script becomes ``file.sh``), which is also
what picks the highlighting language of its preview.
"""

from __future__ import annotations

import tornado.web

from handlers.base import APIError
from handlers.upload import IndexHandler, RawUploadMixin
from tornado_paste.core.params import truthy


@tornado.web.stream_request_body
class PasteIndexHandler(IndexHandler):
    raw = False

    async def prepare(self) -> None:
        content_type = self.request.headers.get("Content-Type", "").strip().lower()
        if self.request.method != "POST" or content_type.startswith("multipart/form-data"):
            await super().prepare()
            return
        # BaseHandler.prepare (counters, rate limit) without the multipart set-up.
        super(IndexHandler, self).prepare()  # skips IndexHandler.prepare on purpose
        if content_type.startswith("multipart/"):
            raise self.refused_early("bad_request", APIError(
                415, "unsupported_content_type", "POST / takes multipart/form-data (field 'file') or a raw body"))
        self.raw = True
        self.route_name = "upload_raw"
        self.check_acceptable()
        self.check_declared_length(0)
        self.upload = self.begin_upload("raw")

    async def data_received(self, chunk: bytes) -> None:
        if self.raw:
            await RawUploadMixin.data_received(self, chunk)  # type: ignore[arg-type]  (the same body handling as PUT)
        else:
            await IndexHandler.data_received(self, chunk)

    def field(self, name: str) -> str | None:
        return None if self.raw else super().field(name)  # a raw body has no form fields: query arguments only

    async def post(self) -> None:
        if not self.raw:
            await super().post()
            return
        result = await self.finish_upload(self.get_query_argument("filename", None),
                                          truthy(self.get_query_argument("private", None)))
        self.answer(result)

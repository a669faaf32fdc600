"""``GET /c/<code>/zip``: the collection as one zip, streamed, with its exact size up front.

The archive's bytes are deterministic (tornado_paste/shares/zipper.py), so ``Range`` is answered
honestly (one range; ``If-Range`` with the ETag) and a cut download resumes. Behind nginx the answer
says ``X-Accel-Buffering: no``: bytes flow as they are read, never pooled in nginx's buffers. A
collection with a download limit counts one per answer that carries bytes, as files do.
"""

from __future__ import annotations

import tornado.httputil
import tornado.iostream

from handlers.base import APIError, BaseHandler
from handlers.files import content_disposition
from handlers.guard import require_unlocked


class CollectionZipHandler(BaseHandler):
    route_name = "collection_zip"

    async def head(self, code: str) -> None:
        await self.get(code, include_body=False)

    async def get(self, code: str, include_body: bool = True) -> None:
        shares = self.services.shares
        coll = await shares.collections.get(code)
        require_unlocked(self, coll)
        plan = await shares.archives.plan(coll)
        etag = f'"zip-{plan.etag}"'
        start, end, status = 0, plan.size, 200
        header = self.request.headers.get("Range")
        if_range = self.request.headers.get("If-Range")
        if header and (if_range is None or if_range.strip() == etag):
            parsed = tornado.httputil._parse_request_range(header)
            if parsed:
                first, last = parsed
                if first is not None and first < 0:
                    first = max(0, plan.size + first)
                first = first or 0
                last = plan.size if last is None else min(last, plan.size)
                if first >= plan.size or first >= last:
                    raise APIError(416, message="the requested range is outside the archive",
                                   headers={"Content-Range": f"bytes */{plan.size}"})
                start, end, status = first, last, 206
        if self.request.headers.get("If-None-Match", "").strip() == etag and status == 200:
            self.set_header("Etag", etag)
            self.set_status(304)
            self.finish()
            return
        if include_body:
            await shares.collections.claim_download(coll)
        name = (coll.title or f"collection-{coll.code}") + ".zip"
        self.set_status(status)
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", content_disposition("attachment", name))
        self.set_header("Accept-Ranges", "bytes")
        self.set_header("Etag", etag)
        self.set_header("Cache-Control", "private, no-cache")
        self.set_header("X-Accel-Buffering", "no")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Length", str(end - start))
        if status == 206:
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{plan.size}")
        if not include_body:
            self.finish()
            return
        self.flush()  # the headers now: a file's first CRC-32 may take a moment
        try:
            async for chunk in shares.archives.stream(plan, start, end):
                self.write(chunk)
                await self.flush()  # back-pressure: memory holds one chunk, whatever the total
        except tornado.iostream.StreamClosedError:
            return  # the client went away; a Range request resumes it
        self.finish()

"""Serving bytes kept in an object store (``blob_store = s3``), in the mode ``s3_download`` names.

Every mode answers the conditional requests and the range check itself, with the same headers as a
local blob (ETag = the sha256, Last-Modified = the upload, Cache-Control, CSP, nosniff, CORP,
Content-Disposition): 304 for a matching If-None-Match / If-Modified-Since, 416 for a range outside
the file. Then:

- ``proxy``: the app streams the bytes (the range only) from the store, one piece at a time, each
  flushed to the socket before the next is read: flat memory, whatever the size.
- ``redirect``: 307 to a presigned URL (``s3_presign_expiry`` seconds) whose ``response-*`` query
  makes the store send our Content-Type, Content-Disposition and Cache-Control; the client sends its
  Range there. The store's own ETag (MD5) and none of our security headers come with the bytes.
- ``accel``: headers only plus ``X-Accel-Redirect: <s3_accel_prefix><bucket>/<key>?<presigned
  query>``; nginx's internal location (nginx.conf, ``# SITE: s3_endpoint``) proxies it to the store,
  keeping our headers (a HEAD is presigned as a HEAD).
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC
from typing import TYPE_CHECKING

import tornado.httputil
import tornado.iostream

from handlers.base import APIError
from handlers.compression import send_as_is
from handlers.conditional import http_date
from tornado_paste.storage.blobs.base import BlobMissing

if TYPE_CHECKING:
    from handlers.files import BlobHandler


def requested_range(handler: BlobHandler, size: int) -> tuple[int | None, int | None]:
    """StaticFileHandler's Range rules: (start, end) to send, or (None, None) for the whole file; 416 raised."""
    header = handler.request.headers.get("Range")
    parsed = tornado.httputil._parse_request_range(header) if header else None
    if not parsed:
        return None, None
    start, end = parsed
    if start is not None and start < 0:
        start = max(0, start + size)
    if (start is not None and (start >= size or (end is not None and start >= end))) or end == 0:
        raise APIError(416, message="the requested range is outside the file",
                       headers={"Content-Range": f"bytes */{size}"})
    if end is not None and end > size:
        end = size
    return start, end


async def serve_remote(handler: BlobHandler, include_body: bool) -> None:
    record, settings = handler.record, handler.services.settings
    handler.modified = record.uploaded_at.astimezone(UTC)
    headers = handler._headers  # our own values (a constant, the sha256, a date): no per-value check
    headers["Accept-Ranges"] = "bytes"
    headers["Etag"] = handler.compute_etag()
    headers["Last-Modified"] = http_date(int(handler.modified.timestamp()))
    handler.set_header("Content-Type", handler.get_content_type())
    handler.set_extra_headers(record.sha256)
    if handler.should_return_304():
        handler.set_status(304)
        handler.count_download(False)
        handler.finish()
        return
    # A stale If-Range has dropped the Range already (BlobHandler.get, before the download gate).
    start, end = requested_range(handler, record.size)
    # Sent as stored (no gzip): the bytes stream from the store, their length and Repr-Digest known up front.
    send_as_is(handler.request)
    mode = settings.s3_download
    if mode == "proxy":
        await _proxy(handler, start, end, include_body)
    elif mode == "redirect":
        await _redirect(handler)
    else:
        await _accel(handler)


async def _proxy(handler: BlobHandler, start: int | None, end: int | None, include_body: bool) -> None:
    size = handler.record.size
    first = 0 if start is None else start
    last = size if end is None else end
    if last - first != size:
        handler.set_status(206)
        handler.set_header("Content-Range", tornado.httputil._get_content_range(start, end, size))
    handler.set_header("Content-Length", last - first)
    if not include_body or last == first:
        handler.count_download(include_body)
        handler.finish()
        return
    pieces = handler.services.blobs.stream(handler.record.sha256, first, last)
    sent = False
    try:
        async for piece in pieces:
            handler.write(piece)
            sent = True
            await handler.flush()  # the socket took it: only then read the next piece from the store
    except BlobMissing:
        if sent:
            raise
        raise APIError(404, message="no such file") from None
    except tornado.iostream.StreamClosedError:
        return  # the client left; the store's response is closed below
    finally:
        await pieces.aclose()  # type: ignore[attr-defined]
    handler.count_download(True)
    handler.finish()


def _response_params(handler: BlobHandler) -> dict[str, str]:
    """The headers the store sends on our behalf for a presigned URL (redirect mode)."""
    headers = handler._headers
    return {"ResponseContentType": headers["Content-Type"],
            "ResponseContentDisposition": headers["Content-Disposition"],
            "ResponseCacheControl": headers["Cache-Control"]}


async def _redirect(handler: BlobHandler) -> None:
    method = "HEAD" if handler.request.method == "HEAD" else "GET"
    url = await handler.services.blobs.presign(handler.record.sha256, method,  # type: ignore[attr-defined]
                                               response=_response_params(handler))
    handler.count_download(method == "GET")
    for name in ("Content-Type", "Content-Disposition", "Accept-Ranges", "Last-Modified"):
        handler.clear_header(name)
    # The URL expires: a cache must never keep the redirect (the bytes it leads to are cacheable).
    handler.set_header("Cache-Control", "no-store")
    handler.set_status(307)
    handler.set_header("Location", url)
    handler.finish()


async def _accel(handler: BlobHandler) -> None:
    method = "HEAD" if handler.request.method == "HEAD" else "GET"
    url = await handler.services.blobs.presign(handler.record.sha256, method)  # type: ignore[attr-defined]
    parts = urllib.parse.urlsplit(url)
    prefix = handler.services.settings.s3_accel_prefix
    handler.set_header("X-Accel-Redirect", f"{prefix}{parts.path.lstrip('/')}?{parts.query}")
    handler.count_download(method == "GET")
    handler.finish()

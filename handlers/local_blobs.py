"""Serving a blob from the local blob directory ourselves (no X-Accel-Redirect): the lean path.

What Tornado's StaticFileHandler did for ``/i/`` and ``/d/`` (Range with 206/416, 304 for
If-None-Match / If-Modified-Since, Accept-Ranges, Last-Modified from the blob's mtime, Content-Length,
HEAD), without what a content-addressed blob does not need: the path is built from the record's sha256
(hex only, nothing to traverse), so no realpath walk and one ``stat`` instead of three; a file up to
``PIECE`` goes out in one write (StaticFileHandler wrote and flushed 64 KiB at a time). Larger files
stream ``PIECE`` at a time, each flushed before the next is read: flat memory, whatever the size.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import tornado.iostream
import tornado.web

from handlers.compression import compressible, send_as_is
from handlers.conditional import http_date
from handlers.remote_blobs import requested_range

if TYPE_CHECKING:
    from handlers.files import BlobHandler

# Bytes read and written at a time (per connection in flight).
PIECE = 256 * 1024


def blob_stat(handler: BlobHandler) -> os.stat_result | None:
    """The blob's stat, once per request (If-Range and the answer both need its mtime); None: missing."""
    cached = handler.__dict__.get("_blob_stat", False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    try:
        stat: os.stat_result | None = os.stat(handler.get_absolute_path(handler.root, handler.record.sha256))
    except (FileNotFoundError, NotADirectoryError):
        stat = None
    handler.__dict__["_blob_stat"] = stat
    return stat


def blob_modified(handler: BlobHandler) -> datetime | None:
    stat = blob_stat(handler)
    return None if stat is None else datetime.fromtimestamp(int(stat.st_mtime), UTC)


async def serve_local(handler: BlobHandler, include_body: bool) -> None:
    """Headers, then the validators (304), the range (206/416) and the bytes."""
    stat = blob_stat(handler)
    if stat is None:
        raise tornado.web.HTTPError(404)  # as StaticFileHandler: a record whose blob is gone
    record = handler.record
    mtime = int(stat.st_mtime)
    handler.modified = datetime.fromtimestamp(mtime, UTC)  # should_return_304's If-Modified-Since
    headers = handler._headers  # our own values (a constant, the sha256, a date): no per-value check
    headers["Accept-Ranges"] = "bytes"
    headers["Etag"] = handler.compute_etag()
    headers["Last-Modified"] = http_date(mtime)
    content_type = handler.get_content_type()
    handler.set_header("Content-Type", content_type)
    handler.set_extra_headers(record.sha256)
    if handler.should_return_304():
        handler.set_status(304)
        return
    size = stat.st_size
    start, end = requested_range(handler, size)
    first = 0 if start is None else start
    last = size if end is None else end
    if last - first != size:
        handler.set_status(206)
        handler.set_header("Content-Range", f"bytes {first}-{last - 1}/{size}")
    handler.set_header("Content-Length", last - first)
    if not include_body:
        return
    settings = handler.services.settings
    # A small whole text file goes in one piece, so the gzip transform knows its full length and digest.
    whole_text = (start is None and end is None and settings.compress_responses
                  and size <= settings.compress_max_file_size and compressible(content_type))
    if not whole_text:
        send_as_is(handler.request)  # a range, a binary type or too big to gzip on the loop: as stored
    path = handler.get_absolute_path(handler.root, record.sha256)
    with open(path, "rb", buffering=0) as blob:
        if first:
            blob.seek(first)
        remaining = last - first
        piece = remaining if whole_text else PIECE
        while remaining > 0:
            chunk = blob.read(min(piece, remaining))
            if not chunk:
                break  # the file shrank under us (it never should: blobs are immutable)
            remaining -= len(chunk)
            try:
                handler.write(chunk)
                if remaining > 0:
                    await handler.flush()  # the socket took it: only then read the next piece
            except tornado.iostream.StreamClosedError:
                return

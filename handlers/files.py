"""Serving stored bytes: ``/i/`` (inline), ``/d/`` (attachment), ``/s/`` (short link).

The lookup (filehash -> record, through the short-lived record cache for reads), the
validators (ETag = the sha256, instead of hashing the file on the loop), the gate and the
headers are here; ``handlers/local_blobs.py`` sends a local blob's bytes (Range, 304, HEAD:
StaticFileHandler's rules, on a leaner path).

Behind nginx (``accel_redirect_prefix`` set) the process sends no bytes at all:
it answers with the headers plus ``X-Accel-Redirect`` and nginx's sendfile
serves the blob (Range included) from an ``internal`` location. A matching
``If-None-Match`` is answered 304 here, since nginx only knows its own ETags.

With the blobs in an object store (``blob_store = s3``) ``handlers/remote_blobs.py`` serves them in
the ``s3_download`` mode: proxied, redirected to a presigned URL, or X-Accel-Redirected to nginx.
"""

from __future__ import annotations

import base64
import functools
import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import tornado.httputil
import tornado.web
from anyascii import anyascii

from handlers.base import APIError, BaseHandler
from handlers.conditional import if_match_fails, if_range_keeps_range
from handlers.guard import gate_download
from handlers.local_blobs import blob_modified, serve_local
from handlers.remote_blobs import serve_remote
from tornado_paste.core.records import FileRecord, is_active, is_expired, is_short_code, kind_of
from tornado_paste.previews.unfurl import is_unfurler
from tornado_paste.shares.cards import collection_url
from tornado_paste.shares.collections import is_code as is_collection_code

FILEHASH_PATTERN = r"[0-9a-f]{16}\.[a-z0-9]{1,8}"
_FILEHASH_RE = re.compile(rf"^{FILEHASH_PATTERN}$")

# User content may be shown, never run: no scripts, no plugins, no navigation.
USER_CONTENT_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"
# Chromium refuses to render PDFs in a sandboxed document, and its viewer runs no page script anyway.
PDF_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'"


def served_type(mimetype: str) -> str:
    """The Content-Type a stored file is served with.

    Active types (scripts and ES modules, WebAssembly, CSS, HTML, SVG, XML: ``is_active``) are never
    served as themselves: a textual one as ``text/plain; charset=utf-8``, anything else as
    ``application/octet-stream``. With ``nosniff`` a browser refuses both as a script, a module, a
    style sheet or a wasm module, and renders neither as a document, whatever a page's CSP allows.
    """
    if is_active(mimetype):
        textual = mimetype.startswith("text/") or mimetype.endswith("+xml") or kind_of(mimetype) == "text" \
            or mimetype in ("application/xml", "application/javascript", "application/x-javascript",
                            "application/ecmascript", "application/x-ecmascript")
        return "text/plain; charset=utf-8" if textual else "application/octet-stream"
    return f"{mimetype}; charset=utf-8" if mimetype == "text/plain" else mimetype


# Files expiring sooner than this get a Cache-Control max-age that ends with them.
SHORT_LIVED = 30 * 86400
_PUBLIC_CACHE = "public, max-age=31536000, immutable"

_FALLBACK_SAFE = frozenset(" ._-()+,@~!#&[]{}^'")


@functools.lru_cache(maxsize=2048)
def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` fallback plus UTF-8 ``filename*``; no header injection."""
    # The ASCII fallback: transliterated (résumé -> resume), then only characters no parser can read as
    # syntax (no quote, backslash, ';', '=', '*', '%').
    fallback = "".join(c if c.isascii() and (c.isalnum() or c in _FALLBACK_SAFE) else "_"
                       for c in anyascii(filename)) or "file"
    encoded = urllib.parse.quote(filename, safe="")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


async def find_file(handler: BaseHandler, filehash: str, allow_blocked: bool = False) -> FileRecord:
    """The record for a public filehash, or a 404 (410 expired, 451 blocked)."""
    if not _FILEHASH_RE.match(filehash):
        raise APIError(404, message="no such file")
    if handler.request.method in ("GET", "HEAD"):
        record = await handler.services.records.by_filehash(filehash)  # a record up to record_cache_ttl old
    else:
        record = await handler.services.store.get_by_filehash(filehash)  # writes judge the store's own
    if record is None:
        raise APIError(404, message="no such file")
    check_live(record)
    if not allow_blocked:
        await check_available(handler, record)
    return record


async def check_available(handler: BaseHandler, record: FileRecord) -> FileRecord:
    """451 Unavailable For Legal Reasons when the operator blocked these bytes (cached briefly per process)."""
    await handler.services.blocks.check(record.sha256)
    return record


@functools.lru_cache(maxsize=4096)
def repr_digest(sha256: str) -> str:
    """RFC 9530 ``Repr-Digest`` of the stored bytes (the identity representation)."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode('ascii')}:"


def check_live(record: FileRecord) -> FileRecord:
    """410 Gone for a file past its expiry or its download limit (the sweeper removes it soon)."""
    if record.exhausted:
        raise APIError(410, "download_limit_reached", "this file reached its download limit and is gone")
    if is_expired(record):
        raise APIError(410, "expired", "this file has expired and is no longer available")
    return record


def range_unsatisfiable(header: str | None, size: int) -> bool:
    """StaticFileHandler's 416 rule, for answers whose bytes nginx sends (X-Accel-Redirect)."""
    if not header:
        return False
    # The parser StaticFileHandler itself uses; None for forms it ignores (they get the whole file).
    parsed = tornado.httputil._parse_request_range(header)
    if not parsed:
        return False
    start, end = parsed
    if start is not None and start < 0:
        start = max(0, start + size)
    return bool((start is not None and (start >= size or (end is not None and start >= end))) or end == 0)


class BlobHandler(BaseHandler, tornado.web.StaticFileHandler):
    """Bytes of a stored file with the type we sniffed, Range, ETag and a long cache."""

    attachment = False
    record: FileRecord

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        # The local store's directory; an object store has none (remote_blobs serves those).
        super().initialize(path=getattr(self.services.blobs, "blob_dir", ""))

    async def get(self, filehash: str, include_body: bool = True) -> None:  # type: ignore[override]
        self.record = await find_file(self, filehash)
        headers = self.request.headers
        if "If-Match" in headers and if_match_fails(headers.get("If-Match"), self.compute_etag()):
            raise APIError(412, message="If-Match names no current version of this file")
        remote = self.services.blobs.kind != "local"
        prefix = self.services.settings.accel_redirect_prefix
        if (remote or not prefix) and "Range" in headers and not if_range_keeps_range(
                headers.get("If-Range"), self.compute_etag(), self._blob_modified()):
            del headers["Range"]  # the validator is stale: the whole file, 200
        # After the validators (a 412 carries no bytes), before the answer starts (X-Accel, S3 too).
        await gate_download(self, self.record, include_body and self.sends_bytes())
        if remote:
            await serve_remote(self, include_body)
            return
        if prefix:
            self.accel_redirect(prefix)
            return
        await serve_local(self, include_body)
        self.count_download(include_body)

    def sends_bytes(self) -> bool:
        """Whether this GET will answer with bytes (not a 304, not a 416): what a download limit counts."""
        etag = self.compute_etag()
        wanted = self.request.headers.get("If-None-Match", "")
        if wanted and (wanted.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in wanted.split(",")]):
            return False
        return not range_unsatisfiable(self.request.headers.get("Range"), self.record.size)

    def _blob_modified(self) -> datetime | None:
        """The Last-Modified the answer will carry (the blob's mtime, in whole seconds); for a
        remote blob, the upload time remote_blobs sends."""
        if self.services.blobs.kind != "local":
            return self.record.uploaded_at.astimezone(UTC).replace(microsecond=0)
        return blob_modified(self)

    def accel_redirect(self, prefix: str) -> None:
        """Headers only; nginx serves the bytes (and Range) from ``<prefix><ab>/<cd>/<sha256>``."""
        sha256 = self.record.sha256
        self.set_header("Content-Type", self.get_content_type())
        self.set_header("Etag", self.compute_etag())
        self.set_extra_headers(sha256)
        if self.check_etag_header():
            self.set_status(304)
            self.count_download(False)
            self.finish()
            return
        if range_unsatisfiable(self.request.headers.get("Range"), self.record.size):
            # Refused here, like without nginx: nginx's own 416 would carry the file's cache headers.
            raise APIError(416, message="the requested range is outside the file",
                           headers={"Content-Range": f"bytes */{self.record.size}"})
        self.set_header("X-Accel-Redirect", f"{prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}")
        self.count_download(self.request.method != "HEAD")
        self.finish()

    def count_download(self, include_body: bool) -> None:
        """``download.<raw|download|range>.count`` and ``.bytes`` for bodies sent (not HEAD); 304s apart."""
        metrics = self.services.metrics
        status = self.get_status()
        headers = self.request.headers
        if is_unfurler(headers.get("User-Agent"), self.request.method, headers):
            # A link preview (chat app, social site, prefetch, HEAD) is not a download.
            metrics.incr("download.unfurl.count")
            return
        if status == 304:
            metrics.incr("download.not_modified.count")
            return
        if not include_body or status not in (200, 206, 307):
            return
        accel = self.delegated()
        ranged = status == 206 or (accel and "Range" in self.request.headers)
        kind = "range" if ranged else "download" if self.attachment else "raw"
        metrics.incr(f"download.{kind}.count")
        metrics.incr(f"download.{kind}.bytes", self.body_bytes(accel, ranged))

    def delegated(self) -> bool:
        """Whether nginx or the object store sends the bytes (their count comes from the file and Range)."""
        settings = self.services.settings
        if self.services.blobs.kind == "local":
            return bool(settings.accel_redirect_prefix)
        return settings.s3_download != "proxy"

    def body_bytes(self, accel: bool, ranged: bool) -> int:
        """Bytes of the file sent (before any gzip): ours from the file or Content-Length (ranges, never
        gzipped); nginx's (X-Accel) from the file and the Range."""
        if not accel:
            return int(self._headers.get("Content-Length", 0)) if ranged else self.record.size
        size = self.record.size
        parsed = tornado.httputil._parse_request_range(self.request.headers.get("Range", "")) if ranged else None
        if not parsed:
            return size  # no Range, or a form nginx answers with the whole file
        start, end = parsed
        if start is not None and start < 0:
            start = max(0, start + size)
        end = size if end is None or end > size else end
        return max(0, end - (start or 0))

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        return f"{root}/{path[:2]}/{path[2:4]}/{path}"

    def get_content_type(self) -> str:
        return served_type(self.record.mimetype)

    def compute_etag(self) -> str:
        # The content's own hash: free, and stable across processes and restarts.
        return f'"{self.record.sha256}"'

    def set_extra_headers(self, path: str) -> None:
        record = self.record
        max_age = 31536000
        if record.expires_at is not None:
            # A short-lived file must not outlive itself in caches; long-lived ones keep the year-long
            # immutable caching (like a deleted file, a cache may hold them past their removal).
            remaining = int((record.expires_at - datetime.now(UTC)).total_seconds())
            if remaining < SHORT_LIVED:
                max_age = max(0, remaining)
        # Values made here from constants, the sha256 and a quoted name (content_disposition): set
        # without set_header's per-value check, a visible cost on the hottest route.
        headers = self._headers
        if record.guarded:
            # Every answer must pass the gate (a password, a download count): no cache may keep one.
            headers["Cache-Control"] = "private, no-store"
        else:
            headers["Cache-Control"] = _PUBLIC_CACHE if max_age == 31536000 else \
                f"public, max-age={max_age}, immutable"
        headers["Repr-Digest"] = repr_digest(record.sha256)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Content-Security-Policy"] = PDF_CSP if record.mimetype == "application/pdf" else USER_CONTENT_CSP
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        if record.private:
            self.set_header("X-Robots-Tag", "noindex, nofollow")  # unlisted: never in a search index
        settings = self.services.settings
        if settings.content_base_url:
            # The pages (another origin now) fetch files too: the resize form follows /r/'s redirect
            # here, and a request redirected across origins has Origin: null, hence "*" (no credentials;
            # the file is public to whoever has its URL anyway).
            self.set_header("Access-Control-Allow-Origin", "*")
        as_attachment = self.attachment or is_active(record.mimetype)
        headers["Content-Disposition"] = content_disposition("attachment" if as_attachment else "inline",
                                                             record.filename)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        BaseHandler.write_error(self, status_code, **kwargs)


class RawHandler(BlobHandler):
    route_name = "raw"


class DownloadHandler(BlobHandler):
    route_name = "download"
    attachment = True


class ShortLinkHandler(BaseHandler):
    """``/s/<code>`` -> 302 to the preview page.

    A code is a random capability stored in its record (``new_short_code``), looked up as it is:
    nothing decodes it, so no code can be computed from another, nor from an id. The visibility
    rules are ``find_file``'s: unknown 404, expired 410.
    """

    route_name = "short"
    html_errors = True

    async def get(self, code: str) -> None:
        record = await self.services.records.by_short_code(code) if is_short_code(code) else None
        if record is None:
            # A collection's short link is its code.
            shares = self.services.shares.collections
            if is_collection_code(code) and await shares.store.get(code) is not None:
                coll = await shares.get(code)
                self.redirect(collection_url(self.services.links, coll.code), status=302)
                return
            raise APIError(404, message="no file has this short link")
        check_live(record)
        await check_available(self, record)
        self.services.metrics.incr("short.hits")
        self.redirect(self.services.links.preview(record), status=302)


class StaticHandler(BaseHandler, tornado.web.StaticFileHandler):
    """``/static/``: Tornado's static files, counted and timed like every other route, with
    our JSON errors (Tornado's 403 for ``..`` was HTML)."""

    route_name = "static"

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        if "\x00" in path:
            # os.path would raise ValueError (a 500): no file has a NUL in its name.
            raise APIError(404, message="there is nothing at this address")
        return super().get_absolute_path(root, path)

"""gzip for text answers (JSON, pages, CSS/JS, text files), also without nginx in front.

Tornado's ``GZipContentEncoding`` with what a file host needs on top:

- ``Accept-Encoding`` parsed (``gzip;q=0`` means no), and ``Vary: Accept-Encoding`` only on the
  types that may be compressed (an image answer does not vary);
- never for ranges (206, ``Content-Range``), already-encoded bodies, or types that are compressed
  already (images, video, archives... are not on the list);
- a compressed answer is a different representation: its ``ETag`` becomes weak (so ``If-Range`` with
  it never selects a range of other bytes), and its ``Repr-Digest`` is that of the gzip bytes.
  ``/i/`` and ``/d/`` hand small text files over in one piece (``BlobHandler.get_content``) so the
  whole gzip body, its length and digest are known before the headers go; larger files (above
  ``compress_max_file_size``) are sent as they are. Other bodies that stream in pieces (big static
  files) are compressed as they go, chunked.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io

import tornado.httputil
import tornado.web


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip`` or ``*`` with q > 0, and gzip not refused)."""
    if not header:
        return False
    best = None
    for piece in header.split(","):
        name, _, params = piece.strip().partition(";")
        name = name.strip().lower()
        if name not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name == "*" and best is not None:
            continue  # an explicit gzip entry wins over the wildcard
        best = q
    return best is not None and best > 0


# Compressible besides text/*: Tornado's list and other uncompressed formats a file host serves.
CONTENT_TYPES = frozenset(tornado.web.GZipContentEncoding.CONTENT_TYPES | {
    "application/yaml", "application/x-yaml", "application/ld+json", "application/manifest+json",
    "application/x-ndjson", "application/x-sh", "application/x-shellscript", "application/wasm",
    "application/x-tar", "application/postscript", "application/rtf", "application/sql",
})


def compressible(ctype: str) -> bool:
    ctype = ctype.split(";")[0].strip().lower()
    return ctype.startswith("text/") or ctype in CONTENT_TYPES


_IDENTITY = "_tornado_paste_identity"


def send_as_is(request: tornado.httputil.HTTPServerRequest) -> None:
    """Ask the transform to leave this answer's body alone (a stored file above the size limit)."""
    setattr(request, _IDENTITY, True)


class PasteGZip(tornado.web.GZipContentEncoding):
    CONTENT_TYPES = set(CONTENT_TYPES)

    def _compressible_type(self, ctype: str) -> bool:
        return compressible(ctype)

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        self._gzipping = accepts_gzip(request.headers.get("Accept-Encoding"))
        self._request = request
        self._whole = False

    def transform_first_chunk(self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
        compressible = self._compressible_type(ctype)
        if compressible:
            headers["Vary"] = f"{headers['Vary']}, Accept-Encoding" if "Vary" in headers else "Accept-Encoding"
        declared = headers.get("Content-Length")
        whole = finishing or (declared is not None and declared.isdigit() and int(declared) == len(chunk))
        self._gzipping = (self._gzipping and compressible and status_code not in (204, 206, 304)
                          and not getattr(self._request, _IDENTITY, False)
                          and "Content-Range" not in headers and "Content-Encoding" not in headers
                          and (not finishing or len(chunk) >= self.MIN_LENGTH)
                          # A stored file (it has a Repr-Digest) is gzipped only when it came whole.
                          and (whole or "Repr-Digest" not in headers))
        if not self._gzipping:
            return status_code, headers, chunk
        etag = headers.get("Etag")
        if etag and not etag.startswith("W/"):
            headers["Etag"] = "W/" + etag
        headers["Content-Encoding"] = "gzip"
        if whole:
            # The whole body is here: compress it in one go, with its true length and digest.
            self._whole = True
            chunk = gzip.compress(chunk, compresslevel=self.GZIP_LEVEL, mtime=0)
            headers["Content-Length"] = str(len(chunk))
            if "Repr-Digest" in headers:
                digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode("ascii")
                headers["Repr-Digest"] = f"sha-256=:{digest}:"
            return status_code, headers, chunk
        headers.pop("Content-Length", None)  # not known before the last byte: chunked
        self._gzip_value = io.BytesIO()
        self._gzip_file = gzip.GzipFile(mode="w", fileobj=self._gzip_value, compresslevel=self.GZIP_LEVEL, mtime=0)
        return status_code, headers, super().transform_chunk(chunk, finishing)

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        if self._whole:
            return chunk  # everything went with the first chunk
        return super().transform_chunk(chunk, finishing)

"""tus 1.0.0 protocol vocabulary: version, extensions, checksum algorithms, refusals, header parsing.

No HTTP here: ``handlers/tus.py`` maps the refusals to status codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from typing import Any

from tornado_paste import errors

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "creation-defer-length", "termination", "expiration",
              "checksum", "concatenation")
CHECKSUMS: dict[str, Callable[[], Any]] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}


class TusError(errors.BadRequest):
    """A tus request refused for a reason the client can act on."""


class UploadNotFound(errors.NotFound, TusError):
    pass


class UploadGone(errors.Gone, TusError):
    code = "upload_expired"


class OffsetMismatch(errors.Conflict, TusError):
    code = "offset_mismatch"


class UploadLocked(errors.Busy, TusError):
    code = "upload_locked"


class ChecksumMismatch(errors.ChecksumMismatch, TusError):
    pass


class TusForbidden(errors.Forbidden, TusError):
    pass


# -- header parsing -----------------------------------------------------------------------------

def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional)."""
    result: dict[str, str] = {}
    if not header or not header.strip():
        return result
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or key in result:
            raise TusError("Upload-Metadata must be comma-separated 'key base64value' pairs with unique keys")
        try:
            value = base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TusError(f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text") from None
        result[key] = value
    return result


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``."""
    if header is None:
        return None
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise TusError("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUMS:
        raise TusError(f"checksum algorithm {parts[0]!r} is not supported (use {', '.join(CHECKSUMS)})")
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise TusError("Upload-Checksum digest is not base64") from None
    return algorithm, digest


def parse_nonnegative(header: str | None, name: str) -> int | None:
    if header is None:
        return None
    value = header.strip()
    # ASCII only: a latin-1 header byte '\xb2' is '²', which isdigit() accepts and int() refuses.
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise TusError(f"{name} must be a non-negative integer")
    return int(value)

"""Upload requests (reverse shares): a capability URL ``/u/<code>`` that lets whoever holds it upload
into one collection, within limits set at creation: files, total bytes, bytes per file, types, and
when the link closes.

Every limit is enforced on the server, through the one ingest path: the per-file size is the
upload's own limit, the types a per-upload policy, and the count and total bytes a quota reserved
in the store as the bytes arrive (``Reservation``): one file before the body, then each chunk's bytes
before it is staged, in one atomic conditional update, so concurrent uploads in any number of
processes never overshoot, and the chunk that would cross the quota is refused (413) with nothing
kept. What an upload reserved and did not keep is given back when it ends.

The ``/u/`` code is a secret: stored only as its SHA-256, never logged (handlers/redact.py).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from tornado_paste import errors
from tornado_paste.core.ingest import Upload, hash_token
from tornado_paste.core.policy import TypePolicy
from tornado_paste.core.records import CollectionRecord, utcnow
from tornado_paste.shares.collections import Collections
from tornado_paste.shares.policy import BadShareOption
from tornado_paste.storage.base import CollectionStore

REQUEST_FIELDS = frozenset({"max_files", "max_bytes", "max_file_size", "allowed_types", "expires",
                            "uploader_view"})
VIEWS = ("own", "all")
MAX_TYPES = 32


class RequestClosed(errors.Gone):
    code = "request_closed"


class QuotaExceeded(errors.TooLarge):
    code = "quota_exceeded"


def is_request_code(text: str) -> bool:
    return 16 <= len(text) <= 64 and text.isascii() and all(c.isalnum() or c in "-_" for c in text)


class UploadRequests:
    def __init__(self, collections: Collections, store: CollectionStore, max_upload_size: int) -> None:
        self.collections = collections
        self.store = store
        self.max_upload_size = max_upload_size

    def _positive(self, raw: dict[str, Any], name: str) -> int | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadShareOption(f"'{name}' must be a positive integer")
        return value

    async def create(self, options: dict[str, Any], limits: dict[str, Any]) -> tuple[CollectionRecord, str, str]:
        """A collection with an upload link; returns it, its manage token and the ``/u/`` code."""
        unknown = set(limits) - REQUEST_FIELDS
        if unknown:
            raise BadShareOption(f"unknown request field(s): {', '.join(sorted(unknown))}")
        max_file_size = self._positive(limits, "max_file_size")
        if max_file_size is not None:
            max_file_size = min(max_file_size, self.max_upload_size)
        types = limits.get("allowed_types") or []
        if isinstance(types, str):
            types = [t.strip() for t in types.split(",") if t.strip()]
        if not isinstance(types, list) or len(types) > MAX_TYPES or not all(
                isinstance(t, str) and 0 < len(t) <= 100 and "/" in t for t in types):
            raise BadShareOption("'allowed_types' must be a list of MIME type patterns such as image/*")
        view = limits.get("uploader_view") or "own"
        if view not in VIEWS:
            raise BadShareOption("'uploader_view' must be own or all")
        closes = self.collections.policy.expiry(0, limits["expires"]) if limits.get("expires") else None
        code = secrets.token_urlsafe(16)
        coll, token = await self.collections.create(options, {
            "request": {"max_file_size": max_file_size, "allowed_types": [t.lower() for t in types],
                        "uploader_view": view, "closes_at": closes.isoformat() if closes else None},
            "max_files": self._positive(limits, "max_files"), "max_bytes": self._positive(limits, "max_bytes"),
        }, request_hash=hash_token(code))
        return coll, token, code

    async def resolve(self, code: str) -> CollectionRecord:
        """The collection a live upload link leads to: 404 for an unknown code, 410 once it closed."""
        coll = await self.store.get_by_request(hash_token(code)) if is_request_code(code) else None
        if coll is None or coll.request is None:
            raise errors.NotFound("no such upload link")
        await self.collections.get(coll.code)  # the collection itself expired: 410
        closes = coll.request.get("closes_at")
        if closes and datetime.fromisoformat(closes) <= utcnow():
            raise RequestClosed("this upload link has closed")
        return coll

    async def close(self, coll: CollectionRecord, token: str | None) -> CollectionRecord:
        """The creator stops the link (the collection stays)."""
        self.collections.check_token(coll, token)
        changed = await self.store.update(coll.code, {"request_hash": None})
        if changed is None:
            raise errors.NotFound("no such collection")
        return changed

    def summary(self, coll: CollectionRecord) -> dict[str, Any]:
        """What an uploader sees of the request: its title and limits, never the collection's code."""
        req = coll.request or {}
        return {"title": coll.title, "max_files": coll.max_files, "max_bytes": coll.max_bytes,
                "max_file_size": req.get("max_file_size") or self.max_upload_size,
                "allowed_types": req.get("allowed_types") or [], "closes_at": req.get("closes_at"),
                "uploader_view": req.get("uploader_view", "own"), "used_files": coll.used_files,
                "used_bytes": coll.used_bytes}

    def reservation(self, coll: CollectionRecord, upload: Upload) -> Reservation:
        """Bind an upload to the request's limits (size, types, quota)."""
        req = coll.request or {}
        if req.get("max_file_size"):
            upload.limit = min(upload.limit, int(req["max_file_size"]))
        if req.get("allowed_types"):
            upload.types = TypePolicy(tuple(req["allowed_types"]))
        reservation = Reservation(self.store, coll)
        upload.quota = reservation.grow
        return reservation


class Reservation:
    """One upload's share of a request's quota: one file, then its bytes as they arrive."""

    def __init__(self, store: CollectionStore, coll: CollectionRecord) -> None:
        self.store = store
        self.coll = coll
        self.files = 0
        self.bytes = 0
        self.kept = False
        self.released = False

    async def take_file(self) -> None:
        if not await self.store.reserve(self.coll.code, 1, 0):
            raise QuotaExceeded(f"this upload link takes at most {self.coll.max_files} files")
        self.files = 1

    async def grow(self, total: int) -> None:
        delta = total - self.bytes
        if delta <= 0:
            return
        if not await self.store.reserve(self.coll.code, 0, delta):
            raise QuotaExceeded(f"this upload link takes at most {self.coll.max_bytes} bytes in all")
        if self.released:  # the upload ended while this reservation was on its way: give it back too
            await self.store.reserve(self.coll.code, 0, -delta)
            return
        self.bytes = total

    def keep(self) -> None:
        self.kept = True

    async def release(self) -> None:
        """Give back what was reserved, unless the upload became a member (then it is used)."""
        self.released = True
        if self.kept or (self.files == 0 and self.bytes == 0):
            return
        files, nbytes, self.files, self.bytes = self.files, self.bytes, 0, 0
        await self.store.reserve(self.coll.code, -files, -nbytes)

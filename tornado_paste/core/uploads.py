"""What an upload is answered with and refused by: the refusal classes, ``IngestResult`` and
``Transformed``, the hook types the ingestor calls, and the delete/manage token helpers.

Split out of ``core/ingest.py`` (which re-exports every name here) so that each stays small.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tornado_paste import errors
from tornado_paste.core.records import FileRecord

__all__ = [
    "Enricher", "Forbidden", "IngestError", "IngestResult", "Listener", "Quota", "TooLarge", "Transform",
    "Transformed", "TypeRefused", "UploadCancelled", "hash_token", "token_matches",
]


class IngestError(errors.BadRequest):
    """An upload refused for a reason the client can act on. ``code`` names the reason."""


class TooLarge(errors.TooLarge, IngestError):
    pass


class TypeRefused(errors.TypeRefused, IngestError):
    pass


class Forbidden(errors.Forbidden, IngestError):
    pass


class UploadCancelled(errors.ClientClosed, IngestError):
    """The client went away (connection reset) after its last byte, before the upload was stored.

    Nobody hears the answer; it maps to 499 (nginx's "client closed request") so that it counts as
    neither a stored file nor a server error.
    """


@dataclass
class IngestResult:
    record: FileRecord
    created: bool
    # Only for the upload that created the record; a dedupe hit never learns it.
    delete_token: str | None = None


# Called before a new record is inserted, its blob committed (e.g. to add image dimensions); it reads
# the bytes through the blob store (no local path: with S3 there is none).
Enricher = Callable[[FileRecord], Awaitable[None]]
# Called after a record changed: (event type, record).
Listener = Callable[[str, FileRecord], Awaitable[None]]
# Called with the upload's size once a chunk is added, before the chunk is staged; raises to refuse it
# (an upload request's quota, reserved in the store as the bytes arrive).
Quota = Callable[[int], Awaitable[None]]


@dataclass
class Transformed:
    """A transform's answer: the new bytes (a file in the staging dir, handed over) and what it did."""

    path: str
    media: dict[str, Any]


# Called on an upload's staged bytes after sniffing, before the hash is final (e.g. removing photo
# metadata): (sniffed type, staged path) -> a new staged file, or None to keep the bytes as they are.
Transform = Callable[[str, str], Awaitable[Any]]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, token_hash: str) -> bool:
    if not token:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)

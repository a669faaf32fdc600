"""The first part of a text file, for the preview page (read off the event loop)."""

from __future__ import annotations

from dataclasses import dataclass

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.blobs.base import BlobMissing, BlobStore, BlobStoreUnavailable

# Enough to read a page of code; big logs get a link to the raw file instead.
EXCERPT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Excerpt:
    text: str
    truncated: bool


async def text_excerpt(blobs: BlobStore, record: FileRecord, limit: int = EXCERPT_BYTES) -> Excerpt | None:
    """Up to ``limit`` bytes decoded as UTF-8 (a cut multi-byte character is dropped); None if unreadable."""
    try:
        head = await blobs.read(record.sha256, 0, limit)
    except (OSError, BlobMissing, BlobStoreUnavailable):
        return None
    truncated = record.size > len(head)
    # A multi-byte character split by the limit shows up as trailing U+FFFD: drop it.
    text = head.decode("utf-8", errors="replace")
    if truncated:
        text = text.rstrip("\ufffd")
    return Excerpt(text=text, truncated=truncated)

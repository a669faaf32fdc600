"""FileRecord <-> SQLite row (ISO 8601 text times, JSON variant, 0/1 flags)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from tornado_paste.core.records import FileRecord

COLUMNS = (
    "filehash", "short_code", "sha256", "filename", "mimetype", "size", "uploaded_at", "delete_token_hash",
    "private", "width", "height", "expires_at", "parent_id", "variant",
    "media", "max_downloads", "downloads", "password_hash", "crc32",
)


def iso(moment: datetime | None) -> str | None:
    """The one text form of a time in SQLite (UTC, whole seconds): text order is time order."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat() if moment is not None else None


def encode_record(record: FileRecord) -> tuple[Any, ...]:
    row = record.to_row()
    row["uploaded_at"] = record.uploaded_at.isoformat()
    row["expires_at"] = iso(record.expires_at)
    row["private"] = int(record.private)
    row["variant"] = json.dumps(record.variant) if record.variant is not None else None
    row["media"] = json.dumps(record.media) if record.media is not None else None
    return tuple(row[c] for c in COLUMNS)


def decode_record(row: sqlite3.Row | None) -> FileRecord | None:
    if row is None:
        return None
    values = dict(row)
    for key in ("variant", "media"):
        if values.get(key):
            values[key] = json.loads(values[key])
    for key in ("uploaded_at", "expires_at"):
        if values.get(key):
            values[key] = datetime.fromisoformat(values[key])
    return FileRecord.from_row(values)

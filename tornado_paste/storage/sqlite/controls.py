"""What a manage token changes on a file, and the exact download count, on the SQLite ``files`` table.

The count is one conditional ``UPDATE ... SET downloads = downloads + 1 WHERE ... AND downloads <
max_downloads``: SQLite's single writer lock makes it atomic across every process sharing the file.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import DuplicateContent, FileControls
from tornado_paste.storage.sqlite.codec import decode_record, iso

if TYPE_CHECKING:
    from tornado_paste.storage.sqlite.store import SQLiteStore


class SQLiteFileControls(FileControls):
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def update(self, filehash: str, changes: dict[str, Any]) -> FileRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a field a manage token changes: {sorted(unknown)}")
        values = {k: (iso(v) if k == "expires_at" else int(v) if k == "private" else v) for k, v in changes.items()}

        def apply(conn: sqlite3.Connection) -> FileRecord | None:
            if values:
                assignments = ", ".join(f"{name} = ?" for name in values)
                conn.execute(f"UPDATE files SET {assignments} WHERE filehash = ?", (*values.values(), filehash))
            return decode_record(conn.execute("SELECT * FROM files WHERE filehash = ?", (filehash,)).fetchone())

        try:
            return await self.store.run(apply)
        except sqlite3.IntegrityError as exc:  # files_public_original or short_code's UNIQUE
            raise DuplicateContent(str(exc)) from exc

    async def claim_download(self, filehash: str) -> int | None:
        def claim(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "UPDATE files SET downloads = downloads + 1 WHERE filehash = ? AND max_downloads IS NOT NULL "
                "AND downloads < max_downloads RETURNING downloads", (filehash,)).fetchall()
            return int(row[0][0]) if row else None

        return await self.store.run(claim)

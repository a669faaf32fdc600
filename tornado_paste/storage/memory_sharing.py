"""Shares' storage concerns in process memory (``storage/sharing.py``): file controls and collections.

The same contract as SQLite and MongoDB (``tests/storage/test_controls.py``, ``test_collections.py``);
``MemoryStore`` (``storage/memory.py``) holds them.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tornado_paste.core.records import CollectionRecord, FileRecord, Member
from tornado_paste.storage.base import CollectionStore, DuplicateContent, FileControls

if TYPE_CHECKING:
    from tornado_paste.storage.memory import MemoryStore


class MemoryFileControls(FileControls):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def _find(self, filehash: str) -> FileRecord | None:
        return next((r for r in self.store.files.values() if r.filehash == filehash), None)

    async def update(self, filehash: str, changes: dict[str, Any]) -> FileRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a field a manage token changes: {sorted(unknown)}")
        record = self._find(filehash)
        if record is None:
            return None
        after = dataclasses.replace(record, **changes)
        for other in self.store.files.values():
            if other is record:
                continue
            if after.public_original and other.public_original and other.sha256 == after.sha256:
                raise DuplicateContent(after.sha256)
            if "short_code" in changes and other.short_code == after.short_code:
                raise DuplicateContent(after.short_code)
        for name, value in changes.items():
            setattr(record, name, value)
        return dataclasses.replace(record)

    async def claim_download(self, filehash: str) -> int | None:
        record = self._find(filehash)
        if record is None or record.max_downloads is None or record.downloads >= record.max_downloads:
            return None
        record.downloads += 1
        return record.downloads


class MemoryCollectionStore(CollectionStore):
    def __init__(self) -> None:
        self.items: dict[str, CollectionRecord] = {}
        self.rows: dict[str, list[Member]] = {}
        self.positions: dict[str, int] = {}

    async def create(self, collection: CollectionRecord) -> None:
        taken = collection.code in self.items or (collection.request_hash is not None and any(
            c.request_hash == collection.request_hash for c in self.items.values()))
        if taken:
            raise DuplicateContent(collection.code)
        self.items[collection.code] = copy.deepcopy(collection)
        self.rows[collection.code] = []

    async def get(self, code: str) -> CollectionRecord | None:
        found = self.items.get(code)
        return copy.deepcopy(found) if found is not None else None

    async def get_by_request(self, request_hash: str) -> CollectionRecord | None:
        found = next((c for c in self.items.values() if c.request_hash == request_hash), None)
        return copy.deepcopy(found) if found is not None else None

    async def update(self, code: str, changes: dict[str, Any]) -> CollectionRecord | None:
        unknown = set(changes) - self.FIELDS
        if unknown:
            raise ValueError(f"not a collection field: {sorted(unknown)}")
        found = self.items.get(code)
        if found is None:
            return None
        wanted = changes.get("request_hash")
        if wanted is not None and any(c.request_hash == wanted and c.code != code for c in self.items.values()):
            raise DuplicateContent(wanted)
        for name, value in changes.items():
            setattr(found, name, copy.deepcopy(value))
        return copy.deepcopy(found)

    async def delete(self, code: str) -> bool:
        self.rows.pop(code, None)
        return self.items.pop(code, None) is not None

    async def add_member(self, code: str, filehash: str, added_at: datetime, by_owner: bool,
                         owned: bool) -> tuple[Member, bool]:
        rows = self.rows.setdefault(code, [])
        for member in rows:
            if member.filehash == filehash:
                member.by_owner = member.by_owner or by_owner
                member.owned = member.owned or owned
                return dataclasses.replace(member), False
        self.positions[code] = self.positions.get(code, 0) + 1
        member = Member(code, filehash, self.positions[code], added_at, by_owner, owned)
        rows.append(member)
        return dataclasses.replace(member), True

    async def remove_member(self, code: str, filehash: str) -> bool:
        rows = self.rows.get(code, [])
        kept = [m for m in rows if m.filehash != filehash]
        self.rows[code] = kept
        return len(kept) < len(rows)

    async def members(self, code: str) -> list[Member]:
        return [dataclasses.replace(m) for m in sorted(self.rows.get(code, []), key=lambda m: m.position)]

    async def containing(self, filehash: str) -> list[str]:
        return sorted(code for code, rows in self.rows.items() if any(m.filehash == filehash for m in rows))

    async def reserve(self, code: str, files: int, nbytes: int) -> bool:
        found = self.items.get(code)
        if found is None:
            return False
        if files <= 0 and nbytes <= 0:
            found.used_files = max(0, found.used_files + files)
            found.used_bytes = max(0, found.used_bytes + nbytes)
            return True
        if found.max_files is not None and found.used_files + files > found.max_files:
            return False
        if found.max_bytes is not None and found.used_bytes + nbytes > found.max_bytes:
            return False
        found.used_files += files
        found.used_bytes += nbytes
        return True

    async def claim_download(self, code: str) -> int | None:
        found = self.items.get(code)
        if found is None or found.max_downloads is None or found.downloads >= found.max_downloads:
            return None
        found.downloads += 1
        return found.downloads

    async def expired(self, now: datetime, limit: int) -> list[CollectionRecord]:
        found = sorted((c for c in self.items.values() if c.expires_at is not None and c.expires_at <= now),
                       key=lambda c: c.expires_at or now)
        return [copy.deepcopy(c) for c in found[:limit]]

"""Every storage concern in process memory: one process only, lost on restart (tests, tools).

It follows the same contract as SQLite and MongoDB (``tests/storage/`` runs one
suite against all three), including unique sha256/filehash and the tus lease.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from datetime import datetime
from typing import Any

from tornado_paste.core.records import CollectionRecord, FileRecord, LogEntry, Member, TusState
from tornado_paste.storage.base import (
    Backend,
    CollectionStore,
    DerivativeIndex,
    DuplicateContent,
    EventLog,
    ExpiryIndex,
    FileControls,
    Locked,
    StoreUnavailable,
    TusStateStore,
)


class MemoryStore(Backend):
    def __init__(self) -> None:
        self.files: dict[int, FileRecord] = {}
        self._ids = itertools.count(1)
        self.opened = False
        self.derivatives = MemoryDerivativeIndex()
        self.tus_state = MemoryTusStateStore()
        self.event_log = MemoryEventLog()
        self.expiry = MemoryExpiryIndex(self)
        self.controls = MemoryFileControls(self)
        self.collections = MemoryCollectionStore()

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def ping(self) -> None:
        if not self.opened:
            raise StoreUnavailable("memory store is closed")

    async def insert_file(self, record: FileRecord) -> FileRecord:
        for other in self.files.values():
            if other.sha256 == record.sha256 or other.filehash == record.filehash:
                raise DuplicateContent(record.sha256)
        record.id = next(self._ids)
        self.files[record.id] = dataclasses.replace(record)
        return record

    def _copy(self, record: FileRecord | None) -> FileRecord | None:
        return dataclasses.replace(record) if record is not None else None

    async def get_by_id(self, file_id: int) -> FileRecord | None:
        return self._copy(self.files.get(file_id))

    async def get_by_filehash(self, filehash: str) -> FileRecord | None:
        return self._copy(next((r for r in self.files.values() if r.filehash == filehash), None))

    async def get_by_sha256(self, sha256: str) -> FileRecord | None:
        return self._copy(next((r for r in self.files.values() if r.sha256 == sha256), None))

    async def latest(self, limit: int, before_id: int | None = None) -> list[FileRecord]:
        ids = sorted((i for i, r in self.files.items() if not r.private and (before_id is None or i < before_id)),
                     reverse=True)
        return [dataclasses.replace(self.files[i]) for i in ids[:limit]]

    async def count_public(self) -> int:
        return sum(1 for r in self.files.values() if not r.private)

    async def delete_file(self, file_id: int) -> bool:
        return self.files.pop(file_id, None) is not None

    async def count_sha256_refs(self, sha256: str) -> int:
        return sum(1 for r in self.files.values() if r.sha256 == sha256)


class MemoryDerivativeIndex(DerivativeIndex):
    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], int] = {}

    async def open(self) -> None:
        return None

    async def get(self, parent_id: int, key: str) -> int | None:
        return self.entries.get((parent_id, key))

    async def claim(self, parent_id: int, key: str, file_id: int) -> int:
        return self.entries.setdefault((parent_id, key), file_id)

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        if self.entries.get((parent_id, key)) == file_id:
            del self.entries[(parent_id, key)]

    async def children(self, parent_id: int) -> list[int]:
        return sorted({f for (p, _k), f in self.entries.items() if p == parent_id})

    async def forget(self, file_id: int) -> None:
        self.entries = {k: f for k, f in self.entries.items() if file_id not in (k[0], f)}


class MemoryTusStateStore(TusStateStore):
    def __init__(self) -> None:
        self.uploads: dict[str, TusState] = {}

    async def open(self) -> None:
        return None

    async def create(self, state: TusState) -> None:
        if state.id in self.uploads:
            raise DuplicateContent(state.id)
        self.uploads[state.id] = copy.deepcopy(state)

    async def get(self, upload_id: str) -> TusState | None:
        state = self.uploads.get(upload_id)
        return copy.deepcopy(state) if state is not None else None

    async def acquire(self, upload_id: str, owner: str, now: float, lease: float) -> TusState | None:
        state = self.uploads.get(upload_id)
        if state is None:
            return None
        if state.lock_owner not in (None, owner) and state.lock_until >= now:
            raise Locked(upload_id)
        state.lock_owner, state.lock_until = owner, now + lease
        return copy.deepcopy(state)

    def _held(self, upload_id: str, owner: str) -> TusState | None:
        state = self.uploads.get(upload_id)
        return state if state is not None and state.lock_owner == owner else None

    async def renew(self, upload_id: str, owner: str, until: float) -> bool:
        state = self._held(upload_id, owner)
        if state is not None:
            state.lock_until = until
        return state is not None

    async def update(self, upload_id: str, owner: str, **changes: Any) -> bool:
        state = self._held(upload_id, owner)
        if state is not None:
            for name, value in changes.items():
                setattr(state, name, copy.deepcopy(value))
        return state is not None

    async def release(self, upload_id: str, owner: str) -> None:
        state = self._held(upload_id, owner)
        if state is not None:
            state.lock_owner, state.lock_until = None, 0.0

    async def delete(self, upload_id: str) -> bool:
        return self.uploads.pop(upload_id, None) is not None

    @staticmethod
    def _is_expired(state: TusState, now: float) -> bool:
        return state.expires_at < now and (state.lock_owner is None or state.lock_until < now)

    async def expired(self, now: float, limit: int = 100) -> list[TusState]:
        found = sorted((s for s in self.uploads.values() if self._is_expired(s, now)), key=lambda s: s.expires_at)
        return [copy.deepcopy(s) for s in found[:limit]]

    async def delete_if_expired(self, upload_id: str, now: float) -> bool:
        state = self.uploads.get(upload_id)
        if state is None or not self._is_expired(state, now):
            return False
        del self.uploads[upload_id]
        return True

    async def ids(self) -> set[str]:
        return set(self.uploads)


class MemoryEventLog(EventLog):
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.last = 0

    async def open(self) -> None:
        return None

    async def append(self, type_: str, ts: float, filehash: str, parent_filehash: str | None, private: bool,
                     payload: bytes) -> int:
        self.last += 1
        self.entries.append(LogEntry(self.last, type_, ts, filehash, parent_filehash, private, payload))
        return self.last

    async def read_after(self, cursor: int, limit: int, upto: int | None = None) -> list[LogEntry]:
        found = [e for e in self.entries if e.cursor > cursor and (upto is None or e.cursor <= upto)]
        return found[:limit]

    async def last_cursor(self) -> int:
        return self.last

    async def trim(self, older_than: float, keep: int) -> int:
        before = len(self.entries)
        kept = [e for e in self.entries if e.ts >= older_than]
        self.entries = kept[-keep:] if keep > 0 else []
        return before - len(self.entries)


class MemoryExpiryIndex(ExpiryIndex):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def open(self) -> None:
        return None

    async def expired(self, now: datetime, limit: int) -> list[FileRecord]:
        found = sorted((r for r in self.store.files.values() if r.expires_at is not None and r.expires_at <= now),
                       key=lambda r: r.expires_at or now)
        return [dataclasses.replace(r) for r in found[:limit]]

    async def set_expiry(self, file_id: int, expires_at: datetime | None) -> None:
        record = self.store.files.get(file_id)
        if record is not None:
            record.expires_at = expires_at

    async def children(self, parent_id: int) -> list[FileRecord]:
        return [dataclasses.replace(r) for r in self.store.files.values() if r.parent_id == parent_id]


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

"""Every storage concern in process memory: one process only, lost on restart (tests, tools).

It follows the same contract as SQLite and MongoDB (``tests/storage/`` runs one
suite against all three), including unique filehash/short code, sha256 unique among public
originals, and the tus lease.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tornado_paste.core.records import DerivativeEntry, FileRecord, LogEntry, TusState, TusUsage
from tornado_paste.storage.base import (
    Backend,
    BlockEntry,
    BlockList,
    DerivativeIndex,
    DuplicateContent,
    EventLog,
    ExpiryIndex,
    FileStats,
    Inventory,
    Locked,
    StoreUnavailable,
    TusStateStore,
    TypeTotals,
)
from tornado_paste.storage.memory_sharing import MemoryCollectionStore, MemoryFileControls


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
        self.blocklist = MemoryBlockList()
        self.stats = MemoryFileStats(self)

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.opened = False

    async def ping(self) -> None:
        if not self.opened:
            raise StoreUnavailable("memory store is closed")

    async def insert_file(self, record: FileRecord) -> FileRecord:
        for other in self.files.values():
            if other.filehash == record.filehash or other.short_code == record.short_code:
                raise DuplicateContent(record.filehash)
            if record.public_original and other.public_original and other.sha256 == record.sha256:
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

    async def get_by_short_code(self, code: str) -> FileRecord | None:
        return self._copy(next((r for r in self.files.values() if r.short_code == code), None))

    async def get_public_original(self, sha256: str) -> FileRecord | None:
        return self._copy(next((r for r in self.files.values() if r.public_original and r.sha256 == sha256), None))

    async def with_sha256(self, sha256: str, limit: int = 100) -> list[FileRecord]:
        return [dataclasses.replace(r) for _i, r in sorted(self.files.items()) if r.sha256 == sha256][:limit]

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
        self.entries: dict[tuple[int, str], DerivativeEntry] = {}

    async def open(self) -> None:
        return None

    async def entry(self, parent_id: int, key: str) -> DerivativeEntry | None:
        return self.entries.get((parent_id, key))

    async def claim(self, parent_id: int, key: str, file_id: int, size: int = 0, used_at: float = 0.0,
                    pinned: bool = False) -> int:
        new = DerivativeEntry(parent_id, key, file_id, size, used_at, pinned)
        return self.entries.setdefault((parent_id, key), new).file_id

    async def touch(self, parent_id: int, key: str, used_at: float) -> None:
        found = self.entries.get((parent_id, key))
        if found is not None and used_at > found.used_at:
            self.entries[(parent_id, key)] = dataclasses.replace(found, used_at=used_at)

    async def discard(self, parent_id: int, key: str, file_id: int) -> None:
        found = self.entries.get((parent_id, key))
        if found is not None and found.file_id == file_id:
            del self.entries[(parent_id, key)]

    async def children(self, parent_id: int) -> list[int]:
        return sorted({e.file_id for (p, _k), e in self.entries.items() if p == parent_id})

    async def forget(self, file_id: int) -> None:
        self.entries = {k: e for k, e in self.entries.items() if file_id not in (e.parent_id, e.file_id)}

    async def count(self, parent_id: int) -> int:
        return sum(1 for e in self.entries.values() if e.parent_id == parent_id and not e.pinned)

    async def total_bytes(self) -> int:
        return sum(e.size for e in self.entries.values() if not e.pinned)

    async def least_recent(self, limit: int, parent_id: int | None = None) -> list[DerivativeEntry]:
        found = [e for e in self.entries.values() if not e.pinned and parent_id in (None, e.parent_id)]
        return sorted(found, key=lambda e: (e.used_at, e.parent_id, e.key))[:limit]

    async def refs(self, file_id: int) -> int:
        return sum(1 for e in self.entries.values() if e.file_id == file_id)


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

    async def usage(self, now: float, client: str | None = None) -> TusUsage:
        found = [s for s in self.uploads.values() if s.filehash is None and s.expires_at >= now
                 and (client is None or s.client == client)]
        return TusUsage(len(found), sum(s.offset if s.length is None else s.length for s in found))


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


class MemoryBlockList(BlockList):
    def __init__(self) -> None:
        self.blocked: dict[str, BlockEntry] = {}

    async def block(self, sha256s: Iterable[str], reason: str, ts: float) -> int:
        added = 0
        for sha256 in sha256s:
            if sha256 not in self.blocked:
                self.blocked[sha256] = BlockEntry(sha256, reason, ts)
                added += 1
        return added

    async def unblock(self, sha256: str) -> bool:
        return self.blocked.pop(sha256, None) is not None

    async def is_blocked(self, sha256: str) -> bool:
        return sha256 in self.blocked

    async def entries(self, limit: int = 1000) -> list[BlockEntry]:
        return sorted(self.blocked.values(), key=lambda e: (-e.ts, e.sha256))[:limit]

    async def count(self) -> int:
        return len(self.blocked)


class MemoryFileStats(FileStats):
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def summary(self) -> Inventory:
        inventory = Inventory()
        for record in self.store.files.values():
            inventory.files += 1
            inventory.bytes += record.size
            inventory.private += int(record.private)
            if record.parent_id is not None:
                inventory.derivatives += 1
                inventory.derivative_bytes += record.size
            totals = inventory.by_type.setdefault(record.mimetype, TypeTotals())
            totals.files += 1
            totals.bytes += record.size
        inventory.by_type = dict(sorted(inventory.by_type.items()))
        return inventory

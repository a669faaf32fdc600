"""The tus 1.0.0 resumable-upload protocol, as core logic (no HTTP here; handlers/tus.py speaks it).

An upload's bytes are appended to ``<data-dir>/tus/<id>``; its state (offset,
length, metadata, expiry, concatenation, PATCH lock) lives in the metadata
store through ``tus_state``, so any process can continue any upload.

Each PATCH is a ``PatchSession``: it takes the upload's lock in the store,
truncates the file back to the committed offset (dropping whatever a crashed
or refused PATCH left beyond it), appends the new bytes in large writes while
hashing them, and only after the body is complete (and its Upload-Checksum
verified) moves the committed offset forward (see ``_reconcile`` for durability). A checksum mismatch
truncates back, so that PATCH's bytes never count and were never held in
memory whole.

The sha256 of the whole file: hashlib state cannot be persisted, so each
process keeps the running sha256 of the uploads it is receiving in memory,
keyed by (upload, committed offset). When every PATCH of an upload landed on
the same process (the usual case), the digest is ready at the end, exactly as
for ``POST /``. When a PATCH landed elsewhere or the process restarted, that
cache entry does not match the offset and the finish re-hashes the staged file
once, in 8 MiB reads on an executor thread (never on the event loop).

When the last byte is in, the staged file goes through ``Ingestor.finish_prestaged``:
the same sniff, policy, dedupe, commit, record, event and metrics as ``POST /``.

Open uploads are capped per client and in all (count, declared bytes), lengths must
fit on the disk and metadata is bounded: ``quota``. Each upload records the client
that created it (an internal field) so the caps are counted in the store.

Neighbours: ``protocol`` (vocabulary, refusals, header parsing), ``session``
(one PATCH), ``concat`` (final uploads), ``quota`` (the caps), ``files`` (blocking
file work, the staged-file adapter); the
state's persistence is ``storage``'s ``TusStateStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from collections import OrderedDict
from typing import Any

from tornado_paste.core.ingest import IngestError, Ingestor, IngestResult, TooLarge
from tornado_paste.core.locks import KeyedLocks
from tornado_paste.core.params import truthy
from tornado_paste.core.records import TusState
from tornado_paste.core.tasks import Periodic
from tornado_paste.limits.retention import Retention
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import Locked, TusStateStore
from tornado_paste.tus.concat import create_final
from tornado_paste.tus.files import TusStaged, hash_file, read_head, remove_orphans
from tornado_paste.tus.protocol import (
    OffsetMismatch,
    TusError,
    TusForbidden,
    UploadGone,
    UploadLocked,
    UploadNotFound,
)
from tornado_paste.tus.quota import TusLimits, TusQuota
from tornado_paste.tus.session import PatchResult, PatchSession

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_HASH_CACHE_SIZE = 256


def _owner_tag() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(6)}"


# -- the service --------------------------------------------------------------------------------

class TusService:
    def __init__(self, state: TusStateStore, ingestor: Ingestor, metrics: Metrics, data_dir: str,
                 expiry: float = 24 * 3600.0, lease: float = 30.0, sweep_interval: float = 300.0,
                 fsync_patches: bool = False, io_pool: Any = None,
                 retention: Retention | None = None, limits: TusLimits | None = None) -> None:
        self.state = state
        # The file retention service (expires vocabulary, default lifetime); None: files keep no expiry.
        self.retention = retention
        # Where PATCH pieces are hashed and written (the blob store's I/O pool; None = default executor).
        self.io_pool = io_pool
        # Off by default: see _reconcile. The finished file is always fsynced before it becomes a blob.
        self.fsync_patches = fsync_patches
        self.ingestor = ingestor
        self.metrics = metrics
        self.dir = os.path.join(os.path.abspath(data_dir), "tus")
        self.quota = TusQuota(state, limits or TusLimits(), metrics, self.dir)
        # One creation at a time per client in this process, so its cap is never raced from here.
        self._creating = KeyedLocks()
        self.expiry = expiry
        self.lease = lease
        self.sweep_interval = sweep_interval
        # upload id -> (committed offset, sha256 of bytes [0, offset)); see the module docstring.
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._sweeper = Periodic("tus sweep", sweep_interval, self.sweep)

    @property
    def max_size(self) -> int:
        return self.ingestor.max_upload_size

    def path_for(self, upload_id: str) -> str:
        if not self.is_upload_id(upload_id):
            raise UploadNotFound("no such upload")
        return os.path.join(self.dir, upload_id)

    @staticmethod
    def is_upload_id(upload_id: str) -> bool:
        return bool(_ID_RE.match(upload_id))

    owner_tag = staticmethod(_owner_tag)

    def parse_metadata(self, header: str | None) -> dict[str, str]:
        """``Upload-Metadata``, parsed and within the size limits."""
        return self.quota.metadata(header)

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    # -- queries --------------------------------------------------------------
    async def status(self, upload_id: str) -> TusState:
        """The upload's state; UploadNotFound (unknown, terminated, swept) or UploadGone (expired)."""
        self.path_for(upload_id)
        state = await self.state.get(upload_id)
        if state is None:
            raise UploadNotFound("no such upload (never created, terminated, or expired and removed)")
        if not state.done and state.expires_at < time.time():
            raise UploadGone("this upload expired; start a new one")
        self._reconcile(state)
        return state

    def _reconcile(self, state: TusState) -> bool:
        """Lower the offset to the bytes really on disk; True if it had to.

        A PATCH commits its offset once its bytes are written to the file (in
        the page cache), without an fsync per PATCH unless ``fsync_patches``:
        that survives any process crash, and costs 32 fsyncs per GiB less. After
        a power loss the file may be shorter than the committed offset (the
        size only grows on disk with the data, in ext4's ordered mode); then the
        upload simply resumes from what survived, which tus allows (the client
        always resumes from HEAD's offset).
        """
        if state.done or state.concat == "final":
            return False
        try:
            size = os.path.getsize(self.path_for(state.id))
        except FileNotFoundError:
            size = 0
        if size >= state.offset:
            return False
        log.warning("tus upload %s: %d bytes on disk below its committed offset %d; resuming from there",
                    state.id, size, state.offset)
        state.offset = size
        self._hashes.pop(state.id, None)
        return True

    # -- creation ------------------------------------------------------------
    async def create(self, length: int | None, metadata: dict[str, str], concat: str | None = None,
                     client: str | None = None) -> TusState:
        """A new upload for ``client``; refused (leaving nothing behind) past the caps of ``quota``."""
        if length is not None and length > self.max_size:
            raise TooLarge(f"Upload-Length exceeds Tus-Max-Size ({self.max_size} bytes)")
        self.check_metadata(metadata)
        async with self._creating.hold(client or ""):
            await self.quota.admit(client, length)
            now = time.time()
            state = TusState(id=secrets.token_hex(16), length=length, metadata=metadata, created_at=now,
                             expires_at=now + self.expiry, concat=concat, client=client)
            os.makedirs(self.dir, exist_ok=True)
            # The file exists from the start, so HEAD/DELETE/sweep never meet a missing one.
            with open(self.path_for(state.id), "wb"):
                pass
            try:
                await self.state.create(state)
                # Another process may have created one for the same client meanwhile: within the caps still?
                await self.quota.admit(client, length, already_counted=True)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.state.delete(state.id)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path_for(state.id))
                raise
        self.metrics.incr("tus.created")
        return state

    def check_metadata(self, metadata: dict[str, str]) -> None:
        """Refuse a bad ``expires`` now, not after 4 GB (same vocabulary as ``POST /``: 1h|1d|7d|30d|never)."""
        retention = self.retention
        if retention is not None:
            retention.policy.check(metadata.get("expires"))

    async def create_final(self, part_ids: list[str], metadata: dict[str, str],
                           client: str | None = None) -> PatchResult:
        """Concatenation: a final upload made of finished partial uploads, ingested at once (``concat``)."""
        return await create_final(self, part_ids, metadata, client)

    # -- PATCH ---------------------------------------------------------------
    async def _lock(self, upload_id: str, owner: str, busy: str, missing: str) -> TusState:
        """Take the upload's lock for ``owner``: UploadLocked (``busy``) if held, UploadNotFound (``missing``)."""
        self.path_for(upload_id)
        try:
            state = await self.state.acquire(upload_id, owner, time.time(), self.lease)
        except Locked:
            raise UploadLocked(busy) from None
        if state is None:
            raise UploadNotFound(missing)
        return state

    async def begin_patch(self, upload_id: str, offset: int, checksum: tuple[str, bytes] | None = None,
                          new_length: int | None = None) -> PatchSession:
        """Take the upload's lock and open it for appending at ``offset`` (which must be the current one)."""
        owner = self.owner_tag()
        state = await self._lock(upload_id, owner, "another request is writing to this upload; retry after HEAD",
                                 "no such upload (never created, terminated, or expired and removed)")
        try:
            if not state.done and state.expires_at < time.time():
                raise UploadGone("this upload expired; start a new one")
            if state.concat == "final":
                raise TusForbidden("a final (concatenated) upload cannot be patched")
            if state.done:
                raise OffsetMismatch("this upload is already complete")
            if self._reconcile(state):
                await self.state.update(upload_id, owner, offset=state.offset)
            if offset != state.offset:
                raise OffsetMismatch(f"Upload-Offset is {offset} but the upload is at {state.offset}")
            if new_length is not None:
                if state.length is not None and new_length != state.length:
                    raise TusError("Upload-Length is already set and cannot change")
                if new_length < state.offset:
                    raise TusError("Upload-Length is smaller than what was already uploaded")
                if new_length > self.max_size:
                    raise TooLarge(f"Upload-Length exceeds Tus-Max-Size ({self.max_size} bytes)")
                if state.length is None:
                    await self.quota.admit_length(state, new_length)
                    await self.state.update(upload_id, owner, length=new_length)
                    state.length = new_length
            # A deferred length may grow only within its client's byte cap.
            room = await self.quota.deferred_room(state, self.max_size) if state.length is None else None
            session = PatchSession(self, state, owner, checksum, self._running_hash(upload_id, state.offset),
                                   max_total=room)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.state.release(upload_id, owner)
            raise
        return session

    def _running_hash(self, upload_id: str, offset: int) -> Any | None:
        if offset == 0:
            return hashlib.sha256()
        cached = self._hashes.get(upload_id)
        if cached is None or cached[0] != offset:
            return None
        return cached[1].copy()

    async def commit_patch(self, session: PatchSession, new_length: int | None) -> PatchResult:
        """Called with the lock held and the new bytes written: record the new offset, finish if complete."""
        state = session.state
        new_offset = session.base + session.written
        if new_length is not None and state.length is None:
            state.length = new_length
        changes: dict[str, Any] = {"offset": new_offset, "expires_at": time.time() + self.expiry}
        if not await self.state.update(state.id, session.owner, **changes):
            # Our lease ran out and someone else took the upload: our bytes must not count.
            raise UploadLocked("this PATCH lost the upload's lock (it took longer than the lease)")
        state.offset, state.expires_at = new_offset, changes["expires_at"]
        self.metrics.incr("tus.patch.bytes", session.written)
        running = session.running_sha256
        if running is not None:
            self._hashes[state.id] = (new_offset, running)
            self._hashes.move_to_end(state.id)
            while len(self._hashes) > _HASH_CACHE_SIZE:
                self._hashes.popitem(last=False)
        if state.length is None or new_offset != state.length:
            return PatchResult(state)
        if state.concat == "partial":
            await self.state.update(state.id, session.owner, done=True)
            state.done = True
            self._hashes.pop(state.id, None)
            return PatchResult(state)
        path = self.path_for(state.id)
        loop = asyncio.get_running_loop()
        head_size = self.ingestor.sniff_bytes
        if running is not None:
            sha256 = running.hexdigest()
            head = await loop.run_in_executor(None, read_head, path, head_size)
        else:
            sha256, head = await loop.run_in_executor(None, hash_file, path, new_offset, head_size)
        result = await self.ingest_staged(state, session.owner, TusStaged(path, new_offset, head, sha256))
        return PatchResult(state, result)

    async def ingest_staged(self, state: TusState, owner: str, staged: TusStaged) -> IngestResult:
        meta = state.metadata
        filename = meta.get("filename") or meta.get("name")
        retention = self.retention
        try:
            # The file's lifetime: the same retention policy (and default) as POST /.
            expires_at = retention.policy.expires_at(staged.size, meta.get("expires")) if retention else None
            result = await self.ingestor.finish_prestaged(
                staged, filename, private=truthy(meta.get("private")), expires_at=expires_at, source="tus")
        except (IngestError, TusError):
            # Refused for good (type or size policy): nothing of it may remain.
            await self.remove_upload(state.id)
            raise
        # Committed or deduped: the blob has the bytes (or already had them). Mark the upload done
        # before the staged bytes go, so no HEAD ever sees a finished upload without its bytes.
        self._hashes.pop(state.id, None)
        state.done, state.filehash = True, result.record.filehash
        await self.state.update(state.id, owner, done=True, filehash=state.filehash)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged.path)
        self.metrics.incr("tus.completed")
        return result

    # -- termination and expiry ------------------------------------------------
    async def terminate(self, upload_id: str) -> None:
        await self._lock(upload_id, self.owner_tag(), "a PATCH is writing to this upload; retry shortly",
                         "no such upload")
        await self.remove_upload(upload_id)
        self.metrics.incr("tus.terminated")

    async def remove_upload(self, upload_id: str) -> None:
        await self.state.delete(upload_id)
        self._hashes.pop(upload_id, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_for(upload_id))

    async def sweep(self, now: float | None = None) -> int:
        """Remove expired uploads (state and bytes) and orphan files; returns how many uploads went."""
        now = time.time() if now is None else now
        removed = 0
        while True:
            batch = await self.state.expired(now, limit=100)
            if not batch:
                break
            for state in batch:
                if await self.state.delete_if_expired(state.id, now):
                    removed += 1
                    self._hashes.pop(state.id, None)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path_for(state.id))
                    if not state.done:
                        self.metrics.incr("tus.expired")
            if len(batch) < 100:
                break
        remove_orphans(self.dir, await self.state.ids(), now - self.expiry)
        if removed:
            log.info("tus sweep removed %d expired upload(s)", removed)
        return removed

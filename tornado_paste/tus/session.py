"""One PATCH of a tus upload: bytes written beyond the committed offset, then committed or dropped.

The session needs a few things from the service that owns it; ``PatchOwner`` names
them, so this module does not import the service (the way Tornado's websocket.py
talks to its connection through ``_WebSocketDelegate``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol

from tornado_paste.core.ingest import IngestResult, TooLarge
from tornado_paste.core.records import TusState
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import TusStateStore
from tornado_paste.storage.blobs.local import PieceWriter
from tornado_paste.tus.protocol import CHECKSUMS, ChecksumMismatch, UploadLocked

log = logging.getLogger(__name__)


class PatchOwner(Protocol):
    """What a PatchSession uses of the tus service."""

    state: TusStateStore
    metrics: Metrics
    lease: float
    fsync_patches: bool
    io_pool: Any

    @property
    def max_size(self) -> int: ...

    def path_for(self, upload_id: str) -> str: ...

    async def commit_patch(self, session: PatchSession, new_length: int | None) -> PatchResult: ...


@dataclass
class PatchResult:
    state: TusState
    # Set when this PATCH completed the upload and it went through the ingest path.
    result: IngestResult | None = None


class PatchSession:
    """Bytes of one PATCH (or creation-with-upload body), written beyond the committed offset."""

    def __init__(self, service: PatchOwner, state: TusState, owner: str, checksum: tuple[str, bytes] | None,
                 running: Any | None, max_total: int | None = None) -> None:
        self.service = service
        self.state = state
        self.owner = owner
        self.base = state.offset
        self.received = 0
        self._checksum = checksum
        self._check = CHECKSUMS[checksum[0]]() if checksum else None
        self._running = running  # sha256 of bytes [0, base) continued here, or None
        # A deferred length: up to the size limit, or ``max_total`` (its client's byte cap) when lower.
        limit = state.length if state.length is not None else min(service.max_size, max_total or service.max_size)
        self.room = limit - self.base
        self.closed = False
        self.lost = False
        path = service.path_for(state.id)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            # Whatever lies beyond the committed offset is from a PATCH that never committed.
            os.ftruncate(self._fd, self.base)
            os.lseek(self._fd, self.base, os.SEEK_SET)
        except OSError:
            os.close(self._fd)
            raise
        self._writer = PieceWriter(self._fd, service.io_pool, [self._check, self._running])
        self._renewer = asyncio.ensure_future(self._renew_lease())

    async def _renew_lease(self) -> None:
        lease = self.service.lease
        while True:
            await asyncio.sleep(lease / 3)
            try:
                held = await self.service.state.renew(self.state.id, self.owner, time.time() + lease)
            except Exception:
                continue  # the store hiccuped; the lease still has two thirds to run
            if not held:
                # The lease ran out (store unreachable for a whole lease) and another request took the
                # upload: stop writing at once so its bytes are not overwritten.
                self.lost = True
                return

    def write(self, chunk: bytes | memoryview) -> asyncio.Future[None] | None:
        """Append bytes; returns a future to await before writing more, or None. TooLarge past the length.

        A ``blobs.PieceWriter`` hashes (running sha256 and Upload-Checksum) and
        writes 1 MiB pieces on the blob I/O pool; the returned future is
        Tornado's backpressure.
        """
        if self._fd is None:
            raise ValueError("this PATCH is closed")
        if self.lost:
            raise UploadLocked("this PATCH lost the upload's lock")
        if self.received + len(chunk) > self.room:
            raise TooLarge("the PATCH body goes beyond the upload's length"
                           if self.state.length is not None else "the upload exceeds the size limit")
        self.received += len(chunk)
        return self._writer.write(chunk)

    @property
    def written(self) -> int:
        """Bytes of this PATCH that are in the file."""
        return self._writer.written

    async def _sync_and_close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self.service.fsync_patches:
                await asyncio.get_running_loop().run_in_executor(self.service.io_pool, os.fsync, fd)
        finally:
            os.close(fd)

    async def _truncate_and_close(self) -> None:
        await self._writer.settle()
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, self.base)
        finally:
            os.close(fd)

    async def commit(self, new_length: int | None = None) -> PatchResult:
        """The body is complete: verify the checksum, then move the committed offset."""
        try:
            await self._writer.drain()
            if self._check is not None and self._checksum is not None \
                    and self._check.digest() != self._checksum[1]:
                await self._truncate_and_close()
                self.service.metrics.incr("tus.checksum_mismatch")
                raise ChecksumMismatch("the body does not match Upload-Checksum; its bytes were discarded")
            await self._sync_and_close()
            return await self.service.commit_patch(self, new_length)
        finally:
            await self.close()

    async def interrupted(self) -> None:
        """The client went away mid-body: keep what arrived (unless it cannot be verified)."""
        try:
            if self._check is not None:
                await self._truncate_and_close()
                return
            await self._writer.drain()
            await self._sync_and_close()
            if self.written:
                await self.service.commit_patch(self, None)
        except Exception:
            log.exception("could not keep the partial PATCH of tus upload %s", self.state.id)
            await self._truncate_and_close()
        finally:
            await self.close()

    async def close(self) -> None:
        """Drop the file handle (uncommitted bytes are truncated by the next PATCH) and the lock."""
        if self.closed:
            return
        self.closed = True
        self._renewer.cancel()
        if self._fd is not None:
            await self._truncate_and_close()
        with contextlib.suppress(Exception):
            await self.service.state.release(self.state.id, self.owner)

    @property
    def running_sha256(self) -> Any | None:
        return self._running

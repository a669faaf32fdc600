"""An upload in progress on S3: streamed into a multipart upload under a staging key while it is hashed.

Bytes collect in a part buffer. Each full part (``part_size``, at least S3's 5 MiB) is hashed on
the I/O pool, in order, and sent as the next part, with at most ``upload_concurrency`` parts in
flight: ``write`` then returns the oldest part's future, which the handler awaits before reading
more of the socket. Memory stays at (concurrency + 1) parts per upload, whatever the file's size.

``finish`` sends the last part, waits for all of them and completes the multipart upload: the
bytes are then one object under the *staging* key, invisible under any content address;
``S3BlobStore.commit`` copies it there (server-side). An upload that never fills a part is kept in
memory and goes up in one PutObject at commit, straight under its content address: no staging
object, no copy.

``discard`` (client reset, refusal, or after the record is in) aborts the multipart upload, or
deletes the completed staging object, in a background task that first waits for every request
still in flight. Nothing the client sent stays behind; the store's sweeper aborts what a dead
process left.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tornado_paste.storage.blobs.base import Staging, StagingDiscarded, reap_parts

if TYPE_CHECKING:
    from tornado_paste.storage.blobs.s3 import S3BlobStore

log = logging.getLogger(__name__)


class S3Staging(Staging):
    def __init__(self, store: S3BlobStore, head_size: int) -> None:
        self.store = store
        self.key = store.staging_key()
        self.size = 0
        self.head = b""
        self._head_size = head_size
        self._part_size = store.config.part_size
        self._concurrency = max(1, store.config.upload_concurrency)
        self._hash = hashlib.sha256()
        self._hashing: asyncio.Future[None] | None = None  # the last hash job; each waits for the one before
        self._buffer = bytearray()
        self._created: asyncio.Task[str] | None = None  # CreateMultipartUpload -> upload id
        self._inflight: list[asyncio.Task[None]] = []
        self._etags: dict[int, str] = {}
        self._next_part = 1
        self._error: BaseException | None = None
        self._finishing = False
        self._settled = asyncio.Event()
        self.completed = False  # the multipart upload is complete: the staging object exists
        self.closed = False
        self.discarded = False
        self.cleanup: asyncio.Task[None] | None = None

    # -- what commit needs ---------------------------------------------------------------------
    @property
    def multipart(self) -> bool:
        return self._created is not None

    @property
    def body(self) -> bytearray:
        """The whole upload, for one that never filled a part (see ``multipart``)."""
        if self.discarded:
            raise StagingDiscarded("the staging was discarded")
        return self._buffer

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    # -- writing -----------------------------------------------------------------------------------
    def write(self, chunk: bytes | memoryview) -> asyncio.Future[Any] | None:
        if self.closed:
            raise ValueError("staging is closed")
        self._reap()
        if len(self.head) < self._head_size:
            self.head += bytes(chunk[: self._head_size - len(self.head)])
        self.size += len(chunk)
        self._buffer += chunk
        if len(self._buffer) < self._part_size:
            return None
        if len(self._inflight) >= self._concurrency:
            return self._inflight[0]  # the caller did not wait: it must now, the buffer only grows
        self._launch()
        return self._inflight[0] if len(self._inflight) >= self._concurrency else None

    def _reap(self) -> None:
        """Forget finished parts; re-raise a failed one (the upload cannot succeed any more)."""
        self._inflight, self._error = reap_parts(self._inflight, self._error)
        if self._error is not None:
            raise self._error

    def _launch(self) -> None:
        part, self._buffer = self._buffer, bytearray()
        number = self._next_part
        self._next_part += 1
        if self._created is None:
            self._created = asyncio.ensure_future(self._create())
        self._hashing = asyncio.ensure_future(self._hash_after(self._hashing, part))
        self._inflight.append(asyncio.ensure_future(self._send(number, part)))

    async def _create(self) -> str:
        conn = self.store.conn
        answer = await conn.call(conn.client.create_multipart_upload(
            Bucket=self.store.config.bucket, Key=self.key, ContentType="application/octet-stream"))
        return answer["UploadId"]

    async def _hash_after(self, previous: asyncio.Future[None] | None, data: bytearray) -> None:
        if previous is not None:
            await previous
        await asyncio.get_running_loop().run_in_executor(self.store.io_pool, self._hash.update, data)

    async def _send(self, number: int, data: bytearray) -> None:
        assert self._created is not None
        upload_id = await self._created
        conn = self.store.conn
        answer = await conn.call(conn.client.upload_part(
            Bucket=self.store.config.bucket, Key=self.key, PartNumber=number, UploadId=upload_id, Body=data))
        self._etags[number] = answer["ETag"]

    # -- the end -----------------------------------------------------------------------------------
    async def finish(self) -> str:
        if self.discarded:
            raise StagingDiscarded("staging was discarded")
        if self._finishing or self.closed:
            raise ValueError("staging is already finished")
        self._finishing = True
        try:
            if self._created is None:
                await asyncio.get_running_loop().run_in_executor(self.store.io_pool, self._hash.update,
                                                                 self._buffer)
            else:
                await self._complete()
        finally:
            self._finishing = False
            self.closed = True
            self._settled.set()
        if self.discarded:
            raise StagingDiscarded("staging was discarded while it was being finished")
        return self.sha256

    async def _complete(self) -> None:
        if self._buffer:
            self._launch()
        await asyncio.gather(*self._inflight)
        self._reap()
        assert self._created is not None and self._hashing is not None
        await self._hashing
        upload_id = await self._created
        if self.discarded:
            return  # the clean-up aborts it: completing would only make an object to delete
        conn = self.store.conn
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in sorted(self._etags.items())]
        await conn.call(conn.client.complete_multipart_upload(
            Bucket=self.store.config.bucket, Key=self.key, UploadId=upload_id, MultipartUpload={"Parts": parts}))
        self.completed = True

    def discard(self) -> None:
        self.closed = True
        if self.discarded:
            return
        self.discarded = True
        self.cleanup = self.store.background(self._clean_up(), f"discard {self.key}")

    async def _clean_up(self) -> None:
        """Wait until no request of ours is in flight, then abort the upload or delete the staging object."""
        if self._finishing:
            await self._settled.wait()
        pending = [t for t in (self._created, self._hashing, *self._inflight) if t is not None]
        await asyncio.gather(*pending, return_exceptions=True)
        self._buffer = bytearray()
        created = self._created
        if created is None or created.cancelled() or created.exception() is not None:
            return
        conn, bucket = self.store.conn, self.store.config.bucket
        if self.completed:
            await conn.call(conn.client.delete_object(Bucket=bucket, Key=self.key))
        else:
            await conn.call(conn.client.abort_multipart_upload(Bucket=bucket, Key=self.key,
                                                               UploadId=created.result()))


@contextlib.asynccontextmanager
async def staged_copy(store: S3BlobStore, staging: Any) -> AsyncIterator[str]:
    """A finished staging's bytes in a local file for the ingest transforms (``BlobStore.staged_copy``):
    a local file stays where it is; a small upload's buffer is written out; a multipart staging object
    (or a tus upload assembled in the bucket) is downloaded to the scratch dir, removed after the block."""
    path = getattr(staging, "path", None)
    if path:
        yield path
        return
    loop = asyncio.get_running_loop()
    out = store.staging_path(".copy")
    try:
        handle = await loop.run_in_executor(store.io_pool, open, out, "wb")
        try:
            if isinstance(staging, S3Staging) and not staging.multipart:
                await loop.run_in_executor(store.io_pool, handle.write, staging.body)
            else:
                key = staging.key if isinstance(staging, S3Staging) else staging.s3_key
                async for chunk in store.stream("", 0, None, key=key):
                    await loop.run_in_executor(store.io_pool, handle.write, chunk)
        finally:
            handle.close()
        yield out
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out)

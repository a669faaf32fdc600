"""Bytes of resumable (tus) uploads kept in the bucket, so any app machine can take the next PATCH.

Per upload, under ``<prefix>tus/<id>/``:

- one multipart upload (``data``), created when the first part is full: every ``s3_part_size``
  bytes become its next part;
- one *tail* object (``tail-<random>``): the bytes after the last full part (S3 parts but the last
  must be at least 5 MiB, so a PATCH that ends mid-part leaves its rest there). The next PATCH,
  on any machine, reads the tail back and continues from it.

The upload's state (``TusState.blob``: upload id, parts with their ETags and sizes, tail key and
size) changes only together with its offset, under the PATCH lock, after every byte it names is in
the bucket. A PATCH that dies before that leaves parts nobody lists (the next one overwrites their
numbers; CompleteMultipartUpload checks every listed ETag) and a tail nobody names (deleted with
the upload). When the last byte is in, ``assemble`` completes the multipart upload (the tail as
its last part): one object, which the blob store copies to its content address.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tornado_paste.storage.blobs.base import BlobMissing, reap_parts

if TYPE_CHECKING:
    from tornado_paste.storage.blobs.s3 import S3BlobStore

HASH_PIECE = 1 << 20


class S3Resumable:
    def __init__(self, store: S3BlobStore) -> None:
        self.store = store

    def _key(self, upload_id: str, name: str) -> str:
        return f"{self.store.config.prefix}tus/{upload_id}/{name}"

    def appender(self, upload_id: str, blob: dict[str, Any], digests: Iterable[Any | None]) -> S3Appender:
        return S3Appender(self, upload_id, blob, digests)

    async def assemble(self, upload_id: str, blob: dict[str, Any]) -> str:
        """One object holding every committed byte (parts, then the tail); returns its key."""
        store, conn = self.store, self.store.conn
        parts = [list(p) for p in blob.get("parts", [])]
        tail, tail_size = blob.get("tail"), int(blob.get("tail_size", 0))
        if not parts:
            if tail:
                return tail  # everything fits in the tail: that object is the file
            key = self._key(upload_id, "empty")
            await conn.call(store.client.put_object(Bucket=store.bucket, Key=key, Body=b""))
            return key
        key = self._key(upload_id, "data")
        if tail and tail_size:
            data = await store.conn.call(_read_all(store, tail))
            number = max(p[0] for p in parts) + 1
            answer = await conn.call(store.client.upload_part(Bucket=store.bucket, Key=key, PartNumber=number,
                                                              UploadId=blob["upload"], Body=data))
            parts.append([number, answer["ETag"], tail_size])
        await conn.call(store.client.complete_multipart_upload(
            Bucket=store.bucket, Key=key, UploadId=blob["upload"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e, _ in sorted(parts)]}))
        return key

    async def hash_object(self, key: str, head_size: int) -> tuple[str, bytes]:
        """sha256 and head of an object, read once (when no process kept the running hash)."""
        store = self.store
        loop = asyncio.get_running_loop()
        digest, head = hashlib.sha256(), b""
        answer = await store.conn.call(store.client.get_object(Bucket=store.bucket, Key=key))
        async with answer["Body"] as body:
            async for chunk in body.iter_chunks(HASH_PIECE):
                if len(head) < head_size:
                    head += chunk[: head_size - len(head)]
                await loop.run_in_executor(store.io_pool, digest.update, chunk)
        return digest.hexdigest(), head

    async def read_head(self, key: str, head_size: int) -> bytes:
        store = self.store
        try:
            answer = await store.conn.call(store.client.get_object(Bucket=store.bucket, Key=key,
                                                                   Range=f"bytes=0-{max(0, head_size - 1)}"))
        except Exception:
            return b""  # an empty object has no range
        async with answer["Body"] as body:
            return await body.read()

    async def stream(self, key: str) -> Any:
        store = self.store
        answer = await store.conn.call(store.client.get_object(Bucket=store.bucket, Key=key))
        return answer["Body"]

    async def remove(self, upload_id: str) -> None:
        """Every object and unfinished multipart upload of this upload."""
        store, conn = self.store, self.store.conn
        prefix = self._key(upload_id, "")
        async for upload in conn.pages("list_multipart_uploads", "Uploads", Prefix=prefix):
            try:
                await conn.call(store.client.abort_multipart_upload(Bucket=store.bucket, Key=upload["Key"],
                                                                    UploadId=upload["UploadId"]))
            except BlobMissing:
                pass
        async for item in conn.pages("list_objects_v2", "Contents", Prefix=prefix):
            await conn.call(store.client.delete_object(Bucket=store.bucket, Key=item["Key"]))

    async def orphans(self, known: set[str], older_than: float) -> int:
        """Remove what uploads no state knows any more left behind, once older than ``older_than``."""
        conn, prefix = self.store.conn, f"{self.store.config.prefix}tus/"
        stale: set[str] = set()
        async for item in conn.pages("list_objects_v2", "Contents", Prefix=prefix):
            upload_id = item["Key"][len(prefix):].split("/", 1)[0]
            if upload_id not in known and item["LastModified"].timestamp() < older_than:
                stale.add(upload_id)
        async for upload in conn.pages("list_multipart_uploads", "Uploads", Prefix=prefix):
            upload_id = upload["Key"][len(prefix):].split("/", 1)[0]
            if upload_id not in known and upload["Initiated"].timestamp() < older_than:
                stale.add(upload_id)
        for upload_id in stale:
            await self.remove(upload_id)
        return len(stale)


class S3Appender:
    """One PATCH's bytes: after the tail they continue, into full parts and, at ``keep``, a new tail.

    The digests (Upload-Checksum, running sha256) see this PATCH's bytes only, in order, on the I/O
    pool; the parts in flight are bounded like an upload's, and ``write`` returns the future to wait on.
    """

    def __init__(self, owner: S3Resumable, upload_id: str, blob: dict[str, Any], digests: Iterable[Any | None]) -> None:
        self.owner = owner
        self.store = owner.store
        self.upload_id = upload_id
        self.old = dict(blob)
        self.parts: list[list[Any]] = [list(p) for p in blob.get("parts", [])]
        self.multipart: str | None = blob.get("upload")
        self._digests = [d for d in digests if d is not None]
        self._buffer = bytearray()
        self._hash_piece = bytearray()
        self._hashing: asyncio.Future[None] | None = None
        self._creating: asyncio.Future[str] | None = None
        self._inflight: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self._new_tail: str | None = None
        self.written = 0

    async def open(self) -> None:
        """Load the committed tail: this PATCH's bytes continue after it."""
        tail = self.old.get("tail")
        if tail and int(self.old.get("tail_size", 0)):
            self._buffer += await self.store.conn.call(_read_all(self.store, tail))

    def write(self, chunk: bytes | memoryview) -> asyncio.Future[Any] | None:
        self._reap()
        self._buffer += chunk
        self._hash_piece += chunk
        self.written += len(chunk)
        wait: asyncio.Future[Any] | None = None
        if len(self._hash_piece) >= HASH_PIECE:
            wait = self._hash()
        if len(self._buffer) >= self.store.config.part_size:
            if len(self._inflight) >= max(1, self.store.config.upload_concurrency):
                return self._inflight[0]
            self._launch()
            if len(self._inflight) >= max(1, self.store.config.upload_concurrency):
                return self._inflight[0]
        return wait if wait is not None and not wait.done() else None

    def _hash(self) -> asyncio.Future[None]:
        piece, self._hash_piece = self._hash_piece, bytearray()
        previous = self._hashing

        async def update() -> None:
            if previous is not None:
                await previous
            await asyncio.get_running_loop().run_in_executor(self.store.io_pool, _update_all, self._digests, piece)

        self._hashing = asyncio.ensure_future(update())
        return self._hashing

    def _reap(self) -> None:
        self._inflight, self._error = reap_parts(self._inflight, self._error)
        if self._error is not None:
            raise self._error

    def _launch(self) -> None:
        part, self._buffer = self._buffer, bytearray()
        number = max([p[0] for p in self.parts], default=0) + 1
        self.parts.append([number, None, len(part)])
        if self.multipart is None and self._creating is None:
            self._creating = asyncio.ensure_future(self._create())
        self._inflight.append(asyncio.ensure_future(self._send(number, part)))

    async def _create(self) -> str:
        store = self.store
        answer = await store.conn.call(store.client.create_multipart_upload(
            Bucket=store.bucket, Key=self.owner._key(self.upload_id, "data")))
        self.multipart = answer["UploadId"]
        return self.multipart

    async def _send(self, number: int, data: bytearray) -> None:
        upload = self.multipart if self._creating is None else await self._creating
        store = self.store
        answer = await store.conn.call(store.client.upload_part(
            Bucket=store.bucket, Key=self.owner._key(self.upload_id, "data"), PartNumber=number, UploadId=upload,
            Body=data))
        for part in self.parts:
            if part[0] == number:
                part[1] = answer["ETag"]

    async def drain(self) -> None:
        """Every byte written is hashed (the digests are final for this PATCH)."""
        if self._hash_piece:
            self._hash()
        if self._hashing is not None:
            await self._hashing

    async def keep(self) -> dict[str, Any]:
        """Store the rest as the new tail; returns the state to commit with the new offset."""
        await self.drain()
        if not self.written:
            return dict(self.old)  # nothing new: the committed parts and tail stand as they are
        await asyncio.gather(*self._inflight)
        self._reap()
        store = self.store
        tail, size = None, len(self._buffer)
        if size:
            tail = self.owner._key(self.upload_id, f"tail-{int(time.time())}-{secrets.token_hex(6)}")
            await store.conn.call(store.client.put_object(Bucket=store.bucket, Key=tail, Body=self._buffer))
            self._new_tail = tail
        return {"upload": self.multipart, "parts": self.parts, "tail": tail, "tail_size": size}

    async def committed(self) -> None:
        """The new state is in: the previous tail is nobody's any more."""
        old = self.old.get("tail")
        if old and old != self._new_tail:
            self.store.background(self.store.conn.call(self.store.client.delete_object(
                Bucket=self.store.bucket, Key=old)), f"delete tail {old}")

    async def drop(self) -> None:
        """This PATCH does not count: wait for its requests, forget its new tail (its parts are overwritten)."""
        pending = [*self._inflight, *(t for t in (self._hashing, self._creating) if t is not None)]
        await asyncio.gather(*pending, return_exceptions=True)
        self._buffer = bytearray()
        if self._new_tail:
            tail, self._new_tail = self._new_tail, None
            self.store.background(self.store.conn.call(self.store.client.delete_object(
                Bucket=self.store.bucket, Key=tail)), f"delete tail {tail}")


def _update_all(digests: list[Any], piece: bytearray) -> None:
    for digest in digests:
        digest.update(piece)


async def _read_all(store: S3BlobStore, key: str) -> bytes:
    answer = await store.client.get_object(Bucket=store.bucket, Key=key)
    async with answer["Body"] as body:
        return await body.read()

"""The blob store on S3 (any S3-compatible store: AWS, Ceph RGW, MinIO) through aiobotocore.

Keys under ``s3_prefix``::

    blobs/<sha256>                     committed blobs, named by their content
    staging/<host>.<pid>.<random>      uploads in progress (multipart) or completed, not yet committed
    retired/<host>.<pid>.<random>      blobs a delete took out of sight, until it purges or restores them

What each step costs (requests, and bytes the store moves server-side):

- upload that never fills a part (< ``s3_part_size``): one PutObject straight to ``blobs/<sha256>``.
- larger upload: CreateMultipartUpload, one UploadPart per part, CompleteMultipartUpload under its
  staging key, then CopyObject to ``blobs/<sha256>`` (a server-side copy of every byte on AWS;
  Ceph RGW shares the data and copies only the head) and DeleteObject of the staging key.
- dedupe hit: the same as far as the complete; then one HEAD and the staging object is dropped.
- delete: HEAD, CopyObject to ``retired/``, DeleteObject, then DeleteObject of the parked copy (the
  retire/re-check protocol of ``core/ingest.py``: the parked copy is what a racing upload restores).

Local disk is only scratch: image renders and the local copies resize reads (``<data_dir>/tmp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tornado_paste.storage.blobs import base
from tornado_paste.storage.blobs.base import BlobMissing, StagingDiscarded
from tornado_paste.storage.blobs.local import LocalBlobStore, StagingFile, _host_tag, _pid_alive
from tornado_paste.storage.blobs.s3_client import MAX_COPY_SIZE, EmptyRange, S3Config, S3Connection
from tornado_paste.storage.blobs.s3_staging import S3Staging, staged_copy

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
STREAM_PIECE = 256 << 10
PRESIGNED_CACHE = 4096  # URLs kept per process (the oldest goes first)


class S3BlobStore(base.BlobStore):
    kind = "s3"
    #: Above this size a copy goes part by part (UploadPartCopy), in pieces of ``copy_part_size``.
    copy_limit = MAX_COPY_SIZE
    copy_part_size = 512 << 20

    def __init__(self, config: S3Config, data_dir: str, io_threads: int = 4, sweep_interval: float = 3600.0,
                 stale_age: float = 24 * 3600.0) -> None:
        self.config = config
        self.conn = S3Connection(config)
        # Local scratch only: renders, local copies for resizing, and their start-up sweep.
        self.scratch = LocalBlobStore(data_dir, io_threads)
        self.io_pool = self.scratch.io_pool
        self.sweep_interval = sweep_interval
        self.stale_age = stale_age
        self._tag = f"{_host_tag()}.{os.getpid()}"
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._presigned: dict[tuple[Any, ...], tuple[str, float]] = {}

    # -- names -------------------------------------------------------------------------------------
    def key_for(self, sha256: str) -> str:
        if not _SHA256_RE.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return f"{self.config.prefix}blobs/{sha256}"

    def staging_key(self) -> str:
        return f"{self.config.prefix}staging/{self._tag}.{secrets.token_hex(8)}"

    def _retired_key(self) -> str:
        return f"{self.config.prefix}retired/{self._tag}.{secrets.token_hex(8)}"

    @property
    def client(self) -> Any:
        return self.conn.client

    @property
    def bucket(self) -> str:
        return self.config.bucket

    # -- lifecycle ---------------------------------------------------------------------------------
    def ensure_dirs(self) -> None:
        self.scratch.ensure_dirs()

    async def start(self) -> None:
        await self.conn.open()
        try:
            await self.conn.check_access()
        except BaseException:
            await self.conn.close()
            raise
        if self.sweep_interval > 0 and self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        await self.settle(10.0)
        await self.conn.close()

    def background(self, work: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        """Run a clean-up without holding up the request; failures are logged (the sweeper retries)."""
        async def run() -> None:
            try:
                await work
            except Exception as exc:
                log.warning("%s failed (the sweeper will retry): %s", what, exc)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def settle(self, timeout: float | None = None) -> None:
        """Wait for every background clean-up started so far (tests, shutdown)."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)

    # -- staging -----------------------------------------------------------------------------------
    def stage(self, head_size: int) -> S3Staging:
        return S3Staging(self, head_size)

    def staging_path(self, suffix: str = ".part") -> str:
        return self.scratch.staging_path(suffix)

    async def adopt(self, path: str, head_size: int) -> StagingFile:
        return await self.scratch.adopt(path, head_size)

    async def commit(self, staging: Any, sha256: str) -> None:
        key = self.key_for(sha256)
        if getattr(staging, "discarded", False):
            raise StagingDiscarded("the staging was discarded before its commit")
        if isinstance(staging, S3Staging):
            if staging.multipart:
                await self._copy(staging.key, key, staging.size)
            else:
                await self.conn.call(self.client.put_object(Bucket=self.bucket, Key=key, Body=staging.body,
                                                            ContentType="application/octet-stream"))
        elif getattr(staging, "s3_key", None):
            await self._copy(staging.s3_key, key, staging.size)
        else:
            await self.upload_file(staging.path, key)

    async def upload_file(self, path: str, key: str) -> None:
        """A local file to ``key``: one PutObject, or a multipart upload of parts read on the I/O pool."""
        loop = asyncio.get_running_loop()
        size = os.path.getsize(path)
        part_size = self.config.part_size
        if size <= part_size:
            data = await loop.run_in_executor(self.io_pool, _read_range, path, 0, size)
            await self.conn.call(self.client.put_object(Bucket=self.bucket, Key=key, Body=data,
                                                        ContentType="application/octet-stream"))
            return
        created = await self.conn.call(self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType="application/octet-stream"))
        upload_id = created["UploadId"]
        limit = asyncio.Semaphore(max(1, self.config.upload_concurrency))

        async def part(number: int, offset: int) -> dict[str, Any]:
            async with limit:
                data = await loop.run_in_executor(self.io_pool, _read_range, path, offset, part_size)
                answer = await self.conn.call(self.client.upload_part(
                    Bucket=self.bucket, Key=key, PartNumber=number, UploadId=upload_id, Body=data))
                return {"PartNumber": number, "ETag": answer["ETag"]}

        try:
            parts = await asyncio.gather(*(part(i + 1, off) for i, off in enumerate(range(0, size, part_size))))
            await self.conn.call(self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": list(parts)}))
        except BaseException:
            self.background(self.conn.call(self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id)), f"abort upload of {key}")
            raise

    async def _copy(self, source: str, target: str, size: int | None = None) -> None:
        """Server-side copy; part by part (UploadPartCopy) above CopyObject's 5 GiB limit."""
        if size is None:
            size = int((await self.conn.call(self.client.head_object(Bucket=self.bucket, Key=source)))
                       ["ContentLength"])
        copy_source = {"Bucket": self.bucket, "Key": source}
        if size <= self.copy_limit:
            await self.conn.call(self.client.copy_object(Bucket=self.bucket, Key=target, CopySource=copy_source,
                                                         MetadataDirective="REPLACE",
                                                         ContentType="application/octet-stream"))
            return
        piece = max(self.copy_part_size, math.ceil(size / 10_000))
        created = await self.conn.call(self.client.create_multipart_upload(
            Bucket=self.bucket, Key=target, ContentType="application/octet-stream"))
        upload_id = created["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, piece), 1):
                answer = await self.conn.call(self.client.upload_part_copy(
                    Bucket=self.bucket, Key=target, UploadId=upload_id, PartNumber=number, CopySource=copy_source,
                    CopySourceRange=f"bytes={start}-{min(size, start + piece) - 1}"))
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            await self.conn.call(self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": parts}))
        except BaseException:
            self.background(self.conn.call(self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=target, UploadId=upload_id)), f"abort copy to {target}")
            raise

    # -- reading -----------------------------------------------------------------------------------
    async def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return await self.conn.call(self.client.head_object(Bucket=self.bucket, Key=key))
        except BlobMissing:
            return None

    async def exists(self, sha256: str) -> bool:
        return await self._head(self.key_for(sha256)) is not None

    async def size(self, sha256: str) -> int | None:
        head = await self._head(self.key_for(sha256))
        return None if head is None else int(head["ContentLength"])

    async def _get(self, sha256: str, start: int, end: int | None, key: str | None = None) -> Any:
        """The body of ``[start, end)`` (of ``key`` if given); None when the range starts past the end."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key or self.key_for(sha256)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            answer = await self.conn.call(self.client.get_object(**params))
        except EmptyRange:
            return None
        return answer["Body"]

    async def read(self, sha256: str, start: int = 0, length: int | None = None) -> bytes:
        if length == 0:
            return b""
        body = await self._get(sha256, start, None if length is None else start + length)
        if body is None:
            return b""
        async with body:
            return await self.conn.call(body.read())

    async def stream(self, sha256: str, start: int = 0, end: int | None = None,
                     key: str | None = None) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        body = await self._get(sha256, start, end, key)
        if body is None:
            return
        async with body:
            chunks = body.iter_chunks(STREAM_PIECE).__aiter__()
            while True:
                try:
                    chunk = await self.conn.call(chunks.__anext__())
                except StopAsyncIteration:
                    return
                yield chunk

    @contextlib.asynccontextmanager
    async def local_copy(self, sha256: str, max_bytes: int | None = None) -> AsyncIterator[str]:
        """Download the blob (or its first ``max_bytes``) into the scratch dir; removed after the block."""
        loop = asyncio.get_running_loop()
        path = self.staging_path(".copy")
        handle = await loop.run_in_executor(self.io_pool, open, path, "wb")
        try:
            try:
                async for chunk in self.stream(sha256, 0, max_bytes):
                    await loop.run_in_executor(self.io_pool, handle.write, chunk)
            finally:
                handle.close()
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def staged_copy(self, staging: Any) -> contextlib.AbstractAsyncContextManager[str]:
        return staged_copy(self, staging)

    # -- deleting ----------------------------------------------------------------------------------
    async def retire(self, sha256: str) -> str | None:
        key = self.key_for(sha256)
        head = await self._head(key)
        if head is None:
            return None
        parked = self._retired_key()
        try:
            await self._copy(key, parked, int(head["ContentLength"]))
        except BlobMissing:
            return None  # deleted meanwhile by another retire
        await self.conn.call(self.client.delete_object(Bucket=self.bucket, Key=key))
        return parked

    async def restore(self, parked: str, sha256: str) -> None:
        await self._copy(parked, self.key_for(sha256))
        await self.purge(parked)

    async def purge(self, parked: str) -> None:
        await self.conn.call(self.client.delete_object(Bucket=self.bucket, Key=parked))

    async def delete(self, sha256: str) -> bool:
        existed = await self.exists(sha256)
        await self.conn.call(self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256)))
        return existed

    async def list_blobs(self) -> list[tuple[str, float]]:
        prefix = f"{self.config.prefix}blobs/"
        found = []
        async for item in self.conn.pages("list_objects_v2", "Contents", Prefix=prefix):
            name = item["Key"][len(prefix):]
            if _SHA256_RE.match(name):
                found.append((name, item["LastModified"].timestamp()))
        return found

    # -- sweeping ----------------------------------------------------------------------------------
    async def sweep(self, max_age: float, is_alive: Callable[[int], bool] | None = None) -> int:
        """At start-up: staged and retired objects and unfinished multipart uploads of dead processes of
        this host (this pid too: an earlier process had it), and anyone's older than ``max_age``."""
        removed = await self.scratch.sweep(max_age, is_alive)
        return removed + await self._sweep_remote(max_age, is_alive or _pid_alive, startup=True)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self._sweep_remote(self.stale_age, _pid_alive, startup=False)
            except Exception as exc:
                log.warning("object store sweep failed: %s", exc)

    def _stale(self, name: str, age: float, max_age: float, is_alive: Callable[[int], bool], startup: bool) -> bool:
        if age > max_age:
            return True
        parts = name.split(".")
        if len(parts) >= 3 and parts[0] == _host_tag() and parts[1].isdigit():
            pid = int(parts[1])
            if pid == os.getpid():
                return startup
            return not is_alive(pid)
        return False

    async def _sweep_remote(self, max_age: float, is_alive: Callable[[int], bool], startup: bool) -> int:
        prefix, now, removed = self.config.prefix, time.time(), 0
        async for upload in self.conn.pages("list_multipart_uploads", "Uploads", Prefix=f"{prefix}staging/"):
            name = upload["Key"].rsplit("/", 1)[-1]
            if self._stale(name, now - upload["Initiated"].timestamp(), max_age, is_alive, startup):
                with contextlib.suppress(BlobMissing):
                    await self.conn.call(self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]))
                removed += 1
        for area in ("staging/", "retired/"):
            async for item in self.conn.pages("list_objects_v2", "Contents", Prefix=prefix + area):
                name = item["Key"].rsplit("/", 1)[-1]
                if self._stale(name, now - item["LastModified"].timestamp(), max_age, is_alive, startup):
                    await self.conn.call(self.client.delete_object(Bucket=self.bucket, Key=item["Key"]))
                    removed += 1
        if removed:
            log.info("object store sweep: removed %d stale staged or retired object(s)", removed)
        return removed

    def resumable(self) -> Any:
        """The bytes of tus uploads, in the bucket (``s3_tus.py``): any machine continues any upload."""
        from tornado_paste.storage.blobs.s3_tus import S3Resumable

        return S3Resumable(self)

    # -- serving -----------------------------------------------------------------------------------
    async def presign(self, sha256: str, method: str = "GET", expires: int | None = None,
                      response: dict[str, str] | None = None) -> str:
        """A URL the store answers without our credentials, for ``expires`` seconds (redirect and accel).

        Signing costs about half a millisecond of CPU, so a URL is reused while more than half its
        lifetime is left (the same URL also lets caches keep the bytes it leads to for that long).
        """
        lifetime = expires or self.config.presign_expiry
        key = (sha256, method, lifetime, tuple(sorted((response or {}).items())))
        now = time.monotonic()
        cached = self._presigned.get(key)
        if cached is not None and cached[1] - now > lifetime / 2:
            return cached[0]
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_for(sha256)}
        for name, value in (response or {}).items():
            params[name] = value
        operation = "head_object" if method == "HEAD" else "get_object"
        url = await self.conn.call(self.client.generate_presigned_url(operation, Params=params, ExpiresIn=lifetime))
        if len(self._presigned) >= PRESIGNED_CACHE:
            self._presigned.pop(next(iter(self._presigned)))
        self._presigned[key] = (url, now + lifetime)
        return url


def _read_range(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)

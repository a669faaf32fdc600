"""``Shares``: what handlers reach (``services.shares``): files' manage tokens and download gate,
collections, upload requests, passwords, archives, and the sweep of expired collections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Executor

from tornado_paste.core.records import CollectionRecord
from tornado_paste.core.tasks import Periodic
from tornado_paste.shares.collections import Collections
from tornado_paste.shares.files import FileShares
from tornado_paste.shares.passwords import Passwords
from tornado_paste.shares.policy import SharePolicy
from tornado_paste.shares.requests import UploadRequests
from tornado_paste.shares.zipper import BlobReader, Entry, ZipPlan, stream
from tornado_paste.storage.base import FileControls


class Archives:
    """A collection's zip: its plan (size, ETag) and its bytes, CRC-32s computed once per file."""

    def __init__(self, collections: Collections, controls: FileControls, read: BlobReader,
                 executor: Executor | None = None) -> None:
        self.collections = collections
        self.controls = controls
        # The blob store's ``stream``: archives read local blobs and S3 objects alike.
        self.read = read
        self.executor = executor

    async def plan(self, coll: CollectionRecord) -> ZipPlan:
        files = [f for f in await self.collections.visible_files(coll) if not f.guarded]
        return ZipPlan([Entry(f.filename, f.size, f.sha256, f.uploaded_at, f.crc32, f.filehash) for f in files])

    async def keep_crc(self, plan: ZipPlan, index: int, crc: int) -> None:
        """Keep a computed CRC-32 on the file's record: the next archive needs no reading."""
        await self.controls.update(plan.entries[index].ref, {"crc32": crc})

    def stream(self, plan: ZipPlan, start: int, end: int) -> AsyncIterator[bytes]:
        async def keep(index: int, crc: int) -> None:
            await self.keep_crc(plan, index, crc)

        return stream(plan, self.read, start, end, self.executor, keep)


class Shares:
    def __init__(self, files: FileShares, collections: Collections, requests: UploadRequests, passwords: Passwords,
                 policy: SharePolicy, archives: Archives, sweep_interval: float = 60.0) -> None:
        self.files = files
        self.collections = collections
        self.requests = requests
        self.passwords = passwords
        self.policy = policy
        self.archives = archives
        self._periodic = Periodic("collection sweep", sweep_interval, collections.sweep, jitter=0.2)

    async def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

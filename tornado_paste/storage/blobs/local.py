"""Content-addressed blob directory: the ``BlobStore`` of one machine (``base.py`` has the interface).

Layout under the data dir::

    tmp/<host>.<pid>.<random>.part   staging files of uploads in progress
    blobs/ab/cd/abcd...              committed blobs, named by their sha256

A blob becomes visible only after its staging file was fsynced and linked
into place (and the directory entry fsynced), so a crash leaves at most
staging files behind; ``sweep_staging`` removes those at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado_paste.storage.blobs import base
from tornado_paste.storage.blobs.base import BlobMissing, Staging, StagingDiscarded, StorageFull, T
from tornado_paste.storage.blobs.pieces import WRITE_BUFFER, PieceWriter

# Importable from here as before the blob-store interface existed.
__all__ = ["WRITE_BUFFER", "BlobStore", "LocalBlobStore", "PieceWriter", "StagingDiscarded", "StagingFile",
           "StorageFull"]

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
READ_PIECE = 1 << 20


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


class StagingFile(Staging):
    """A file being received: written through a ``PieceWriter``, its head kept for sniffing."""

    def __init__(self, path: str, head_size: int, pool: ThreadPoolExecutor) -> None:
        self.path = path
        self.size = 0
        self.head = b""
        self._head_size = head_size
        self._pool = pool
        self._hash = hashlib.sha256()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._writer = PieceWriter(self._fd, pool, [self._hash])
        self.closed = False
        self.discarded = False
        # Set while ``finish`` drains, fsyncs and closes: it owns the fd then, ``discard`` only takes note.
        self._finishing = False
        self._adopted = False

    @classmethod
    def adopt(cls, path: str, head_size: int, pool: ThreadPoolExecutor) -> StagingFile:
        """Blocking: a finished staging file for bytes another writer put at ``path`` (an image encoder).

        Reads them once to hash and capture the head, and fsyncs them, so
        ``finish`` has nothing left to do and the ingest path stays the same.
        """
        self = cls.__new__(cls)
        self.path, self.size, self.head, self._head_size, self._pool = path, 0, b"", head_size, pool
        self._hash, self._fd = hashlib.sha256(), None
        self.closed, self.discarded, self._finishing, self._adopted = True, False, False, True
        with open(path, "rb") as f:
            while chunk := f.read(WRITE_BUFFER):
                if len(self.head) < head_size:
                    self.head += chunk[: head_size - len(self.head)]
                self._hash.update(chunk)
                self.size += len(chunk)
            os.fsync(f.fileno())
        return self

    def write(self, chunk: bytes | memoryview) -> asyncio.Future[None] | None:
        """Append bytes; returns a future to await before writing more, or None."""
        if self._fd is None:
            raise ValueError("staging file is closed")
        if len(self.head) < self._head_size:
            self.head += bytes(chunk[: self._head_size - len(self.head)])
        self.size += len(chunk)
        return self._writer.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def finish(self) -> str:
        return (await self._finish(None))[0]

    async def finish_and_inspect(self, inspect: Callable[[bytes], T]) -> tuple[str, T]:
        sha256, found = await self._finish(inspect)
        return sha256, found  # type: ignore[return-value]

    async def _finish(self, inspect: Callable[[bytes], Any] | None) -> tuple[str, Any]:
        """Write the rest, fsync and close (then ``inspect(head)`` in the same I/O job); returns the
        sha256 of everything written and what ``inspect`` found.

        Raises ``StagingDiscarded`` when ``discard`` was called meanwhile (a client reset while
        the last piece was written or fsynced): the fd is closed here, never under the writer's feet.
        """
        if self._adopted:
            if self.discarded:
                raise StagingDiscarded("staging file was discarded")
            if inspect is None:
                return self.sha256, None
            return self.sha256, await asyncio.get_running_loop().run_in_executor(self._pool, inspect, self.head)
        if self.discarded:
            raise StagingDiscarded("staging file was discarded")
        fd = self._fd
        if fd is None or self._finishing:
            raise ValueError("staging file is already finished")
        self._finishing = True
        try:
            found: list[Any] = []

            def seal(fd: int) -> None:
                if not self.discarded:
                    os.fsync(fd)
                    if inspect is not None:
                        found.append(inspect(self.head))

            await self._writer.drain(then=seal)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        finally:
            # Every piece has landed (drain waited for it) or failed, so the fd is free to close.
            self._finishing = False
            self._fd = None
            self.closed = True
            os.close(fd)
        if self.discarded:
            raise StagingDiscarded("staging file was discarded while it was being finished")
        return self.sha256, found[0] if found else None

    def discard(self) -> None:
        """Drop the staging file; safe to call more than once, even with a piece in flight or while
        ``finish`` runs (which then closes the fd itself and raises ``StagingDiscarded``)."""
        self.closed = True
        self.discarded = True
        try:
            os.unlink(self.path)  # an open fd keeps the inode: a running fsync is unaffected
        except FileNotFoundError:
            pass
        if self._finishing:
            return  # finish() owns the fd until it returns
        fd, self._fd = self._fd, None
        if fd is None:
            return
        job = self._writer.in_flight()
        if job is not None:
            # Closing now could hand the fd number to another file under the writer's feet.
            job.add_done_callback(_closer(fd))
        else:
            os.close(fd)


class LocalBlobStore(base.BlobStore):
    kind = "local"

    def __init__(self, data_dir: str, io_threads: int = 4) -> None:
        self.root = os.path.abspath(data_dir)
        # Hashing and writing upload pieces; bounded, so many uploads share a few threads.
        self.io_pool = ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix="blob-io")
        self.tmp_dir = os.path.join(self.root, "tmp")
        self.blob_dir = os.path.join(self.root, "blobs")
        self._tag = f"{_host_tag()}.{os.getpid()}"

    def ensure_dirs(self) -> None:
        for path in (self.root, self.tmp_dir, self.blob_dir):
            os.makedirs(path, exist_ok=True)

    # -- staging -------------------------------------------------------------
    def stage(self, head_size: int) -> StagingFile:
        """A new staging file for an upload in progress."""
        return StagingFile(self.staging_path(), head_size, self.io_pool)

    def staging_path(self, suffix: str = ".part") -> str:
        """A fresh path in the staging dir, named so ``sweep_staging`` knows its owner."""
        return os.path.join(self.tmp_dir, f"{self._tag}.{secrets.token_hex(8)}{suffix}")

    def sweep_staging(self, max_age: float, is_alive: Callable[[int], bool] | None = None) -> int:
        """Blocking: remove staging files left by dead processes (or older than ``max_age``).

        Call it (or ``sweep``) at start-up, before this process stages anything.
        """
        is_alive = is_alive or _pid_alive
        host = _host_tag()
        removed = 0
        now = time.time()
        try:
            names = os.listdir(self.tmp_dir)
        except FileNotFoundError:
            return 0
        for name in names:
            path = os.path.join(self.tmp_dir, name)
            parts = name.split(".")
            stale = False
            try:
                age = now - os.stat(path).st_mtime
            except FileNotFoundError:
                continue
            if age > max_age:
                stale = True
            elif len(parts) >= 3 and parts[0] == host and parts[1].isdigit():
                pid = int(parts[1])
                # Our own pid at start-up means an earlier process that had it.
                stale = pid == os.getpid() or not is_alive(pid)
            if stale:
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
        if removed:
            log.info("swept %d stale staging file(s) from %s", removed, self.tmp_dir)
        return removed

    # -- committed blobs -----------------------------------------------------
    def path_for(self, sha256: str) -> str:
        if not _SHA256_RE.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return os.path.join(self.blob_dir, sha256[:2], sha256[2:4], sha256)

    async def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path_for(sha256))

    async def size(self, sha256: str) -> int | None:
        try:
            return os.path.getsize(self.path_for(sha256))
        except FileNotFoundError:
            return None

    async def read(self, sha256: str, start: int = 0, length: int | None = None) -> bytes:
        def read() -> bytes:
            with open(self.path_for(sha256), "rb") as f:
                f.seek(start)
                return f.read() if length is None else f.read(length)

        try:
            return await asyncio.get_running_loop().run_in_executor(self.io_pool, read)
        except FileNotFoundError:
            raise BlobMissing(sha256) from None

    async def stream(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        try:
            f = await loop.run_in_executor(self.io_pool, open, self.path_for(sha256), "rb")
        except FileNotFoundError:
            raise BlobMissing(sha256) from None
        try:
            position = start
            while end is None or position < end:
                want = READ_PIECE if end is None else min(READ_PIECE, end - position)
                f.seek(position)
                piece = await loop.run_in_executor(self.io_pool, f.read, want)
                if not piece:
                    return
                position += len(piece)
                yield piece
        finally:
            f.close()

    @contextlib.asynccontextmanager
    async def local_copy(self, sha256: str, max_bytes: int | None = None) -> AsyncIterator[str]:
        """The blob itself (it is local already): no copy."""
        path = self.path_for(sha256)
        if not os.path.exists(path):
            raise BlobMissing(sha256)
        yield path

    @contextlib.asynccontextmanager
    async def staged_copy(self, staging: Any) -> AsyncIterator[str]:
        """The staging file itself (it is local already): no copy."""
        yield staging.path

    async def adopt(self, path: str, head_size: int) -> StagingFile:
        return await asyncio.get_running_loop().run_in_executor(self.io_pool, StagingFile.adopt, path, head_size,
                                                                self.io_pool)

    async def sweep(self, max_age: float, is_alive: Callable[[int], bool] | None = None) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, self.sweep_staging, max_age, is_alive)

    async def list_blobs(self) -> list[tuple[str, float]]:
        return await asyncio.get_running_loop().run_in_executor(None, self._list_blobs)

    def _list_blobs(self) -> list[tuple[str, float]]:
        out = []
        for directory, _dirs, files in os.walk(self.blob_dir):
            for name in files:
                if not _SHA256_RE.match(name):
                    continue
                try:
                    out.append((name, os.stat(os.path.join(directory, name)).st_mtime))
                except FileNotFoundError:
                    pass
        return out

    async def commit(self, staging: StagingFile, sha256: str) -> None:  # type: ignore[override]
        """Link a finished staging file into place under its sha256 (idempotent).

        The staging file stays until ``staging.discard()``: the ingest path keeps
        it until its record is in, so it can put the blob back if a concurrent
        delete (in any process) took it away meanwhile.
        """
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._commit_sync, staging.path, sha256)
        except FileNotFoundError:
            if getattr(staging, "discarded", False):
                # Its owner dropped it while we linked: a cancelled upload, not a storage fault.
                raise StagingDiscarded(f"staging file {staging.path} was discarded before its commit") from None
            raise

    def _commit_sync(self, source: str, sha256: str) -> str:
        final = self.path_for(sha256)
        directory = os.path.dirname(final)
        os.makedirs(directory, exist_ok=True)
        try:
            # link, not rename: an existing blob with this name has these very bytes.
            os.link(source, final)
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        _fsync_dir(directory)
        return final

    async def retire(self, sha256: str) -> str | None:
        """Move a blob out of sight (into tmp/) so a delete can still be undone; None if absent."""
        return await asyncio.get_running_loop().run_in_executor(None, self._retire_sync, sha256)

    def _retire_sync(self, sha256: str) -> str | None:
        parked = os.path.join(self.tmp_dir, f"{self._tag}.{secrets.token_hex(8)}.retired")
        try:
            os.rename(self.path_for(sha256), parked)
        except FileNotFoundError:
            return None
        return parked

    async def restore(self, parked: str, sha256: str) -> None:
        """Undo ``retire``: someone recorded these bytes again meanwhile."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._commit_sync, parked, sha256)
        await self.purge(parked)

    async def purge(self, parked: str) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, os.unlink, parked)
        except FileNotFoundError:
            pass


def _closer(fd: int) -> Callable[[asyncio.Future[None]], None]:
    def close(job: asyncio.Future[None]) -> None:
        if not job.cancelled():
            job.exception()  # retrieved: the upload is being thrown away anyway
        os.close(fd)

    return close


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# The name every caller used before the interface existed.
BlobStore = LocalBlobStore

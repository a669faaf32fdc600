"""Pieces written in order on an I/O pool: the local store's staging files and tus PATCHes use it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tornado_paste.storage.blobs.base import StorageFull

WRITE_BUFFER = 1 << 20  # write to disk in 1 MiB pieces, not per network chunk


class PieceWriter:
    """Appends to an open file in 1 MiB pieces hashed and written on an I/O pool, in order.

    ``write`` runs on the event loop and only appends to a buffer; each full
    piece goes to the pool, which updates the digests (hashlib releases the GIL)
    and writes it while the loop goes on. At most one piece is in flight:
    ``write`` returns that piece's future when the caller should wait (Tornado's
    ``data_received`` awaits it, which stops reading the socket: backpressure).
    """

    def __init__(self, fd: int, pool: ThreadPoolExecutor, digests: Iterable[Any | None] = ()) -> None:
        self.fd = fd
        self.written = 0
        self._pool = pool
        self._digests = [d for d in digests if d is not None]
        self._buffer = bytearray()
        self._job: asyncio.Future[None] | None = None

    def write(self, chunk: bytes | memoryview) -> asyncio.Future[None] | None:
        """Buffer bytes; returns a future to await before writing more, or None."""
        self._buffer += chunk
        if len(self._buffer) < WRITE_BUFFER:
            return None
        job = self._job
        if job is not None:
            if not job.done():
                return job  # the previous piece is still being written: wait for it
            job.result()  # re-raise StorageFull etc. from an earlier piece nobody awaited
        return self._submit()

    def _submit(self) -> asyncio.Future[None]:
        piece, self._buffer = self._buffer, bytearray()
        # The fd is bound now: the owner may forget it (discard) before the job runs.
        self._job = asyncio.get_running_loop().run_in_executor(self._pool, self._absorb, self.fd, piece)
        return self._job

    def _absorb(self, fd: int, piece: bytearray, writeback: bool = True) -> None:
        """On an I/O thread: hash and write one piece (``writeback=False``: an fsync follows anyway)."""
        for digest in self._digests:
            digest.update(piece)
        view = memoryview(piece)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        finally:
            view.release()
        self.written += len(piece)
        if writeback:
            _start_writeback(fd, len(piece))

    async def drain(self, then: Callable[[int], None] | None = None) -> None:
        """Write whatever is buffered; after it every byte is in the file (or an error raised).

        ``then(fd)`` (an fsync) runs on the I/O thread right after the last piece, in the same job:
        one thread hop, not two, for the end of every upload.
        """
        if self._job is not None:
            await self._job
        if self._buffer or then is not None:
            piece, self._buffer = self._buffer, bytearray()
            self._job = asyncio.get_running_loop().run_in_executor(self._pool, self._last, self.fd, piece, then)
            await self._job

    def _last(self, fd: int, piece: bytearray, then: Callable[[int], None] | None) -> None:
        if piece:
            self._absorb(fd, piece, writeback=then is None)
        if then is not None:
            then(fd)

    def in_flight(self) -> asyncio.Future[None] | None:
        job = self._job
        return job if job is not None and not job.done() else None

    async def settle(self) -> None:
        """Wait for a piece in flight, whatever its outcome, so the fd can be truncated or closed."""
        job, self._job = self._job, None
        if job is not None:
            with contextlib.suppress(BaseException):
                await job


def _start_writeback(fd: int, length: int) -> None:
    """Ask the kernel to start writing the bytes just written (Linux: fadvise DONTNEED on dirty pages
    starts asynchronous writeback). The disk then works while the upload streams, so the final fsync
    finds little left to do instead of a whole file's worth of dirty pages."""
    try:
        end = os.lseek(fd, 0, os.SEEK_CUR)
        os.posix_fadvise(fd, end - length, length, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):
        pass  # not Linux, or a filesystem that does not care: only the final fsync is slower

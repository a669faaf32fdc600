"""The blob-store interface: where file bytes live, named by their sha256 (the content address).

Two halves, the same for every implementation (``local.py``: a directory; ``s3.py``: an S3 bucket):

- ``Staging``, one upload in progress: ``write`` takes the bytes in order, hashing them off the event
  loop, and returns a future when the caller must wait before writing more (Tornado's
  ``data_received`` awaits it: backpressure, flat memory); ``finish`` returns the sha256; ``discard``
  drops everything, safely while a write or a finish is in flight, and any number of times.
- The store: ``commit`` makes a finished staging's bytes visible under their content address
  (idempotent: a blob of that name has those very bytes); ``exists``, ``size``, ``read``, ``stream``
  and ``local_copy`` read; deletes go ``retire`` (out of sight, undoable) then ``restore`` or
  ``purge`` (the ingest path's retire/re-check protocol, ``core/ingest.py``); ``list_blobs`` and
  ``sweep`` serve the sweepers.

Every method that talks to a remote store raises ``BlobStoreUnavailable`` (a 503 with Retry-After)
for anything that is the store's fault, never a bare client error.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tornado_paste.errors import ClientClosed, InsufficientStorage, NotFound, Unavailable

T = TypeVar("T")


class StorageFull(InsufficientStorage):
    """The disk (or quota) has no room for this upload."""


class StagingDiscarded(ClientClosed):
    """The staging was discarded (its upload cancelled) while it was being finished or committed."""


class BlobStoreUnavailable(Unavailable):
    """The object store cannot answer now (down, timing out, throttling); retry later."""

    def __init__(self, message: str = "the object store is unavailable") -> None:
        super().__init__(message)


class BlobStoreMisconfigured(RuntimeError):
    """The blob store refuses us for good (credentials, bucket): a start-up error, not a 503."""


class BlobMissing(NotFound, LookupError):
    """No blob has this sha256 (any more): a 404 if it reaches a client."""

    def __init__(self, what: str = "") -> None:
        super().__init__("the file's bytes are missing from the blob store")
        self.what = what


class Staging(abc.ABC):
    """One upload in progress. ``size`` and ``head`` (the first bytes, for libmagic) grow with ``write``."""

    size: int
    head: bytes
    closed: bool
    discarded: bool

    @abc.abstractmethod
    def write(self, chunk: bytes | memoryview) -> asyncio.Future[Any] | None:
        """Append bytes; returns a future to await before writing more, or None."""

    @property
    @abc.abstractmethod
    def sha256(self) -> str:
        """The hex digest of everything written (complete only after ``finish``)."""

    @abc.abstractmethod
    async def finish(self) -> str:
        """Store the rest and return the sha256; ``StagingDiscarded`` if ``discard`` came meanwhile."""

    @abc.abstractmethod
    def discard(self) -> None:
        """Drop the staged bytes (idempotent, never blocks; remote clean-up runs in the background)."""

    async def finish_and_inspect(self, inspect: Callable[[bytes], T]) -> tuple[str, T]:
        """``finish``, then ``inspect(head)`` (libmagic, blocking) on a thread. The local store runs
        both in the one I/O job that writes the last piece and fsyncs: one thread hop per upload."""
        sha256 = await self.finish()
        return sha256, await asyncio.get_running_loop().run_in_executor(None, inspect, self.head)


class BlobStore(abc.ABC):
    """Committed blobs by sha256, and the staging of new ones."""

    #: "local" or "s3"; handlers pick their serving mode from it.
    kind = "abstract"
    #: Hashing and writing pieces, reading local copies; bounded, so many uploads share a few threads.
    io_pool: ThreadPoolExecutor

    # -- lifecycle -------------------------------------------------------------
    def ensure_dirs(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Create the local directories this store needs (the scratch dir at least)."""

    async def start(self) -> None:  # noqa: B027
        """Connect and check access; ``BlobStoreMisconfigured`` when the store refuses us for good."""

    async def stop(self) -> None:  # noqa: B027
        """Wait for background clean-ups and close connections."""

    # -- staging ---------------------------------------------------------------
    @abc.abstractmethod
    def stage(self, head_size: int) -> Staging:
        """A new staging for an upload in progress."""

    @abc.abstractmethod
    def staging_path(self, suffix: str = ".part") -> str:
        """A fresh local scratch path (image results are rendered there before ``adopt``)."""

    @abc.abstractmethod
    async def adopt(self, path: str, head_size: int) -> Staging:
        """A finished staging for bytes another writer put at the local ``path`` (consumed by commit/discard)."""

    @abc.abstractmethod
    async def commit(self, staging: Any, sha256: str) -> None:
        """Make a finished staging's bytes visible under ``sha256`` (idempotent). The staging stays until
        its ``discard``: the ingest path keeps it until its record is in, to commit again after a race."""

    @abc.abstractmethod
    def staged_copy(self, staging: Any) -> contextlib.AbstractAsyncContextManager[str]:
        """A local file path holding a finished staging's bytes for the duration of the block (the
        ingest transforms read it): the staging file itself when local, a download to the scratch dir
        when the bytes went to the object store."""

    @abc.abstractmethod
    async def sweep(self, max_age: float, is_alive: Callable[[int], bool] | None = None) -> int:
        """Remove staged bytes of dead processes (or older than ``max_age``); returns how many went."""

    # -- committed blobs -------------------------------------------------------
    @abc.abstractmethod
    async def exists(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    async def size(self, sha256: str) -> int | None:
        """The blob's size in bytes, or None if there is none."""

    @abc.abstractmethod
    async def read(self, sha256: str, start: int = 0, length: int | None = None) -> bytes:
        """Up to ``length`` bytes from ``start`` (small reads: heads, excerpts); ``BlobMissing`` if absent."""

    @abc.abstractmethod
    def stream(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` in pieces (downloads); ``BlobMissing`` if absent."""

    @abc.abstractmethod
    def local_copy(self, sha256: str, max_bytes: int | None = None) -> contextlib.AbstractAsyncContextManager[str]:
        """A local file path holding the blob (or its first ``max_bytes``) for the duration of the block."""

    @abc.abstractmethod
    async def retire(self, sha256: str) -> str | None:
        """Move a blob out of sight so a delete can still be undone; the parked name, or None if absent."""

    @abc.abstractmethod
    async def restore(self, parked: str, sha256: str) -> None:
        """Undo ``retire``: someone recorded these bytes again meanwhile."""

    @abc.abstractmethod
    async def purge(self, parked: str) -> None:
        """Drop a retired blob for good."""

    async def delete(self, sha256: str) -> bool:
        """Remove a blob at once (no undo); True if there was one. Callers that race uploads use retire."""
        parked = await self.retire(sha256)
        if parked is None:
            return False
        await self.purge(parked)
        return True

    @abc.abstractmethod
    async def list_blobs(self) -> list[tuple[str, float]]:
        """Every committed blob as (sha256, last-modified Unix time), for the orphan sweep."""


def reap_parts(inflight: list[asyncio.Task[Any]], error: BaseException | None
               ) -> tuple[list[asyncio.Task[Any]], BaseException | None]:
    """Multipart parts still running, and the first failure among the finished ones (kept once seen)."""
    running = []
    for task in inflight:
        if not task.done():
            running.append(task)
        elif not task.cancelled() and task.exception() is not None and error is None:
            error = task.exception()
    return running, error

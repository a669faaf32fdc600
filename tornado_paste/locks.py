"""Per-key asyncio locks that disappear when nobody holds or waits for them (and a cross-process variant)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class FileKeyedLocks:
    """Per-key locks that also hold across processes sharing a data dir (``flock`` on lock files).

    Several server processes commit, dedupe and delete blobs in one directory; the in-process
    asyncio lock alone would let process A unlink a blob that process B has just linked a new
    record to. Keys are striped over 4096 lock files (the first three hex digits of a sha256),
    so the directory stays small; two keys sharing a stripe only wait for each other briefly.
    The lock is taken with ``LOCK_NB`` and retried after short sleeps: waiting never blocks
    the event loop or parks an executor thread.
    """

    def __init__(self, lock_dir: str, poll: float = 0.005, max_poll: float = 0.1) -> None:
        self.lock_dir = lock_dir
        self._local = KeyedLocks()
        self._poll = poll
        self._max_poll = max_poll

    def _path(self, key: str) -> str:
        return os.path.join(self.lock_dir, f"{key[:3] or '_'}.lock")

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local.hold(key):
            os.makedirs(self.lock_dir, exist_ok=True)
            fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                delay = self._poll
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(delay)
                        delay = min(self._max_poll, delay * 2)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

"""Content-addressed blob directory.

Layout under the data dir::

    tmp/<host>.<pid>.<random>.part   staging files of uploads in progress
    blobs/ab/cd/abcd...              committed blobs, named by their sha256

A blob becomes visible only after its staging file was fsynced and linked
into place (and the directory entry fsynced), so a crash leaves at most
staging files behind; ``sweep_staging`` removes those at start-up.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
WRITE_BUFFER = 1 << 20  # write to disk in 1 MiB pieces, not per network chunk
# Marks a blob renamed aside while deciding whether to delete it (retention sweeper, withdraw).
TOMBSTONE = ".gone."


class StorageFull(Exception):
    """The disk (or quota) has no room for this upload."""


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


class StagingFile:
    """A file being received: written in large pieces, hashed and head-captured on the way.

    All methods except ``finish`` are cheap enough for the event loop (they only
    append to the page cache); ``finish`` fsyncs in a thread.
    """

    def __init__(self, path: str, head_size: int) -> None:
        self.path = path
        self.size = 0
        self.head = b""
        self._head_size = head_size
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.closed = False

    def write(self, chunk: bytes | memoryview) -> None:
        if self._fd is None:
            raise ValueError("staging file is closed")
        if len(self.head) < self._head_size:
            self.head += bytes(chunk[: self._head_size - len(self.head)])
        self._hash.update(chunk)
        self.size += len(chunk)
        self._buffer += chunk
        if len(self._buffer) >= WRITE_BUFFER:
            self._flush()

    def _flush(self) -> None:
        assert self._fd is not None
        view = memoryview(self._buffer)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        finally:
            view.release()
        del self._buffer[:]

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def finish(self) -> str:
        """Flush, fsync and close; returns the sha256 of everything written."""
        self._flush()
        fd, self._fd = self._fd, None
        assert fd is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, fd)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(str(exc)) from exc
            raise
        finally:
            os.close(fd)
        self.closed = True
        return self.sha256

    def discard(self) -> None:
        """Drop the staging file; safe to call more than once."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.closed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class BlobStore:
    def __init__(self, data_dir: str) -> None:
        self.root = os.path.abspath(data_dir)
        self.tmp_dir = os.path.join(self.root, "tmp")
        self.blob_dir = os.path.join(self.root, "blobs")
        self._tag = f"{_host_tag()}.{os.getpid()}"

    def ensure_dirs(self) -> None:
        for path in (self.root, self.tmp_dir, self.blob_dir):
            os.makedirs(path, exist_ok=True)

    # -- staging -------------------------------------------------------------
    def stage(self, head_size: int) -> StagingFile:
        """A new staging file for an upload in progress."""
        name = f"{self._tag}.{secrets.token_hex(8)}.part"
        return StagingFile(os.path.join(self.tmp_dir, name), head_size)

    def sweep_staging(self, max_age: float, is_alive: Callable[[int], bool] | None = None) -> int:
        """Remove staging files left by dead processes (or older than ``max_age``).

        Call it at start-up, before this process stages anything.
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

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path_for(sha256))

    async def commit(self, staging: StagingFile, sha256: str) -> str:
        """Move a finished staging file into place under its sha256 (idempotent)."""
        return await asyncio.get_running_loop().run_in_executor(None, self._commit_sync, staging, sha256)

    def _commit_sync(self, staging: StagingFile, sha256: str) -> str:
        final = self.path_for(sha256)
        directory = os.path.dirname(final)
        os.makedirs(directory, exist_ok=True)
        for _attempt in range(3):
            try:
                # link, not rename: an existing blob with this name has these very bytes.
                os.link(staging.path, final)
                break
            except FileExistsError:
                try:
                    # Reusing it: a fresh mtime tells a concurrent retention sweeper to keep it.
                    os.utime(final)
                    break
                except FileNotFoundError:
                    continue  # a sweeper moved it aside this instant: link our copy instead
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull(str(exc)) from exc
                if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                    raise
                os.replace(staging.path, final)  # filesystems without hard links
                break
        staging.discard()
        _fsync_dir(directory)
        return final

    def stamp(self, sha256: str) -> int | None:
        """The blob's mtime in ns (None if absent); any reuse (``commit``) changes it."""
        try:
            return os.stat(self.path_for(sha256)).st_mtime_ns
        except FileNotFoundError:
            return None

    async def withdraw(self, sha256: str, stamp: int) -> bool:
        """Remove a blob this process just committed but could not record, unless it was reused since.

        The blob is renamed aside first: an upload of the same bytes that commits
        meanwhile links its own copy (or finds the blob touched and keeps it).
        """
        return await asyncio.get_running_loop().run_in_executor(None, self._withdraw_sync, sha256, stamp)

    def _withdraw_sync(self, sha256: str, stamp: int) -> bool:
        final = self.path_for(sha256)
        aside = f"{final}{TOMBSTONE}{os.getpid()}.{secrets.token_hex(4)}"
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return False
        keep = os.stat(aside).st_mtime_ns != stamp
        if keep:
            try:
                os.link(aside, final)
            except FileExistsError:
                pass
        os.unlink(aside)
        return not keep

    async def delete(self, sha256: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(None, self._delete_sync, sha256)

    def _delete_sync(self, sha256: str) -> bool:
        try:
            os.unlink(self.path_for(sha256))
        except FileNotFoundError:
            return False
        return True


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

"""Blocking file work for tus uploads (run on executor threads) and the staged-file adapter for ingest."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os

READ_CHUNK = 8 << 20


# -- the staged file handed to the ingest path --------------------------------------------------

class TusStaged:
    """A complete tus file, shaped like ``blobs.StagingFile`` for ``Ingestor.finish_prestaged``.

    ``discard`` only takes note: the tus service decides whether the bytes go
    (after commit, dedupe or a refusal) or stay for a retry (a transient store
    or disk error must not throw away a 4 GB upload).
    """

    def __init__(self, path: str | None, size: int, head: bytes, sha256: str, s3_key: str | None = None) -> None:
        self.path = path
        self.size = size
        self.head = head
        self.sha256 = sha256
        # Bytes already in the bucket (a remote blob store): committed by a server-side copy.
        self.s3_key = s3_key
        self.closed = False
        self.discarded = False

    async def finish(self) -> str:
        if self.path is not None:
            await asyncio.get_running_loop().run_in_executor(None, fsync_path, self.path)
        self.closed = True
        return self.sha256

    def discard(self) -> None:
        self.discarded = True


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_file(path: str, size: int, head_size: int) -> tuple[str, bytes]:
    """Blocking: sha256 of the first ``size`` bytes and the head (runs on an executor thread)."""
    digest = hashlib.sha256()
    head = b""
    remaining = size
    with open(path, "rb", buffering=0) as f:
        while remaining > 0:
            chunk = f.read(min(READ_CHUNK, remaining))
            if not chunk:
                raise OSError(errno.EIO, f"staged file {path} is shorter than its committed offset")
            if len(head) < head_size:
                head += chunk[: head_size - len(head)]
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest(), head


def read_head(path: str, head_size: int) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return f.read(head_size)


def concatenate(paths: list[str], target: str, head_size: int) -> tuple[str, bytes, int]:
    """Blocking: write the parts one after the other into ``target``, hashing on the way; fsync."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    with open(target, "wb", buffering=0) as out:
        for path in paths:
            with open(path, "rb", buffering=0) as part:
                while chunk := part.read(READ_CHUNK):
                    if len(head) < head_size:
                        head += chunk[: head_size - len(head)]
                    digest.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[out.write(view):]
                    size += len(chunk)
        os.fsync(out.fileno())
    return digest.hexdigest(), head, size


def remove_orphans(directory: str, known: set[str], older_than: float) -> None:
    """Delete staged files no upload knows of, last touched before ``older_than`` (Unix seconds)."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):
                if name not in known and os.stat(path).st_mtime < older_than:
                    os.unlink(path)

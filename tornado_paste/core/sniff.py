"""MIME type from a file's first bytes (python-magic), never from the client's claim."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import magic

_local = threading.local()

# libmagic's names for "nothing here"; an empty file is harmless text.
_EMPTY_TYPES = {"application/x-empty", "inode/x-empty"}


def sniff_mimetype(head: bytes) -> str:
    """Blocking: libmagic on ``head``. One Magic handle per thread (they are not thread-safe)."""
    if not head:
        return "text/plain"
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = magic.Magic(mime=True)
    mimetype = detector.from_buffer(head) or "application/octet-stream"
    if mimetype in _EMPTY_TYPES:
        return "text/plain"
    return mimetype.lower()


async def sniff(head: bytes) -> str:
    """libmagic off the event loop (some text heuristics scan the whole head)."""
    return await asyncio.get_running_loop().run_in_executor(None, sniff_mimetype, head)


async def seal(staging: Any) -> tuple[str, str]:
    """Finish the staged bytes and sniff their head: (sha256, type), in one I/O job where the blob
    store can (``Staging.finish_and_inspect``). tus's prestaged files have only ``finish``."""
    finish_and_inspect = getattr(staging, "finish_and_inspect", None)
    if finish_and_inspect is None:
        sha256 = await staging.finish()
        return sha256, await sniff(staging.head)
    return await finish_and_inspect(sniff_mimetype)

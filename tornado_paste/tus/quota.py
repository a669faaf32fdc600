"""Caps on open tus uploads: per client and in all, by count and by declared bytes; free disk; metadata size.

An open upload is one not yet ingested and not expired (a finished partial
upload still counts: its bytes wait on disk for a final concatenation). Before
these caps, 100 creations with ``Upload-Length: 1G`` and a 46 KB filename all
got 201 in 2.2 s. Now:

- a client (the address the handler passes down) may hold ``per_client_uploads``
  open uploads and ``per_client_bytes`` of declared length (a deferred length
  counts the bytes received so far, and its PATCHes may not take it past the cap);
  beyond either, 429 + Retry-After (a single upload longer than the byte cap: 413);
- every client together: ``total_uploads`` and ``total_bytes`` (503 + Retry-After);
- ``Upload-Length`` (and a deferred length once it is known) must fit in the free
  disk space of the data dir (507 ``insufficient_storage``);
- ``Upload-Metadata`` may be ``max_metadata_size`` bytes, a ``filename``/``name`` value
  ``max_filename_bytes`` after decoding (400 ``metadata_too_large``).

The counts come from the tus state store (``TusStateStore.usage``), so the caps hold
across processes; an upload finished, terminated or expired frees its slot at once.
Each refusal counts in ``tus.refused.<reason>``. 0 disables any cap.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from tornado_paste import errors
from tornado_paste.core.records import TusState
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import TusStateStore
from tornado_paste.tus.protocol import TusError, parse_metadata

# Metadata keys whose value becomes the file's name.
FILENAME_KEYS = ("filename", "name")


class QuotaRefusal(TusError):
    # The ``tus.refused.<metric>`` reason.
    metric = "error"


class TooManyOpenUploads(errors.TooMany, QuotaRefusal):
    code = "tus_too_many_uploads"
    reason = "concurrency"
    metric = "uploads"
    retry_after = 10


class ClientBytesExceeded(errors.TooMany, QuotaRefusal):
    code = "tus_too_many_bytes"
    reason = "concurrency"
    metric = "bytes"
    retry_after = 10


class UploadLongerThanQuota(errors.TooLarge, QuotaRefusal):
    code = "too_large"
    metric = "bytes"


class TusCapacityFull(errors.Unavailable, QuotaRefusal):
    code = "tus_capacity"
    reason = "capacity"
    metric = "capacity"
    retry_after = 30


class DiskTooFull(errors.InsufficientStorage, QuotaRefusal):
    code = "insufficient_storage"
    metric = "storage"


class MetadataTooLarge(QuotaRefusal):
    code = "metadata_too_large"
    metric = "metadata"


@dataclass(frozen=True)
class TusLimits:
    per_client_uploads: int = 0
    per_client_bytes: int = 0
    total_uploads: int = 0
    total_bytes: int = 0
    max_metadata_size: int = 0
    max_filename_bytes: int = 0


class TusQuota:
    def __init__(self, state: TusStateStore, limits: TusLimits, metrics: Metrics, directory: str,
                 free_space: Callable[[str], int] | None = None) -> None:
        self.state = state
        self.limits = limits
        self.metrics = metrics
        self.directory = directory
        # Free bytes of the filesystem holding ``directory`` (tests replace it).
        self.free_space = free_space or (lambda path: shutil.disk_usage(path).free)

    def _refuse(self, exc: QuotaRefusal) -> QuotaRefusal:
        self.metrics.incr(f"tus.refused.{exc.metric}")
        return exc

    def metadata(self, header: str | None) -> dict[str, str]:
        """``Upload-Metadata`` parsed, within the size limits (MetadataTooLarge beyond)."""
        limit = self.limits.max_metadata_size
        if limit and header is not None and len(header.encode("utf-8", "surrogateescape")) > limit:
            raise self._refuse(MetadataTooLarge(f"Upload-Metadata may be at most {limit} bytes"))
        metadata = parse_metadata(header)
        limit = self.limits.max_filename_bytes
        for key in FILENAME_KEYS:
            if limit and len(metadata.get(key, "").encode("utf-8")) > limit:
                raise self._refuse(MetadataTooLarge(f"the {key} may be at most {limit} bytes (UTF-8)"))
        return metadata

    def check_disk(self, needed: int) -> None:
        """DiskTooFull unless ``needed`` more bytes fit on the data dir's filesystem."""
        if needed > 0 and needed > self.free_space(self.directory):
            raise self._refuse(DiskTooFull(f"not enough free disk space for {needed} more bytes; "
                                           "try a smaller upload later"))

    async def admit(self, client: str | None, length: int | None, already_counted: bool = False) -> None:
        """May ``client`` hold one more open upload of ``length`` (None: deferred) bytes?

        ``already_counted``: the upload is in the store already (the check after creating it, which
        catches a creation racing in another process): the usage must then be within the caps.
        """
        limits = self.limits
        now = time.time()
        extra_count, extra_bytes = (0, 0) if already_counted else (1, length or 0)
        if limits.per_client_bytes and (length or 0) > limits.per_client_bytes:
            raise self._refuse(UploadLongerThanQuota(
                f"Upload-Length exceeds the {limits.per_client_bytes} bytes one client may have open"))
        if client is not None and (limits.per_client_uploads or limits.per_client_bytes):
            mine = await self.state.usage(now, client)
            if limits.per_client_uploads and mine.count + extra_count > limits.per_client_uploads:
                raise self._refuse(TooManyOpenUploads(
                    f"you have {mine.count} unfinished uploads (at most {limits.per_client_uploads}); "
                    "finish or terminate one first"))
            if limits.per_client_bytes and mine.declared + extra_bytes > limits.per_client_bytes:
                raise self._refuse(ClientBytesExceeded(
                    f"your unfinished uploads declare {mine.declared} bytes (at most {limits.per_client_bytes} "
                    "in all); finish or terminate one first"))
        if limits.total_uploads or limits.total_bytes:
            everyone = await self.state.usage(now)
            if (limits.total_uploads and everyone.count + extra_count > limits.total_uploads) or (
                    limits.total_bytes and everyone.declared + extra_bytes > limits.total_bytes):
                raise self._refuse(TusCapacityFull("the server has too many unfinished uploads; retry later"))
        if not already_counted and length:
            self.check_disk(length)

    async def admit_length(self, state: TusState, new_length: int) -> None:
        """A deferred length becomes known: the upload's share grows from its offset to ``new_length``."""
        limits = self.limits
        grows = new_length - state.offset
        if limits.per_client_bytes and new_length > limits.per_client_bytes:
            raise self._refuse(UploadLongerThanQuota(
                f"Upload-Length exceeds the {limits.per_client_bytes} bytes one client may have open"))
        now = time.time()
        if state.client is not None and limits.per_client_bytes:
            mine = await self.state.usage(now, state.client)
            if mine.declared + grows > limits.per_client_bytes:
                raise self._refuse(ClientBytesExceeded(
                    f"your unfinished uploads would declare {mine.declared + grows} bytes "
                    f"(at most {limits.per_client_bytes} in all)"))
        if limits.total_bytes and (await self.state.usage(now)).declared + grows > limits.total_bytes:
            raise self._refuse(TusCapacityFull("the server has too many unfinished uploads; retry later"))
        self.check_disk(grows)

    async def deferred_room(self, state: TusState, max_size: int) -> int:
        """How long a deferred-length upload may grow (its offset included) within its client's byte cap."""
        cap = self.limits.per_client_bytes
        if not cap or state.client is None:
            return max_size
        mine = await self.state.usage(time.time(), state.client)
        others = mine.declared - state.offset  # its own share, while deferred, is its offset
        return max(state.offset, min(max_size, cap - others))

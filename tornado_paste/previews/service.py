"""Posters, thumbnails and cover art as derivatives, and what media files are, read at upload.

- ``enrich`` (an ingest enricher): ffprobe/pdfinfo read duration, codecs, dimensions, cover art and
  page count into ``record.media`` before the record is inserted, in the bounded executor, within
  the tool limits. A file they refuse is stored all the same; the refusal's code is kept
  (``media["error"]``) so its preview is refused at once later, without running the tool again.
- ``poster``: the poster frame of a video, the first page of a PDF, an audio file's cover art. Like
  the image derivatives: looked up in the derivative index, else made once (single-flight) in the
  bounded executor and handed to the ingest path as a derived file (dedupe, record, ``file.derived``
  event), private and expiring with its parent, and removed with it (the derivative index's
  children go when the parent goes).

May use the images' executor only as the ``executor`` services.py passes in (anything with an async
``run(fn, *args)`` that raises an ``Unavailable`` refusal when full).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tornado_paste import errors
from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.core.ingest import Ingestor
from tornado_paste.core.records import FileRecord
from tornado_paste.metrics.client import Metrics
from tornado_paste.previews import media as probing
from tornado_paste.previews import posters
from tornado_paste.previews.errors import CorruptMedia, MediaRefused, MediaTimeout, MediaTooLarge, NoCoverArt, NoPreview
from tornado_paste.previews.highlight import TextPreviews
from tornado_paste.previews.sandbox import ToolLimits
from tornado_paste.storage.base import DerivativeIndex, FileStore
from tornado_paste.storage.blobs.local import BlobStore

log = logging.getLogger(__name__)

# Record kind -> what its preview is called (the derivative key, the metric name).
PREVIEW_KINDS = {"video": "poster", "pdf": "thumbnail", "audio": "cover"}
_REFUSALS = {cls.code: cls for cls in (CorruptMedia, MediaTooLarge, MediaTimeout, MediaRefused, NoCoverArt)}
# Refusals remembered per process (a hostile file is not re-run on every page view).
FAILURE_MEMORY = 4096


class Executor(Protocol):
    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PreviewConfig:
    max_side: int = 1280
    max_pixels: int = 50_000_000  # source frame / cover / rendered page (the images' limit)
    max_page_points: float = 14400.0  # 200 in, Acrobat's largest page
    limits: ToolLimits = field(default_factory=ToolLimits)
    page_wait: float = 5.0  # how long a preview page waits for a poster being made


@dataclass
class PosterResult:
    record: FileRecord
    created: bool


def preview_kind(record: FileRecord) -> str | None:
    """``poster``/``thumbnail``/``cover`` for a file that can have one (None for the rest and derivatives)."""
    if record.parent_id is not None or record.variant:
        return None
    kind = PREVIEW_KINDS.get(record.kind)
    if kind is None or (record.kind != "pdf" and record.mimetype not in probing.DEMUXERS):
        return None
    if kind == "cover" and not (record.media or {}).get("cover"):
        return None
    return kind


class PreviewService:
    def __init__(self, store: FileStore, index: DerivativeIndex, ingestor: Ingestor, blobs: BlobStore,
                 metrics: Metrics, executor: Executor, config: PreviewConfig, text: TextPreviews | None = None,
                 enforce_budget: Callable[[int, str], Awaitable[None]] | None = None) -> None:
        self.store, self.index, self.ingestor, self.blobs = store, index, ingestor, blobs
        # The derivative cache's limits (byte budget, per-original cap): posters count like resizes.
        self.enforce_budget = enforce_budget
        # Highlighted text pages (same executor).
        self.text = text or TextPreviews(blobs, executor, metrics, 256 * 1024, 32 << 20)
        self.metrics, self.executor, self.config = metrics, executor, config
        self._flights: dict[tuple[int, str], asyncio.Task[PosterResult]] = {}
        self._failed: collections.OrderedDict[int, MediaRefused | NoCoverArt] = collections.OrderedDict()

    # -- at upload -------------------------------------------------------------
    async def enrich(self, record: FileRecord, blob_path: str) -> None:
        """Read what the media file is into ``record.media`` (and a video's width/height)."""
        if record.variant or record.parent_id is not None or record.kind not in PREVIEW_KINDS:
            return
        if record.kind != "pdf" and record.mimetype not in probing.DEMUXERS:
            return
        kind = record.kind
        cfg = self.config
        started = time.monotonic()
        try:
            if kind == "pdf":
                info = await self.executor.run(probing.probe_pdf, blob_path, cfg.limits, cfg.max_page_points)
            else:
                info = await self.executor.run(probing.probe_av, blob_path, record.mimetype, cfg.limits,
                                               cfg.max_pixels)
        except (MediaRefused, NoPreview) as exc:
            self.metrics.incr(f"probe.{kind}.refused.{exc.code}")
            record.media = {**(record.media or {}), "error": exc.code}
            return
        except errors.Unavailable as exc:  # executor full, tool missing: the upload matters more
            self.metrics.incr(f"probe.{kind}.refused.{exc.code}")
            log.info("%s stored without media info: %s", record.filehash, exc)
            return
        self.metrics.timing(f"probe.{kind}.duration", (time.monotonic() - started) * 1000)
        self.metrics.incr(f"probe.{kind}.count")
        record.media = {**(record.media or {}), **info.to_dict()}
        if kind == "video" and info.width and info.height:
            record.width, record.height = info.width, info.height

    # -- posters ---------------------------------------------------------------
    def key(self, kind: str) -> str:
        return f"preview={kind}&side={self.config.max_side}&format=jpeg"

    async def poster(self, parent: FileRecord) -> PosterResult:
        """The poster/thumbnail/cover of ``parent``: found, joined, or made."""
        kind = PREVIEW_KINDS.get(parent.kind, "preview")
        try:
            return await self._poster(parent)
        except (MediaRefused, NoCoverArt, NoPreview, errors.Unavailable) as exc:
            self.metrics.incr(f"preview.{kind}.refused.{exc.code}")
            raise

    async def _poster(self, parent: FileRecord) -> PosterResult:
        assert parent.id is not None
        if parent.variant or parent.parent_id is not None:
            raise NoPreview("a derivative has no preview of its own")
        kind = PREVIEW_KINDS.get(parent.kind)
        if kind is None or (parent.kind != "pdf" and parent.mimetype not in probing.DEMUXERS):
            raise NoPreview(f"files of type {parent.mimetype} have no poster or thumbnail")
        known = (parent.media or {}).get("error")
        if known in _REFUSALS:
            raise _REFUSALS[known]("this file's preview was refused when it was uploaded")
        if kind == "cover" and parent.media is not None and not parent.media.get("cover"):
            raise NoCoverArt("this audio file has no cover art")
        if parent.id in self._failed:
            raise self._failed[parent.id]
        key = self.key(kind)
        found = await self._lookup(parent.id, key)
        if found is not None:
            self.metrics.incr(f"preview.{kind}.cache_hit")
            return PosterResult(found, created=False)
        flight = (parent.id, key)
        task = self._flights.get(flight)
        mine = task is None
        if task is None:
            task = asyncio.ensure_future(self._make(parent, kind, key))
            self._flights[flight] = task
            task.add_done_callback(lambda t: self._landed(flight, t))
        else:
            self.metrics.incr(f"preview.{kind}.cache_hit")
        result = await asyncio.shield(task)
        return result if mine else PosterResult(result.record, created=False)

    def _landed(self, flight: tuple[int, str], task: asyncio.Task[PosterResult]) -> None:
        if self._flights.get(flight) is task:
            del self._flights[flight]
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, (MediaRefused, NoCoverArt)):
            self._failed[flight[0]] = exc
            while len(self._failed) > FAILURE_MEMORY:
                self._failed.popitem(last=False)

    async def _lookup(self, parent_id: int, key: str) -> FileRecord | None:
        file_id = await self.index.get(parent_id, key)
        if file_id is None:
            return None
        record = await self.store.get_by_id(file_id)
        if record is None:
            await self.index.discard(parent_id, key, file_id)
        return record

    async def _make(self, parent: FileRecord, kind: str, key: str) -> PosterResult:
        assert parent.id is not None
        png, out = self.blobs.staging_path(".png"), self.blobs.staging_path(".jpg")
        started = time.monotonic()
        try:
            made = await self.executor.run(self._render, kind, self.blobs.path_for(parent.sha256), parent, png, out)
        except BaseException:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, unlink_quietly, png)
            await loop.run_in_executor(None, unlink_quietly, out)
            raise
        self.metrics.timing(f"preview.{kind}.duration", (time.monotonic() - started) * 1000)
        self.metrics.incr(f"preview.{kind}.count")
        stem = os.path.splitext(parent.filename)[0] or "file"
        variant = {"preview": kind, "w": made.width, "h": made.height, "format": "jpeg"}
        result = await self.ingestor.ingest_file(out, f"{stem}_{kind}.jpg", private=parent.private,
                                                 expires_at=parent.expires_at, parent_id=parent.id, variant=variant)
        record = result.record
        assert record.id is not None
        for _attempt in range(3):
            winner_id = await self.index.claim(parent.id, key, record.id, size=record.size, used_at=time.time())
            if winner_id == record.id:
                if self.enforce_budget is not None:
                    await self.enforce_budget(parent.id, key)
                return PosterResult(record, result.created)
            winner = await self.store.get_by_id(winner_id)
            if winner is not None:  # another process made it first: use its record
                if result.created:
                    await self.ingestor.remove(record)
                return PosterResult(winner, created=False)
            await self.index.discard(parent.id, key, winner_id)
        return PosterResult(record, result.created)

    def _render(self, kind: str, src: str, parent: FileRecord, png: str, out: str) -> posters.Poster:
        """Blocking, on an executor thread: the tool's frame, then the JPEG."""
        cfg = self.config
        if kind == "thumbnail":
            posters.pdf_page(src, png, cfg.max_side, cfg.limits)
        elif kind == "cover":
            posters.audio_cover(src, parent.mimetype, png, cfg.max_side, cfg.limits)
        else:
            duration = (parent.media or {}).get("duration")
            posters.video_frame(src, parent.mimetype, png, duration, cfg.max_side, cfg.limits)
        return posters.to_jpeg(png, out, cfg.max_side, cfg.max_pixels)

    async def poster_for_page(self, record: FileRecord) -> FileRecord | None:
        """The poster for a preview page or an unfurl: waits ``page_wait`` at most, never raises a refusal."""
        if preview_kind(record) is None:
            return None
        task = asyncio.ensure_future(self.poster(record))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved even after we stop waiting
        try:
            result = await asyncio.wait_for(asyncio.shield(task), self.config.page_wait)
        except (TimeoutError, errors.Refusal):
            return None
        return result.record

"""Derivatives: crop-resized copies of images, recorded as files and found again by their parameters.

The flow for (parent, parameters):

0. The request is made effective for the parent's size (``request.effective_request``):
   without ``upscale`` never larger than the source, within the output-area limit; the
   cache key is that of the effective request.
1. Look the pair up in the derivative index; a live record there is the
   answer, with no Pillow work at all (``resize.cache_hit``).
2. Otherwise join the computation already running in this process for the same
   pair (single-flight), or start it: render in the bounded executor to a
   staging path, then hand the file to the ingest path like any upload
   (dedupe, record, ``file.derived`` event, metrics).
3. Claim the (parent, key) entry. The unique key makes a second process that
   computed the same derivative reuse the first writer's record (its own copy,
   if it made a new record, is removed again).
4. Keep the cache within its limits (``cache.DerivativeCache``: a byte budget and
   a cap per parent, least recently used derivatives evicted first).

Executor jobs are submitted for the requesting client (an opaque key the handler
passes down), so one client holding its share gets ``resize_busy`` (429) while the
others are still served.

Also here: width/height of uploaded images (an ingest enricher, header read in
the executor) and the clean-up of derivatives when their original is deleted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Hashable
from dataclasses import dataclass

from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.core.ingest import Ingestor, IngestResult
from tornado_paste.core.records import FileRecord
from tornado_paste.images import render as imaging
from tornado_paste.images.cache import DerivativeCache
from tornado_paste.images.executor import BoundedExecutor, ClientShareFull, ExecutorSaturated
from tornado_paste.images.render import ImageError, ImageTooLarge, ResizeRequest
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import DerivativeIndex, FileStore
from tornado_paste.storage.blobs.local import BlobStore

log = logging.getLogger(__name__)

_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "avif": ".avif"}


@dataclass
class Derived:
    record: FileRecord
    created: bool
    # Only when this call created the record (as with uploads).
    delete_token: str | None = None


def derived_filename(parent: FileRecord, width: int, height: int, output_format: str) -> str:
    """``<parent stem>_<w>x<h>.<ext>`` for a public parent; ``resized_<w>x<h>.<ext>`` for a private one,
    whose name must not travel with a copy that may be shared on its own."""
    stem = "resized" if parent.private else os.path.splitext(parent.filename)[0] or "image"
    return f"{stem}_{width}x{height}{_EXTENSIONS[output_format]}"


class ImageService:
    def __init__(self, store: FileStore, index: DerivativeIndex, ingestor: Ingestor, blobs: BlobStore,
                 metrics: Metrics, executor: BoundedExecutor, max_side: int, max_pixels: int,
                 max_frames: int, max_animation_pixels: int, qualities: dict[str, int] | None = None,
                 max_output_pixels: int | None = None, cache_max_bytes: int = 0, max_variants: int = 0) -> None:
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.max_output_pixels = max_output_pixels
        self.max_frames = max_frames
        self.max_animation_pixels = max_animation_pixels
        # Encoder quality per output format name (jpeg, webp, avif); the renderer's defaults otherwise.
        self.qualities = qualities or {}
        self.store = store
        self.blobs = blobs
        self.ingestor = ingestor
        self.metrics = metrics
        self.executor = executor
        self.index = index
        self.cache = DerivativeCache(index, store, ingestor, metrics, cache_max_bytes, max_variants)
        # (parent id, key) -> the computation in progress in this process.
        self._flights: dict[tuple[int, str], asyncio.Task[Derived]] = {}

    # -- requests ------------------------------------------------------------
    def parse(self, w: str | None, h: str | None, mode: str | None, fmt: str | None,
              upscale: str | None = None) -> ResizeRequest:
        """Validate client strings; BadResize (400) on anything off, counted as a refusal."""
        try:
            return imaging.parse_request(w, h, mode, fmt, self.max_side, upscale)
        except ImageError as exc:
            self.metrics.incr(f"resize.refused.{exc.code}")
            raise

    async def derive(self, parent: FileRecord, request: ResizeRequest, client: Hashable | None = None,
                     pinned: bool = False) -> Derived:
        """The derivative of ``parent`` for ``request``: found, joined, or made (its executor job on behalf
        of ``client``). ``pinned``: a derivative this call makes is kept out of cache eviction."""
        try:
            return await self._derive(parent, request, client, pinned)
        except (ImageError, ExecutorSaturated, ClientShareFull) as exc:
            self.metrics.incr(f"resize.refused.{exc.code}")
            raise

    async def _derive(self, parent: FileRecord, request: ResizeRequest, client: Hashable | None,
                      pinned: bool) -> Derived:
        assert parent.id is not None
        output_format = imaging.output_format_for(request, parent.mimetype)
        if parent.width and parent.height and parent.width * parent.height > self.max_pixels:
            # Known from the upload's header read: refuse without touching the executor.
            raise ImageTooLarge(f"the image is {parent.width}x{parent.height}; "
                                f"at most {self.max_pixels} pixels can be resized")
        request = await self._effective(parent, request, client)
        key = request.key(output_format)
        found = await self.cache.lookup(parent.id, key)
        if found is not None:
            self.metrics.incr("resize.cache_hit")
            return Derived(found, created=False)
        flight = (parent.id, key)
        task = self._flights.get(flight)
        mine = task is None
        if task is None:
            task = asyncio.ensure_future(self._make(parent, request, output_format, key, client, pinned))
            self._flights[flight] = task
            task.add_done_callback(lambda t: self._landed(flight, t))
        else:
            self.metrics.incr("resize.cache_hit")
        # shield: a client hanging up must not cancel the work others are waiting for.
        result = await asyncio.shield(task)
        return result if mine else Derived(result.record, created=False)

    async def _effective(self, parent: FileRecord, request: ResizeRequest, client: Hashable | None) -> ResizeRequest:
        """The request clamped to the parent's upright size (read from its header if the upload could not)."""
        size = (parent.width, parent.height) if parent.width and parent.height else None
        if size is None:
            size = await self.executor.run_for(client, imaging.read_size, self.blobs.path_for(parent.sha256))
        if size is None:
            return request  # unreadable: the render refuses it (and clamps, should it read after all)
        return imaging.effective_request(request, size[0], size[1], self.max_side, self.max_output_pixels)

    def _landed(self, flight: tuple[int, str], task: asyncio.Task[Derived]) -> None:
        if self._flights.get(flight) is task:
            del self._flights[flight]
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited any more is not logged as lost

    async def _make(self, parent: FileRecord, request: ResizeRequest, output_format: str, key: str,
                    client: Hashable | None = None, pinned: bool = False) -> Derived:
        assert parent.id is not None
        out_path = self.blobs.staging_path(".img")
        started = time.monotonic()
        try:
            rendered = await self.executor.run_for(
                client, imaging.render, self.blobs.path_for(parent.sha256), out_path, request, output_format,
                self.max_pixels, self.max_side, self.max_frames, self.max_animation_pixels, self.max_output_pixels,
                self.qualities.get(output_format))
        except BaseException:
            await asyncio.get_running_loop().run_in_executor(None, unlink_quietly, out_path)
            raise
        self.metrics.timing("resize.duration", (time.monotonic() - started) * 1000)
        self.metrics.incr("resize.count")
        variant = {"w": rendered.width, "h": rendered.height, "mode": request.mode, "format": output_format}
        result = await self.ingestor.ingest_file(
            out_path, derived_filename(parent, rendered.width, rendered.height, output_format),
            # A copy of a private file is private; it gets its own record (and capabilities), never
            # another file's, even when its bytes are the same (see core/ingest.py).
            private=parent.private, expires_at=parent.expires_at, parent_id=parent.id, variant=variant)
        record = result.record
        assert record.id is not None
        for _attempt in range(3):
            winner_id = await self.cache.claim(parent.id, key, record, pinned)
            if winner_id == record.id:
                await self.cache.enforce(parent.id, key)
                return Derived(record, result.created, result.delete_token)
            winner = await self.store.get_by_id(winner_id)
            if winner is not None:
                # Another process got there first: use its record, drop the copy we just made.
                if result.created:
                    await self.ingestor.remove(record)
                return Derived(winner, created=False)
            await self.index.discard(parent.id, key, winner_id)
        return Derived(record, result.created, result.delete_token)

    async def resize_upload(self, result: IngestResult, w: str | None, h: str | None, mode: str | None,
                            fmt: str | None, upscale: str | None = None, client: Hashable | None = None) -> Derived:
        """Crop-resize at upload (``POST /`` with ``w``/``h``): a refused resize refuses the whole
        upload, so a new original is removed again. A derivative it makes is pinned: the uploader holds
        its delete token and its link, so the cache never evicts it."""
        try:
            derived = await self.derive(result.record, self.parse(w, h, mode, fmt, upscale), client, pinned=True)
        except Exception:
            if result.created:
                await self.ingestor.delete(result.record, result.delete_token)
            raise
        return derived

    # -- hooks ---------------------------------------------------------------
    async def enrich(self, record: FileRecord, blob_path: str) -> None:
        """Width and height of a new image, from its header, read in the executor."""
        if record.variant and record.kind == "image":  # a derivative: its maker already knows its size
            record.width, record.height = record.variant.get("w"), record.variant.get("h")
            return
        if record.mimetype not in imaging.SOURCE_FORMATS:
            return
        try:
            size = await self.executor.run(imaging.read_size, blob_path)
        except ExecutorSaturated:
            # The upload matters more than its dimensions: store it without them.
            log.info("image executor busy; %s stored without width/height", record.filehash)
            return
        if size is not None:
            record.width, record.height = size

    async def on_event(self, event: str, record: FileRecord) -> None:
        """When an original goes, its derivatives go too (most were made by a GET: nobody holds their token)."""
        if event != "file.deleted" or record.id is None:
            return
        for child_id in await self.index.children(record.id):
            child = await self.store.get_by_id(child_id)
            if child is not None and child.parent_id == record.id:
                await self.ingestor.remove(child)
        await self.index.forget(record.id)

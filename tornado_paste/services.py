"""Everything a process needs, built once from Settings: the ONE place that wires the features.

Feature constructors take their dependencies explicitly and never import this
module; ``build_services`` decides who gets what. No HTTP here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from PIL import Image

from settings import Settings
from tornado_paste.core.blocking import BlockGuard
from tornado_paste.core.cards import Links
from tornado_paste.core.cursor import CursorCodec
from tornado_paste.core.ingest import Ingestor
from tornado_paste.core.policy import TypePolicy
from tornado_paste.core.record_cache import RecordCache
from tornado_paste.core.secret import configured_secret, existing_secret, load_or_create_secret, new_secret
from tornado_paste.core.tasks import cancel_and_wait
from tornado_paste.events.feed import EventFeed
from tornado_paste.images.executor import BoundedExecutor
from tornado_paste.images.service import ImageService
from tornado_paste.limits.controls import Limits, build_limits
from tornado_paste.limits.retention import Retention, RetentionPolicy, Sweeper
from tornado_paste.metrics.capacity import BlobUsage, register_capacity
from tornado_paste.metrics.client import Metrics
from tornado_paste.metrics.instrumentation import instrument_store
from tornado_paste.previews.highlight import TextPreviews
from tornado_paste.previews.photos import MetadataStripper
from tornado_paste.previews.sandbox import ToolLimits
from tornado_paste.previews.service import PreviewConfig, PreviewService
from tornado_paste.previews.unfurl import is_unfurler
from tornado_paste.shares.collections import Collections
from tornado_paste.shares.files import FileShares
from tornado_paste.shares.passwords import Passwords
from tornado_paste.shares.policy import SharePolicy
from tornado_paste.shares.requests import UploadRequests
from tornado_paste.shares.service import Archives, Shares
from tornado_paste.storage import Backend, StoreUnavailable, open_backend
from tornado_paste.storage.blobs import open_blob_store
from tornado_paste.storage.blobs.base import BlobStore
from tornado_paste.tus.quota import TusLimits
from tornado_paste.tus.service import TusService

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The process's services, built once by ``build_services``; handlers reach everything through it."""

    settings: Settings
    store: Backend
    blobs: BlobStore
    metrics: Metrics
    # Opaque ``before=`` cursors of the public list (never an id in the clear).
    cursors: CursorCodec
    links: Links
    ingestor: Ingestor
    images: ImageService
    tus: TusService
    events: EventFeed
    limits: Limits
    retention: Retention
    blocks: BlockGuard
    previews: PreviewService
    shares: Shares
    # File records for the read-only routes, kept briefly (core/record_cache.py).
    records: RecordCache
    # Start/stop steps of the features, in order (stopped in reverse).
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Requests between prepare and finish (graceful shutdown waits for them).
    inflight: int = 0
    # The blob-directory scan behind the blobs.* gauges (worker 0 with metrics on; else None).
    blob_usage: BlobUsage | None = None
    _steps_done: int = 0
    _reopen: asyncio.Task | None = None

    async def start(self, retries: int | None = None, backoff: float | None = None) -> None:
        """Open the store, retrying with exponential back-off (the database may still be booting).

        If it is still down after ``retries`` attempts the process starts anyway:
        every request that needs the store answers 503 + Retry-After, and a
        background task keeps trying, so the service recovers without a restart.
        """
        retries = self.settings.store_start_retries if retries is None else retries
        backoff = self.settings.store_start_backoff if backoff is None else backoff
        self.blobs.ensure_dirs()
        # Refused credentials or a missing bucket stop the start here; an unreachable store only warns.
        await self.blobs.start()
        for attempt in range(retries + 1):
            try:
                await self._open()
                return
            except StoreUnavailable as exc:
                if attempt == retries:
                    log.error("store still unavailable after %d attempts (%s); serving 503 and retrying",
                              attempt + 1, exc)
                    break
                delay = _backoff_delay(backoff, attempt)
                log.warning("store unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
        self._reopen = asyncio.get_running_loop().create_task(self._keep_opening(backoff, retries + 1))

    async def _open(self) -> None:
        await self.store.open()
        # Each step runs once, even when a later one fails and the whole open is retried.
        while self._steps_done < len(self.on_start):
            await self.on_start[self._steps_done]()
            self._steps_done += 1

    async def _keep_opening(self, backoff: float, attempt: int) -> None:
        while True:
            await asyncio.sleep(_backoff_delay(backoff, attempt))
            attempt += 1
            try:
                await self._open()
            except StoreUnavailable as exc:
                log.warning("store still unavailable: %s", exc)
                continue
            except Exception:
                log.exception("start-up step failed")
                continue
            log.info("store is back after %d attempts", attempt)
            return

    async def stop(self) -> None:
        reopen, self._reopen = self._reopen, None
        await cancel_and_wait(reopen)
        for step in reversed(self.on_stop):
            try:
                await step()
            except Exception:
                log.exception("stop step failed")
        await self.store.close()
        await self.blobs.stop()


def build_services(settings: Settings, store: Backend | None = None, worker: int = 0) -> Services:
    """Wire the core together: the one place that knows every feature. ``store`` lets tests inject a backend.

    ``worker`` is the process's index under ``--processes`` (its per-process gauges carry it).
    """
    s = settings
    blobs = build_blob_store(s)
    blobs.ensure_dirs()
    store = store or open_backend(s.sqlite_path, s.mongo_url, s.mongo_database, s.store_timeout)
    secret = configured_secret(s.secret, s.secret_file)
    # With MongoDB and no secret of the operator's, the one kept there: keyed at start-up (shared_secret_step).
    shared = secret is None and bool(s.mongo_url)
    if not shared:
        secret = secret or load_or_create_secret(s.data_dir)
    cursors = CursorCodec(secret)
    metrics = Metrics.from_settings(s, worker)
    if metrics.enabled:
        instrument_store(store, metrics)
    ingestor = Ingestor(store, blobs, TypePolicy(s.allow_types, s.deny_types), metrics, s.max_upload_size,
                        s.sniff_bytes)
    links = Links(s.public_base_url, s.content_base_url)
    images = build_image_service(s, store, ingestor, blobs, metrics)
    retention = build_retention(s, store, ingestor, blobs, metrics)
    tus_limits = TusLimits(s.tus_max_uploads_per_client, s.tus_max_client_bytes, s.tus_max_uploads,
                           s.tus_max_total_bytes, s.tus_max_metadata_size, s.tus_max_filename_bytes)
    tus = TusService(store.tus_state, ingestor, metrics, s.data_dir, expiry=s.tus_expiry, lease=s.tus_lock_lease,
                     sweep_interval=s.tus_sweep_interval, fsync_patches=s.tus_fsync_patches,
                     io_pool=blobs.io_pool, retention=retention, limits=tus_limits,
                     remote=blobs.resumable() if hasattr(blobs, "resumable") else None)
    events = EventFeed(store.event_log, store, links, metrics, s)
    shares = build_shares(s, store, ingestor, links, blobs, retention, secret)
    shares.collections.publishers.append(events.record_collection)
    blocks = BlockGuard(store.blocklist, s.blocklist_cache_ttl)
    records = RecordCache(store, s.record_cache_ttl, s.record_cache_entries)
    records.track_writes(store)  # every write of this process drops what it changes
    previews = build_preview_service(s, store, ingestor, blobs, metrics, images.executor, images.cache.enforce)
    services = Services(settings=s, store=store, blobs=blobs, metrics=metrics, cursors=cursors, links=links,
                        ingestor=ingestor, images=images, tus=tus, events=events, limits=build_limits(s),
                        retention=retention, blocks=blocks, previews=previews, shares=shares, records=records)
    # Uploads ask the store itself: a block stops new copies at once, in every process.
    ingestor.content_checks.append(lambda sha256: blocks.check(sha256, fresh=True))
    ingestor.transforms.append(MetadataStripper(s.strip_metadata, blobs, metrics))
    ingestor.enrichers.append(images.enrich)
    ingestor.enrichers.append(previews.enrich)
    ingestor.listeners.append(images.on_event)
    ingestor.listeners.append(events.on_ingest)
    ingestor.listeners.append(shares.collections.on_file_event)
    # Metrics first in, last out: the final stop flushes what the other stop steps recorded.
    steps = [metrics.start, tus.start, events.start, retention.sweeper.start, shares.start]
    if shared:
        steps.insert(1, shared_secret_step(store, [cursors, shares.passwords], s.data_dir))
    services.on_start[:] = steps
    services.on_stop[:] = [metrics.stop, images.executor.aclose, tus.stop, events.stop, retention.sweeper.stop,
                           shares.stop]
    if metrics.enabled:
        sample_levels(services, worker)
    return services


def sample_levels(services: Services, worker: int) -> None:
    """Every level this process holds, sampled once a second as a per-process gauge (see metrics.client)."""
    metrics, s = services.metrics, services.settings
    metrics.sample("http.inflight", lambda: services.inflight)
    metrics.sample("ws.subscribers", lambda: services.events.counts["ws"])
    metrics.sample("longpoll.subscribers", lambda: services.events.counts["longpoll"])
    metrics.sample("executor.queue_depth", lambda: services.images.executor.queue_depth)
    # A store-wide total each process last saw: the dashboard takes the max, not the sum.
    metrics.sample("resize.cache_bytes", lambda: services.images.cache.last_total_bytes)
    metrics.sample("upload.open", lambda: services.limits.uploads.inflight_uploads)
    metrics.sample("upload.reserved_bytes", lambda: services.limits.uploads.inflight_bytes)
    # One scan of the blob directory per host is enough: worker 0's (every worker sees the same files).
    # An object store (S3) has no directory to scan: its bucket's size is the provider's metric.
    local = services.blobs.kind == "local"
    usage = BlobUsage(services.blobs.blob_dir, s.metrics_blob_scan_interval) if worker == 0 and local else None
    register_capacity(metrics, s.data_dir, usage)
    services.blob_usage = usage
    if usage is not None:
        services.on_start.append(usage.start)
        services.on_stop.append(usage.stop)


def build_image_service(settings: Settings, store: Backend, ingestor: Ingestor, blobs: BlobStore,
                        metrics: Metrics) -> ImageService:
    """The crop-resize service with its own bounded executor (tests build a second one to race the first)."""
    # Pillow refuses outright above twice its own (process-wide) guard; an operator who raises our
    # limit above Pillow's default must raise Pillow's with it. Lowering it is our explicit check's job.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, settings.resize_max_source_pixels)
    s = settings
    executor = BoundedExecutor(s.resize_workers, s.resize_max_pending, metrics, max_per_client=s.resize_max_per_client)
    return ImageService(store, store.derivatives, ingestor, blobs, metrics, executor, s.resize_max_side,
                        s.resize_max_source_pixels, s.resize_max_frames, s.resize_max_animation_pixels,
                        {"jpeg": s.resize_quality_jpeg, "webp": s.resize_quality_webp, "avif": s.resize_quality_avif},
                        max_output_pixels=s.resize_max_output_pixels, cache_max_bytes=s.resize_cache_max_bytes,
                        max_variants=s.resize_max_variants)


def build_preview_service(settings: Settings, store: Backend, ingestor: Ingestor, blobs: BlobStore,
                          metrics: Metrics, executor: BoundedExecutor,
                          enforce_budget: Callable[[int, str], Awaitable[None]] | None = None) -> PreviewService:
    """Posters, thumbnails and cover art: the images' bounded executor and pixel limit, the tools' own limits."""
    s = settings
    config = PreviewConfig(max_side=s.preview_max_side, max_pixels=s.resize_max_source_pixels,
                           max_page_points=s.preview_pdf_max_page_points, page_wait=s.preview_page_wait,
                           limits=ToolLimits(timeout=s.preview_tool_timeout, memory=s.preview_tool_memory_bytes))
    text = TextPreviews(blobs, executor, metrics, s.highlight_max_bytes, s.highlight_cache_bytes)
    return PreviewService(store, store.derivatives, ingestor, blobs, metrics, executor, config, text, enforce_budget)


def build_retention(settings: Settings, store: Backend, ingestor: Ingestor, blobs: BlobStore,
                    metrics: Metrics) -> Retention:
    s = settings
    policy = RetentionPolicy(s.expires_default, s.retention_min_age, s.retention_max_age, s.max_upload_size,
                             s.expires_max)
    sweeper = Sweeper(store, store.expiry, ingestor, blobs, metrics, s.retention_sweep_interval, s.retention_grace,
                      s.retention_orphan_interval)
    return Retention(policy, store.expiry, sweeper)


def build_shares(settings: Settings, store: Backend, ingestor: Ingestor, links: Links, blobs: BlobStore,
                 retention: Retention, secret: bytes | None) -> Shares:
    """Collections, upload requests, manage links, download limits and passwords (tornado_paste/shares)."""
    s = settings
    policy = SharePolicy(retention.policy, s.share_passwords_required, s.share_max_downloads)
    passwords = Passwords(secret, blobs.io_pool, s.share_unlock_ttl, s.share_attempts_per_client,
                          s.share_attempts_per_target)
    # The previews' unfurler check: a link preview never uses up a download.
    files = FileShares(store.controls, store.expiry, ingestor, policy, passwords, s.share_burn_grace,
                       unfurler=is_unfurler)
    collections = Collections(store, store.collections, ingestor, links, policy, passwords, s.collection_max_files,
                              s.share_burn_grace)
    requests = UploadRequests(collections, store.collections, s.max_upload_size)
    # Zips stream their entries through the blob-store interface (local blobs and S3 alike).
    archives = Archives(collections, store.controls, blobs.stream, blobs.io_pool)
    return Shares(files, collections, requests, passwords, policy, archives, s.retention_sweep_interval)


def build_blob_store(settings: Settings) -> BlobStore:
    s = settings
    s3 = {"bucket": s.s3_bucket, "endpoint_url": s.s3_endpoint_url, "region": s.s3_region, "prefix": s.s3_prefix,
          "access_key": s.s3_access_key, "secret_key": s.s3_secret_key, "part_size": s.s3_part_size,
          "upload_concurrency": s.s3_upload_concurrency, "connect_timeout": s.s3_connect_timeout,
          "read_timeout": s.s3_read_timeout, "max_attempts": s.s3_max_attempts,
          "addressing_style": s.s3_addressing_style, "presign_expiry": s.s3_presign_expiry}
    return open_blob_store(s.blob_store, s.data_dir, s3, sweep_interval=s.retention_orphan_interval,
                           stale_age=s.stale_tmp_age)


def shared_secret_step(store: Backend, keyed: list[CursorCodec | Passwords],
                       data_dir: str) -> Callable[[], Awaitable[None]]:
    """Key the list cursors and unlock grants with the secret kept in the metadata store (seeded from this
    data dir's, if any)."""

    async def load() -> None:
        secret = await store.shared_secret(existing_secret(data_dir) or new_secret())
        if secret is None:
            secret = load_or_create_secret(data_dir)
        for user in keyed:
            user.rekey(secret)

    return load


def _backoff_delay(first: float, attempt: int) -> float:
    return min(30.0, first * 2**attempt)

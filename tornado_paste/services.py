"""Everything a process needs, built once from Settings (no HTTP here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from settings import Settings
from tornado_paste import events, images, instrumentation, tus
from tornado_paste.blobs import BlobStore
from tornado_paste.ingest import Ingestor
from tornado_paste.metrics import Metrics
from tornado_paste.models import Links
from tornado_paste.policy import TypePolicy
from tornado_paste.secret import load_or_create_secret
from tornado_paste.shortcode import Shortener
from tornado_paste.store import MetadataStore, StoreUnavailable, open_store
from tornado_paste.tasks import cancel_and_wait

if TYPE_CHECKING:
    from tornado_paste.limits import Limits
    from tornado_paste.retention import Retention

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: MetadataStore
    blobs: BlobStore
    metrics: Metrics
    shortener: Shortener
    links: Links
    ingestor: Ingestor
    # Extra start/stop steps that features register (event readers, sweepers...).
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Requests between prepare and finish (graceful shutdown waits for them).
    inflight: int = 0
    # Crop-resize and derivatives (tornado_paste.images.ImageService), set by images.install.
    images: Any = None
    # The tus resumable-upload service (tornado_paste.tus.install).
    tus: Any = None
    # The real-time event feed (tornado_paste.events.EventFeed), set by events.install.
    events: Any = None

    # Abuse controls and retention (reliability issue), set by build_services.
    limits: Limits | None = None
    retention: Retention | None = None
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


def build_services(settings: Settings, store: MetadataStore | None = None) -> Services:
    """Wire the core together. ``store`` lets tests inject a backend."""
    blobs = BlobStore(settings.data_dir)
    blobs.ensure_dirs()
    secret = load_or_create_secret(settings.data_dir)
    shortener = Shortener(secret)
    metrics = Metrics.from_settings(settings)
    store = store or open_store(settings.sqlite_path, settings.mongo_url, settings.mongo_database,
                                settings.store_timeout)
    ingestor = Ingestor(store, blobs, TypePolicy(settings.allow_types, settings.deny_types), metrics,
                        settings.max_upload_size, settings.sniff_bytes)
    services = Services(settings=settings, store=store, blobs=blobs, metrics=metrics, shortener=shortener,
                        links=Links(settings.public_base_url, shortener, settings.content_base_url),
                        ingestor=ingestor)
    instrumentation.install(services)
    images.install(services)
    tus.install(services)
    events.install(services)
    from tornado_paste import limits, retention  # they import this module's types

    services.limits = limits.build_limits(settings)
    services.retention = retention.install(services)
    return services


def _backoff_delay(first: float, attempt: int) -> float:
    return min(30.0, first * 2**attempt)

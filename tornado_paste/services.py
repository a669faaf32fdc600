"""Everything a process needs, built once from Settings (no HTTP here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from settings import Settings
from tornado_paste import images, tus
from tornado_paste.blobs import BlobStore
from tornado_paste.ingest import Ingestor
from tornado_paste.metrics import Metrics
from tornado_paste.models import Links
from tornado_paste.policy import TypePolicy
from tornado_paste.secret import load_or_create_secret
from tornado_paste.shortcode import Shortener
from tornado_paste.store import MetadataStore, StoreUnavailable, open_store

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

    async def start(self, retries: int = 5, backoff: float = 0.5) -> None:
        """Open the store (retrying with backoff: the database may still be booting)."""
        self.blobs.ensure_dirs()
        for attempt in range(retries + 1):
            try:
                await self.store.open()
                break
            except StoreUnavailable as exc:
                if attempt == retries:
                    raise
                delay = backoff * 2**attempt
                log.warning("store unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
        for step in self.on_start:
            await step()

    async def stop(self) -> None:
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
    metrics = Metrics(settings.statsd_host, settings.statsd_port, settings.statsd_prefix)
    store = store or open_store(settings.sqlite_path, settings.mongo_url, settings.mongo_database,
                                settings.store_timeout)
    ingestor = Ingestor(store, blobs, TypePolicy(settings.allow_types, settings.deny_types), metrics,
                        settings.max_upload_size, settings.sniff_bytes)
    services = Services(settings=settings, store=store, blobs=blobs, metrics=metrics, shortener=shortener,
                        links=Links(settings.public_base_url, shortener), ingestor=ingestor)
    images.install(services)
    tus.install(services)
    return services

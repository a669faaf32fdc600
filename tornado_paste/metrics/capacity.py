"""Capacity levels a process reports every second: free disk, blob bytes, file descriptors, liveness.

``register_capacity`` adds them as samplers (``Metrics.sample``), so they are per-process gauges
like every other level: ``proc.<host>.<worker>.disk.free_bytes`` and so on. The dashboard takes
the minimum of a host's processes for free disk (they share the data dir) and the maximum for
blob bytes (only worker 0 scans), and sums file descriptors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections.abc import Callable

from tornado_paste.core.tasks import Periodic, cancel_and_wait
from tornado_paste.metrics.client import Metrics

log = logging.getLogger(__name__)

FD_DIR = "/proc/self/fd"


def disk_free(path: str) -> tuple[int, float]:
    """(bytes an unprivileged writer may still use, that as a percentage of the filesystem) under ``path``."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    total = st.f_blocks * st.f_frsize
    return free, (100.0 * free / total if total else 0.0)


def open_fds() -> int:
    """File descriptors this process has open (Linux: the entries of /proc/self/fd, minus the listing's own)."""
    return len(os.listdir(FD_DIR)) - 1


def fd_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


class BlobUsage:
    """Bytes and count of the stored blobs, from a scan of ``blob_dir`` off the loop every ``interval`` s.

    A scan is a walk of the two-level fan-out (``ab/cd/<sha256>``), one ``stat`` per blob; it runs in
    a thread, first at start and then every ``interval`` seconds, and the samplers report the last
    result every second. Derivatives are blobs too, so they are in these figures.
    """

    def __init__(self, blob_dir: str, interval: float) -> None:
        self.blob_dir = blob_dir
        self.interval = interval
        self.bytes = 0
        self.count = 0
        self.scanned = False
        self._first: asyncio.Task[None] | None = None
        self._periodic = Periodic("blob usage scan", interval, self.refresh, jitter=0.1)

    def scan(self) -> tuple[int, int]:
        total = count = 0
        for dirpath, _dirs, files in os.walk(self.blob_dir):
            for name in files:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:  # removed while we walked
                    continue
                count += 1
        return total, count

    async def refresh(self) -> None:
        self.bytes, self.count = await asyncio.to_thread(self.scan)
        self.scanned = True

    async def start(self) -> None:
        if self.interval <= 0:
            return
        self._first = asyncio.get_running_loop().create_task(self._first_scan(), name="blob usage first scan")
        self._periodic.start()

    async def _first_scan(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.exception("blob usage scan failed")

    async def stop(self) -> None:
        first, self._first = self._first, None
        await cancel_and_wait(first)
        await self._periodic.stop()


def register_capacity(metrics: Metrics, data_dir: str, blobs: BlobUsage | None) -> None:
    """Sample the capacity levels: liveness, fds, free disk of ``data_dir``, blob usage (if scanned here)."""
    metrics.sample("up", lambda: 1)
    if os.path.isdir(FD_DIR):
        metrics.sample("fds.open", open_fds)
    metrics.sample("fds.limit", fd_limit)
    metrics.sample("disk.free_bytes", lambda: disk_free(data_dir)[0])
    metrics.sample("disk.free_percent", lambda: round(disk_free(data_dir)[1], 3))
    if blobs is not None:
        metrics.sample("blobs.bytes", _when_scanned(blobs, lambda: blobs.bytes))
        metrics.sample("blobs.count", _when_scanned(blobs, lambda: blobs.count))


def _when_scanned(blobs: BlobUsage, read: Callable[[], int]) -> Callable[[], int]:
    def value() -> int:
        if not blobs.scanned:
            raise LookupError("no scan finished yet")  # the sampler skips it: no made-up zero
        return read()

    return value

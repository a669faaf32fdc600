"""Background asyncio tasks: one way to run a periodic job, one way to stop a task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from tornado_paste.errors import Unavailable

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel a background task and wait until it has really ended (its finally blocks ran)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Periodic:
    """Run ``job`` every ``interval`` seconds (with jitter) until stopped; a failing run is logged, not fatal.

    Every background loop of the service (sweepers, flushers) is one of these, so
    each starts, stops and survives errors the same way. ``jitter`` spreads the
    runs of several processes so they do not work in lock-step.
    """

    def __init__(self, name: str, interval: float, job: Callable[[], Awaitable[object]], jitter: float = 0.0) -> None:
        self.name = name
        self.interval = interval
        self.job = job
        self.jitter = jitter
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        never = asyncio.Event()  # waited on with a timeout: a timer, cancelled at once by stop()
        while True:
            spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(never.wait(), self.interval * spread)
            try:
                await self.job()
            except Unavailable as exc:  # the store is down: the next run tries again
                log.warning("%s skipped: %s", self.name, exc)
            except Exception:
                log.exception("%s failed", self.name)

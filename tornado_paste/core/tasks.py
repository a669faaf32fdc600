"""Background asyncio tasks: one way to run a periodic job, one way to stop a task."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from tornado_paste.errors import Unavailable

log = logging.getLogger(__name__)


# How long a cancelled task gets before it is cancelled again (see cancel_and_wait).
RECANCEL_AFTER = 1.0


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel a background task and wait until it has really ended (its finally blocks ran).

    Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives as its inner wait
    completes (the loop then goes on as if nothing happened: a shutdown hung on it in the test suite),
    so a task still running a moment after the cancel is cancelled again, until it ends.
    """
    if task is None:
        return
    task.cancel()
    while not task.done():
        done, _pending = await asyncio.wait({task}, timeout=RECANCEL_AFTER)
        if not done:
            task.cancel()
    if not task.cancelled():
        task.result()  # a task that failed on its own: its error, as awaiting it would have raised


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
        while True:
            spread = random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
            await asyncio.sleep(self.interval * spread)  # cancelled at once by stop()
            try:
                await self.job()
            except Unavailable as exc:  # the store is down: the next run tries again
                log.warning("%s skipped: %s", self.name, exc)
            except Exception:
                log.exception("%s failed", self.name)

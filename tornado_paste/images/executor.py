"""A bounded executor for CPU work (images): fixed threads, a bounded wait queue, fail fast when full.

``loop.run_in_executor`` with a plain ThreadPoolExecutor queues without bound:
under load every request would wait (and hold its memory) behind all the
others. Here a job that finds ``workers + max_pending`` jobs already
outstanding is refused at once with ``ExecutorSaturated`` (the handlers answer
503 + Retry-After), so the client can back off and memory stays bounded.

Threads, not processes: Pillow releases the GIL while it decodes, resamples
and encodes to a file, so threads run image work in parallel without pickling
images across process boundaries.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tornado_paste import errors
from tornado_paste.metrics.client import Metrics

T = TypeVar("T")


# Workers run at a lower CPU priority than the event loop thread, so that when the cores are
# busy the scheduler hands the loop its slice first (it needs microseconds; image jobs need
# tens of milliseconds and barely notice). Linux applies setpriority() to a single thread id.
WORKER_NICE = 10


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
    except (OSError, AttributeError):  # not Linux, or not allowed: run at normal priority
        pass


class ExecutorSaturated(errors.Unavailable):
    """Every worker is busy and the wait queue is full; try again shortly."""

    code = "busy"

    def __init__(self, message: str = "the image workers are busy; try again shortly") -> None:
        super().__init__(message)


class BoundedExecutor:
    def __init__(self, workers: int = 0, max_pending: int = 16, metrics: Metrics | None = None,
                 name: str = "images") -> None:
        self.workers = workers or os.cpu_count() or 1
        self.max_pending = max_pending
        self.metrics = metrics or Metrics()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=name,
                                        initializer=_lower_priority)
        # Submitted and not yet finished. Decremented from the worker thread (the job may
        # outlive a cancelled request), hence the lock.
        self._outstanding = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def outstanding(self) -> int:
        return self._outstanding

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for a thread (outstanding beyond the running ones)."""
        return max(0, self._outstanding - self.workers)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker; raise ExecutorSaturated instead of queuing unboundedly."""
        if self._closed:
            raise ExecutorSaturated("the image workers are shutting down")
        with self._lock:
            if self._outstanding >= self.workers + self.max_pending:
                saturated = True
            else:
                saturated = False
                self._outstanding += 1
        if saturated:
            self.metrics.incr("executor.rejected")
            raise ExecutorSaturated()
        try:
            future = self._pool.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _f: self._release())
        return await asyncio.wrap_future(future)

    def _release(self) -> None:
        with self._lock:
            self._outstanding -= 1

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop taking jobs and wait for running ones (off the loop)."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self.shutdown, True)

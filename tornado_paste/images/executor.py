"""A bounded executor for CPU work (images): fixed threads, a bounded wait queue, fail fast when full.

``loop.run_in_executor`` with a plain ThreadPoolExecutor queues without bound:
under load every request would wait (and hold its memory) behind all the
others. Here a job that finds ``workers + max_pending`` jobs already
outstanding is refused at once with ``ExecutorSaturated`` (the handlers answer
503 + Retry-After), so the client can back off and memory stays bounded.

Fair shares: a job may name who it is for (``run_for(client, ...)``, any hashable
key; the executor knows nothing of what it means). With ``max_per_client`` set,
a client already holding that many running + waiting jobs is refused with
``ClientShareFull`` (429 + Retry-After) while the others' jobs still get in,
so one client cannot take every worker and queue slot and starve the rest.

Threads, not processes: Pillow releases the GIL while it decodes, resamples
and encodes to a file, so threads run image work in parallel without pickling
images across process boundaries.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable, Hashable
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


class ClientShareFull(errors.TooMany):
    """This client already has its share of the workers and the queue; the others are still served."""

    code = "resize_busy"
    reason = "concurrency"

    def __init__(self, share: int) -> None:
        super().__init__(f"you already have {share} image jobs running or waiting; retry when one is done")


class BoundedExecutor:
    def __init__(self, workers: int = 0, max_pending: int = 16, metrics: Metrics | None = None,
                 name: str = "images", max_per_client: int = 0) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.max_pending = max_pending
        # Running + waiting jobs one client may hold (0: no share, only the global bound).
        self.max_per_client = max_per_client
        self.metrics = metrics or Metrics()
        # client -> its jobs submitted and not yet finished (only clients with some).
        self._per_client: dict[Hashable, int] = {}
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

    def jobs_of(self, client: Hashable) -> int:
        """Running + waiting jobs submitted for ``client``."""
        return self._per_client.get(client, 0)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker; raise ExecutorSaturated instead of queuing unboundedly."""
        return await self.run_for(None, fn, *args, **kwargs)

    async def run_for(self, client: Hashable | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``run`` on behalf of ``client`` (None: nobody in particular, bound only by the global limit).

        ClientShareFull when ``client`` already holds ``max_per_client`` jobs, else ExecutorSaturated when full.
        """
        if self._closed:
            raise ExecutorSaturated("the image workers are shutting down")
        shared = client is not None and self.max_per_client > 0
        with self._lock:
            if shared and self._per_client.get(client, 0) >= self.max_per_client:
                refused: errors.Refusal | None = ClientShareFull(self.max_per_client)
            elif self._outstanding >= self.workers + self.max_pending:
                refused = ExecutorSaturated()
            else:
                refused = None
                self._outstanding += 1
                if shared:
                    self._per_client[client] = self._per_client.get(client, 0) + 1
        if refused is not None:
            self.metrics.incr("executor.client_rejected" if isinstance(refused, ClientShareFull)
                              else "executor.rejected")
            raise refused
        owner = client if shared else None
        try:
            future = self._pool.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._release(owner)
            raise
        future.add_done_callback(lambda _f: self._release(owner))
        return await asyncio.wrap_future(future)

    def _release(self, client: Hashable | None = None) -> None:
        with self._lock:
            self._outstanding -= 1
            if client is not None:
                left = self._per_client.get(client, 1) - 1
                if left > 0:
                    self._per_client[client] = left
                else:
                    self._per_client.pop(client, None)

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)

    async def aclose(self) -> None:
        """Stop taking jobs and wait for running ones (off the loop)."""
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self.shutdown, True)

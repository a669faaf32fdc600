"""The SQLite store's one thread: calls queued from the event loop run there in order, in batches.

Each ``run_in_executor`` hop costs the loop an executor submit, two chained futures and a self-pipe
wake-up (~60 µs of CPU, a tenth of a small upload's loop time when every upload makes five store
calls). Under load many calls are waiting at once, so the thread takes all that are queued, runs
them one after the other (each its own statement or transaction, exactly as before) and hands the
results back to the loop with one wake-up for the batch.

Calls submitted with ``group=True`` (single-row writes: a file record, an event) that stand next to
each other in a batch are handed to the owner's group runner together, which commits them in one
transaction (SQLite's WAL then writes each shared index page once, not once per row). Their callers
hear back only after that commit, so nothing is reported stored before it is.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
# Results go back after at most this many calls, so a long queue does not hold the first answers.
MAX_BATCH = 32

_Call = tuple[Callable[[], Any], asyncio.Future, bool]
# (ok, value): a result, or the exception to raise in the caller.
Outcome = tuple[bool, Any]
GroupRunner = Callable[[list[Callable[[], Any]]], list[Outcome]]


class SerialThread:
    """One worker thread running queued callables in FIFO order, resolved per batch."""

    def __init__(self, name: str, group_runner: GroupRunner | None = None) -> None:
        self._group_runner = group_runner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queue: deque[_Call] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def submit(self, fn: Callable[[], T], group: bool = False) -> asyncio.Future[T]:
        """Queue ``fn``; the future resolves on the calling loop once it ran on the thread (with
        ``group``, once the transaction it joined committed)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._queue.append((fn, future, group and self._group_runner is not None))
            if self._scheduled:
                return future
            self._scheduled = True
        self._executor.submit(self._drain)
        return future

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def _run_group(self, calls: list[Callable[[], Any]]) -> list[Outcome]:
        assert self._group_runner is not None
        try:
            return self._group_runner(calls)
        except BaseException as exc:  # the runner itself failed: each caller hears it, the thread goes on
            return [(False, exc)] * len(calls)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._scheduled = False
                    return
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            done: list[tuple[asyncio.Future, bool, Any]] = []
            # Runs of grouped writes go to the group runner together; every other call runs alone.
            for grouped, run in itertools.groupby(batch, key=lambda call: call[2]):
                calls = list(run)
                outcomes = self._run_group([fn for fn, _, _ in calls]) if grouped else \
                    [outcome_of(fn) for fn, _, _ in calls]
                done.extend((future, *outcome) for (_, future, _), outcome in zip(calls, outcomes, strict=True))
            loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, bool, Any]]] = {}
            for item in done:
                loops.setdefault(item[0].get_loop(), []).append(item)
            for loop, items in loops.items():
                try:
                    loop.call_soon_threadsafe(_settle, items)
                except RuntimeError:
                    pass  # that loop is closed: nobody waits for these answers any more


def outcome_of(fn: Callable[[], Any]) -> Outcome:
    """Run ``fn``; its result, or the exception its caller is to see, instead of raising."""
    try:
        return True, fn()
    except BaseException as exc:  # handed to the caller, like run_in_executor does
        return False, exc


def _settle(items: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in items:
        if future.cancelled():
            continue  # the caller gave up waiting; the call itself ran (as with run_in_executor)
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

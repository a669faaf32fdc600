"""The bounded executor: runs off the loop, refuses at once when full, counts and gauges."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tornado_paste.images.executor import BoundedExecutor, ExecutorSaturated
from tornado_paste.metrics.client import Metrics


class RecordingMetrics(Metrics):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.gauges: list[tuple[str, float]] = []

    def incr(self, name: str, count: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    def gauge(self, name: str, value: float, delta: bool = False) -> None:
        self.gauges.append((name, value))


async def wait_until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.mark.gen_test
async def test_full_executor_refuses_at_once_and_recovers():
    metrics = RecordingMetrics()
    executor = BoundedExecutor(workers=1, max_pending=1, metrics=metrics)
    gate = threading.Event()
    try:
        running = asyncio.ensure_future(executor.run(gate.wait, 10))
        queued = asyncio.ensure_future(executor.run(threading.get_ident))
        await wait_until(lambda: executor.outstanding == 2)
        assert executor.queue_depth == 1
        with pytest.raises(ExecutorSaturated):
            await executor.run(threading.get_ident)
        assert metrics.counts["executor.rejected"] == 1
        gate.set()
        assert await running is True
        assert await queued != threading.get_ident()  # ran on a worker thread, not the loop's
        assert executor.outstanding == 0
        assert await executor.run(lambda: 42) == 42
        assert executor.queue_depth == 0  # sampled as a per-process gauge by services.sample_levels
    finally:
        gate.set()
        await executor.aclose()


@pytest.mark.gen_test
async def test_errors_propagate_and_free_the_slot():
    executor = BoundedExecutor(workers=1, max_pending=0)
    try:
        for _ in range(3):
            with pytest.raises(ZeroDivisionError):
                await executor.run(lambda: 1 / 0)
        assert executor.outstanding == 0
    finally:
        await executor.aclose()


def test_default_size_is_the_cpu_count():
    import os

    executor = BoundedExecutor(workers=0)
    try:
        assert executor.workers == (os.cpu_count() or 1)
    finally:
        executor.shutdown()


@pytest.mark.gen_test
async def test_a_client_holding_its_share_is_refused_while_others_get_in():
    from tornado_paste.images.executor import ClientShareFull

    metrics = RecordingMetrics()
    executor = BoundedExecutor(workers=3, max_pending=4, metrics=metrics, max_per_client=2)
    gate = threading.Event()
    try:
        mine = [asyncio.ensure_future(executor.run_for("a", gate.wait, 10)) for _ in range(2)]
        await wait_until(lambda: executor.jobs_of("a") == 2)
        with pytest.raises(ClientShareFull) as refused:
            await executor.run_for("a", threading.get_ident)
        assert refused.value.code == "resize_busy" and refused.value.retry_after
        assert metrics.counts == {"executor.client_rejected": 1}
        # Another client, and jobs for nobody in particular, still get in.
        assert await executor.run(lambda: 7) == 7
        other = asyncio.ensure_future(executor.run_for("b", gate.wait, 10))
        await wait_until(lambda: executor.jobs_of("b") == 1)
        gate.set()
        assert await asyncio.gather(*mine, other) == [True, True, True]
        assert executor.jobs_of("a") == executor.jobs_of("b") == executor.outstanding == 0
        assert await executor.run_for("a", lambda: 1) == 1  # the share is back
    finally:
        gate.set()
        await executor.aclose()

"""cancel_and_wait ends a task even when its first cancellation is swallowed (Python 3.11's
asyncio.wait_for can lose one that arrives as its inner wait completes)."""

from __future__ import annotations

import asyncio

import pytest

from tornado_paste.core import tasks


@pytest.mark.gen_test
async def test_a_swallowed_cancellation_is_asked_again(monkeypatch):
    monkeypatch.setattr(tasks, "RECANCEL_AFTER", 0.01)
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not swallowed:  # the first cancellation is lost, as wait_for's race loses it
                    swallowed.append(True)
                    asyncio.current_task().uncancel()
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await tasks.cancel_and_wait(task)
    assert swallowed == [True] and task.cancelled()


@pytest.mark.gen_test
async def test_a_task_that_failed_on_its_own_raises_its_error():
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(ValueError):
        await tasks.cancel_and_wait(task)

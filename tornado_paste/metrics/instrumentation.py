"""Store timers: every file-store operation timed and its failures counted.

HTTP metrics live in ``handlers/base.py`` (the only place that sees a request finish); upload
metrics in ``ingest.py`` (the one finish path). This module covers what has no single call site.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import DuplicateContent, FileStore

# The FileStore interface minus connection management: one timer and one error counter each.
STORE_OPERATIONS = tuple(sorted(name for name in FileStore.__abstractmethods__ if name not in ("open", "close")))


def instrument_store(store: FileStore, metrics: Metrics) -> FileStore:
    """Time every store operation (``store.<op>.time``) and count failures (``store.<op>.errors``).

    The methods are wrapped on the instance rather than by a proxy object, so the store keeps
    its class and its backend-specific attributes (``SQLiteStore.run``, ``MongoStore.db``),
    which features use for their own tables; everyone holding the store sees the timed methods.
    """
    if getattr(store, "_metered", False):
        return store
    for name in STORE_OPERATIONS:
        setattr(store, name, _timed(getattr(store, name), f"store.{name}", metrics))
    store._metered = True  # type: ignore[attr-defined]
    return store


def _timed(method: Callable[..., Awaitable[Any]], stem: str, metrics: Metrics) -> Callable[..., Awaitable[Any]]:
    time_name, error_name = f"{stem}.time", f"{stem}.errors"

    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        except DuplicateContent:
            raise  # a lost dedupe race is an answer, not a store failure
        except Exception:
            metrics.incr(error_name)
            raise
        finally:
            metrics.timing(time_name, (time.perf_counter() - started) * 1000)

    return timed

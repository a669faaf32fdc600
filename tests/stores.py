"""Backends for contract tests: SQLite (real file), MongoDB (mock; real when configured), memory."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tornado_paste.storage.base import Backend
from tornado_paste.storage.memory import MemoryStore
from tornado_paste.storage.mongo.store import MongoStore
from tornado_paste.storage.sqlite.store import SQLiteStore

REAL_MONGO_URL = os.environ.get("TORNADO_PASTE_TEST_MONGO_URL", "")
BACKENDS = ["sqlite", "mongo-mock"] + (["mongo-real"] if REAL_MONGO_URL else [])
# Every backend the storage contract suite runs on.
ALL_BACKENDS = [*BACKENDS, "memory"]


def make_store(kind: str, tmp_path: Path) -> Backend:
    if kind == "sqlite":
        return SQLiteStore(str(tmp_path / "contract.sqlite3"))
    if kind == "mongo-mock":
        from pymongo_async_mock import AsyncMongoMockClient

        return MongoStore(AsyncMongoMockClient(), "contract_" + uuid.uuid4().hex[:8])
    if kind == "memory":
        return MemoryStore()
    if kind == "mongo-real":
        return MongoStore.from_url(REAL_MONGO_URL, "tp_test_" + uuid.uuid4().hex[:8])
    raise ValueError(kind)

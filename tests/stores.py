"""Store backends for contract tests: SQLite (real file), MongoDB (mock; real when configured)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tornado_paste.storage.base import MetadataStore
from tornado_paste.storage.mongo.files import MongoStore
from tornado_paste.storage.sqlite.files import SQLiteStore

REAL_MONGO_URL = os.environ.get("TORNADO_PASTE_TEST_MONGO_URL", "")
BACKENDS = ["sqlite", "mongo-mock"] + (["mongo-real"] if REAL_MONGO_URL else [])


def make_store(kind: str, tmp_path: Path) -> MetadataStore:
    if kind == "sqlite":
        return SQLiteStore(str(tmp_path / "contract.sqlite3"))
    if kind == "mongo-mock":
        from pymongo_async_mock import AsyncMongoMockClient

        return MongoStore(AsyncMongoMockClient(), "contract_" + uuid.uuid4().hex[:8])
    if kind == "mongo-real":
        return MongoStore.from_url(REAL_MONGO_URL, "tp_test_" + uuid.uuid4().hex[:8])
    raise ValueError(kind)

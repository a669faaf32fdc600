"""Backends for contract tests: SQLite (real file), MongoDB (the nx-27017 wire server; a real MongoDB
when configured), memory. pymongo-async-mock stays only where it adds something: fault injection
(tests/hostile/test_mongo_faults.py) and a MongoDB without change streams (the events' polling fallback)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tornado_paste.storage.base import Backend
from tornado_paste.storage.memory import MemoryStore
from tornado_paste.storage.mongo.store import MongoStore
from tornado_paste.storage.sqlite.store import SQLiteStore

REAL_MONGO_URL = os.environ.get("TORNADO_PASTE_TEST_MONGO_URL", "")
BACKENDS = ["sqlite", "mongo-wire"] + (["mongo-real"] if REAL_MONGO_URL else [])
# Every backend the storage contract suite runs on.
ALL_BACKENDS = [*BACKENDS, "memory"]
# Kinds that need the session's nx-27017 (``mongo_wire_url`` fixture).
WIRE = "mongo-wire"


def make_store(kind: str, tmp_path: Path, wire_url: str = "") -> Backend:
    if kind == "sqlite":
        return SQLiteStore(str(tmp_path / "contract.sqlite3"))
    if kind == "mongo-mock":
        from pymongo_async_mock import AsyncMongoMockClient

        return MongoStore(AsyncMongoMockClient(), "contract_" + uuid.uuid4().hex[:8])
    if kind == "memory":
        return MemoryStore()
    if kind == WIRE:
        assert wire_url, "mongo-wire needs the mongo_wire_url fixture"
        return MongoStore.from_url(wire_url, "tp_test_" + uuid.uuid4().hex[:8])
    if kind == "mongo-real":
        return MongoStore.from_url(REAL_MONGO_URL, "tp_test_" + uuid.uuid4().hex[:8])
    raise ValueError(kind)


def store_for(request, kind: str, tmp_path: Path) -> Backend:
    """``make_store`` from inside a fixture: starts the session's wire server when the kind needs it."""
    url = request.getfixturevalue("mongo_wire_url") if kind == WIRE else ""
    return make_store(kind, tmp_path, url)


def dropped_after(kind: str) -> bool:
    """Whether the test's database should be dropped afterwards (a shared server)."""
    return kind in (WIRE, "mongo-real")

"""Metadata stores: SQLite (embedded default) and MongoDB (production)."""

from __future__ import annotations

from tornado_paste.storage.base import DuplicateContent, MetadataStore, StoreError, StoreUnavailable

__all__ = ["DuplicateContent", "MetadataStore", "StoreError", "StoreUnavailable", "open_store"]


def open_store(sqlite_path: str, mongo_url: str = "", mongo_database: str = "tornado_paste",
               timeout: float = 2.0) -> MetadataStore:
    """The store the settings ask for (not yet opened)."""
    if mongo_url:
        from tornado_paste.storage.mongo.files import MongoStore

        return MongoStore.from_url(mongo_url, mongo_database, timeout=timeout)
    from tornado_paste.storage.sqlite.files import SQLiteStore

    return SQLiteStore(sqlite_path, timeout=timeout)

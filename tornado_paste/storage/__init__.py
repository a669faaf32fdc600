"""Storage: every SQL and MongoDB statement, and the blobs.

Owns: the per-concern interfaces (``base.py``: files, derivatives, tus state,
event log, expiry index, gathered in one ``Backend``), their implementations
(``sqlite/`` — the embedded default; ``mongo/`` — production; ``memory.py`` — one
process, for tests), and the content-addressed blob store (``blobs/``).
``open_backend`` is the one place that chooses a backend.

May import: ``tornado_paste.core.records``, ``tornado_paste.errors``, and itself.
Nothing outside this package imports sqlite3 or pymongo.
"""

from __future__ import annotations

from tornado_paste.storage.base import Backend, DuplicateContent, Locked, StoreError, StoreUnavailable

__all__ = ["Backend", "DuplicateContent", "Locked", "StoreError", "StoreUnavailable", "open_backend"]


def open_backend(sqlite_path: str, mongo_url: str = "", mongo_database: str = "tornado_paste",
                 timeout: float = 2.0) -> Backend:
    """The backend the settings ask for (not yet opened): MongoDB when a URL is set, else SQLite."""
    if mongo_url:
        from tornado_paste.storage.mongo.store import MongoStore

        return MongoStore.from_url(mongo_url, mongo_database, timeout=timeout)
    from tornado_paste.storage.sqlite.store import SQLiteStore

    return SQLiteStore(sqlite_path, timeout=timeout)

"""SQLite metadata store: the embedded default.

sqlite3 calls block, so every call runs on one dedicated thread that owns the
connection (a single writer also avoids SQLite's lock juggling inside one
process). WAL mode lets several server processes share the file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tornado_paste.core.records import FileRecord
from tornado_paste.storage.base import Backend, DuplicateContent, StoreUnavailable
from tornado_paste.storage.sqlite.blocklist import SQLiteBlockList
from tornado_paste.storage.sqlite.codec import COLUMNS, decode_record, encode_record
from tornado_paste.storage.sqlite.collections import SQLiteCollectionStore
from tornado_paste.storage.sqlite.controls import SQLiteFileControls
from tornado_paste.storage.sqlite.derivatives import SQLiteDerivativeIndex
from tornado_paste.storage.sqlite.events import SQLiteEventLog
from tornado_paste.storage.sqlite.expiry import SQLiteExpiryIndex
from tornado_paste.storage.sqlite.schema import create_schema
from tornado_paste.storage.sqlite.stats import SQLiteFileStats
from tornado_paste.storage.sqlite.thread import SerialThread, outcome_of
from tornado_paste.storage.sqlite.tus_state import SQLiteTusStateStore

T = TypeVar("T")


# Columns added after the first release: a database made before them gets them at open.
def _switch_to_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """WAL mode; switching takes an exclusive lock and SQLite answers "locked" at once (no busy
    handler) while another process's connection does the same, so wait for it like a busy lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SQLiteStore(Backend):
    """Every concern's table in one database file, used through one connection on one thread."""

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.timeout = timeout
        self._executor: SerialThread | None = None
        self._conn: sqlite3.Connection | None = None
        self.derivatives = SQLiteDerivativeIndex(self)
        self.tus_state = SQLiteTusStateStore(self)
        self.event_log = SQLiteEventLog(self)
        self.expiry = SQLiteExpiryIndex(self)
        self.controls = SQLiteFileControls(self)
        self.collections = SQLiteCollectionStore(self)
        self.blocklist = SQLiteBlockList(self)
        self.stats = SQLiteFileStats(self)

    # -- plumbing ------------------------------------------------------------
    async def run(self, fn: Callable[[sqlite3.Connection], T], group: bool = False) -> T:
        """Run ``fn(connection)`` on the store's thread; map lock/IO errors to StoreUnavailable.

        Public for the other concerns of this backend (``sqlite/*.py``), which keep
        their tables in the same file and use the same single connection. ``group``: ``fn`` is
        one autocommit write that may share a transaction with the writes queued next to it
        (see ``sqlite/thread.py``); it must not begin, commit or roll back itself.
        """
        if self._executor is None:
            raise StoreUnavailable("store is closed")
        # A grouped write rolls nothing back itself: the group's savepoint undoes what it did.
        return await self._executor.submit(lambda: self._call(fn, rollback=not group), group=group)

    def _call(self, fn: Callable[[sqlite3.Connection], T], rollback: bool = True) -> T:
        """On the store's thread: one call in a transaction of its own (or autocommit)."""
        conn = self._connection()
        try:
            return fn(conn)
        except sqlite3.IntegrityError:
            if rollback:
                conn.rollback()
            raise
        except sqlite3.DatabaseError as exc:  # OperationalError (locked, I/O) included
            if rollback:
                conn.rollback()
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:  # the open failed (locked, unreadable): start-up keeps retrying
            raise StoreUnavailable("sqlite: not connected")
        return self._conn

    def _run_group(self, calls: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """On the store's thread: grouped writes in one transaction, each in its own savepoint, so
        one refused row (a duplicate name) does not take the others with it."""
        if len(calls) == 1:
            return [outcome_of(calls[0])]
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except (StoreUnavailable, sqlite3.DatabaseError) as exc:
            error = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(f"sqlite: {exc}")
            return [(False, error)] * len(calls)
        outcomes: list[tuple[bool, Any]] = []
        try:
            for call in calls:
                conn.execute("SAVEPOINT grouped")
                ok, value = outcome_of(call)
                if not ok:
                    conn.execute("ROLLBACK TO grouped")
                conn.execute("RELEASE grouped")
                outcomes.append((ok, value))
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.rollback()
            return [(False, StoreUnavailable(f"sqlite: {exc}"))] * len(calls)
        return outcomes

    def _connect(self) -> None:
        conn = sqlite3.connect(self.path, timeout=self.timeout, check_same_thread=False,
                               isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            _switch_to_wal(conn, self.timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            create_schema(conn)
        except BaseException:
            conn.close()  # open() is retried: don't leak a half-set-up connection
            raise
        self._conn = conn

    async def open(self) -> None:
        if self._executor is None:
            self._executor = SerialThread("sqlite", group_runner=self._run_group)
        if self._conn is None:
            await self.run_raw(self._connect)
        for concern in (self.derivatives, self.tus_state, self.event_log, self.expiry, self.blocklist, self.stats,
                        self.controls, self.collections):
            await concern.open()

    async def run_raw(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None
        try:
            return await self._executor.submit(fn)
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    async def close(self) -> None:
        if self._executor is None:
            return
        conn = self._conn

        def shutdown() -> None:
            if conn is not None:
                conn.close()

        await self.run_raw(shutdown)
        self._executor.shutdown()
        self._executor = None
        self._conn = None

    async def ping(self) -> None:
        await self.run(lambda c: c.execute("SELECT 1").fetchone())

    # -- files ---------------------------------------------------------------
    async def insert_file(self, record: FileRecord) -> FileRecord:
        values = encode_record(record)

        def insert(conn: sqlite3.Connection) -> int:
            placeholders = ",".join("?" * len(COLUMNS))
            cur = conn.execute(f"INSERT INTO files ({','.join(COLUMNS)}) VALUES ({placeholders})", values)
            return int(cur.lastrowid)

        try:
            new_id = await self.run(insert, group=True)
        except sqlite3.IntegrityError as exc:
            raise DuplicateContent(str(exc)) from exc
        record.id = new_id
        return record

    async def _one(self, where: str, arg: Any) -> FileRecord | None:
        sql = f"SELECT * FROM files WHERE {where}"
        return await self.run(lambda c: decode_record(c.execute(sql, (arg,)).fetchone()))

    async def get_by_id(self, file_id: int) -> FileRecord | None:
        return await self._one("id = ?", file_id)

    async def get_by_filehash(self, filehash: str) -> FileRecord | None:
        return await self._one("filehash = ?", filehash)

    async def get_by_short_code(self, code: str) -> FileRecord | None:
        return await self._one("short_code = ?", code)

    async def get_public_original(self, sha256: str) -> FileRecord | None:
        # The same terms as the partial unique index files_public_original, which answers it.
        return await self._one("sha256 = ? AND private = 0 AND parent_id IS NULL", sha256)

    async def with_sha256(self, sha256: str, limit: int = 100) -> list[FileRecord]:
        def query(conn: sqlite3.Connection) -> list[FileRecord]:
            rows = conn.execute("SELECT * FROM files WHERE sha256 = ? ORDER BY id LIMIT ?", (sha256, limit))
            return [r for r in map(decode_record, rows.fetchall()) if r is not None]

        return await self.run(query)

    async def latest(self, limit: int, before_id: int | None = None) -> list[FileRecord]:
        def query(conn: sqlite3.Connection) -> list[FileRecord]:
            if before_id is None:
                rows = conn.execute("SELECT * FROM files WHERE private = 0 ORDER BY id DESC LIMIT ?", (limit,))
            else:
                rows = conn.execute(
                    "SELECT * FROM files WHERE private = 0 AND id < ? ORDER BY id DESC LIMIT ?", (before_id, limit)
                )
            return [r for r in map(decode_record, rows.fetchall()) if r is not None]

        return await self.run(query)

    async def count_public(self) -> int:
        return await self.run(lambda c: int(c.execute("SELECT COUNT(*) FROM files WHERE private = 0").fetchone()[0]))

    async def delete_file(self, file_id: int) -> bool:
        return await self.run(lambda c: c.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0)

    async def count_sha256_refs(self, sha256: str) -> int:
        return await self.run(
            lambda c: int(c.execute("SELECT COUNT(*) FROM files WHERE sha256 = ?", (sha256,)).fetchone()[0])
        )


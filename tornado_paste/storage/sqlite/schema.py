"""The ``files`` table, and the migration of databases made before short codes were stored.

Version 1 (until 0.1): ``sha256 TEXT NOT NULL UNIQUE`` (one record per content: dedupe merged
everyone's uploads of the same bytes into one record) and no ``short_code`` column (codes were
Sqids of the id, derivable from public data). Version 2: sha256 is unique only among public
originals (``files_public_original``, a partial unique index: what makes concurrent public uploads
of the same bytes end with one record), and every record carries its own random short code.

SQLite cannot drop a column's UNIQUE constraint, so the migration copies the table: inside one
``BEGIN IMMEDIATE`` (other processes wait on the write lock and then find it done), rows keep their
ids and the AUTOINCREMENT sequence, and each gets a new random short code. Old ``/s/`` links stop
working; nothing else changes.
"""

from __future__ import annotations

import sqlite3

from tornado_paste.core.records import new_short_code

COLUMNS_SQL = """(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filehash TEXT NOT NULL UNIQUE,
    short_code TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    filename TEXT NOT NULL,
    mimetype TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at TEXT NOT NULL,
    delete_token_hash TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    width INTEGER,
    height INTEGER,
    expires_at TEXT,
    parent_id INTEGER,
    variant TEXT,
    media TEXT,
    max_downloads INTEGER,
    downloads INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    crc32 INTEGER
)"""

TABLE = f"CREATE TABLE IF NOT EXISTS files {COLUMNS_SQL};"

INDEXES = """
CREATE INDEX IF NOT EXISTS files_public_id ON files (private, id);
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE UNIQUE INDEX IF NOT EXISTS files_public_original ON files (sha256) WHERE private = 0 AND parent_id IS NULL;
"""

# Every column of version 1, in the order both versions share.
_V1_COLUMNS = ("id", "filehash", "sha256", "filename", "mimetype", "size", "uploaded_at", "delete_token_hash",
               "private", "width", "height", "expires_at", "parent_id", "variant")


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(files)")}


# Columns added after version 2 (nullable, so ALTER TABLE ADD COLUMN is enough).
# Shares' columns (tornado_paste/shares): a download limit with its count, a password hash, the CRC-32.
ADDED_COLUMNS = {"media": "TEXT", "max_downloads": "INTEGER", "downloads": "INTEGER NOT NULL DEFAULT 0",
                 "password_hash": "TEXT", "crc32": "INTEGER"}


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table (or migrate a version-1 one) and its indexes; idempotent, safe across processes."""
    conn.executescript(TABLE)
    if "short_code" not in _columns(conn):
        migrate_v1(conn)
    add_missing_columns(conn)
    conn.executescript(INDEXES)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    have = _columns(conn)
    for name, kind in ADDED_COLUMNS.items():
        if name not in have:
            try:
                conn.execute(f"ALTER TABLE files ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise


def migrate_v1(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "short_code" in _columns(conn):  # another process did it while we waited for the lock
            conn.execute("COMMIT")
            return
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'files'").fetchone()
        sequence = int(row[0]) if row else 0
        conn.execute("DROP TABLE IF EXISTS files_v2")
        conn.execute(f"CREATE TABLE files_v2 {COLUMNS_SQL}")
        # Version 1's columns, and any later one that a version-1 table was already given (shares').
        have = _columns(conn)
        names = ",".join(c for c in (*_V1_COLUMNS, *ADDED_COLUMNS) if c in have)
        # A placeholder code per row (unique, never a real code's shape), replaced just below.
        conn.execute(f"INSERT INTO files_v2 ({names}, short_code) SELECT {names}, 'v1-' || id FROM files")
        codes: set[str] = set()
        updates = []
        for file_id, private in conn.execute("SELECT id, private FROM files_v2").fetchall():
            code = new_short_code(bool(private))
            while code in codes:
                code = new_short_code(bool(private))
            codes.add(code)
            updates.append((code, file_id))
        conn.executemany("UPDATE files_v2 SET short_code = ? WHERE id = ?", updates)
        conn.execute("DROP TABLE files")
        conn.execute("ALTER TABLE files_v2 RENAME TO files")
        # Ids are never reused, even those of rows deleted before the migration.
        if conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'files'", (sequence,)).rowcount == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('files', ?)", (sequence,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

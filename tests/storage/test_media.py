"""The ``media`` field (what previews read at upload) round-trips in every backend; old SQLite files gain it."""

from __future__ import annotations

import sqlite3

import pytest

from tests.storage.test_files import record
from tornado_paste.storage.sqlite.store import SQLiteStore


@pytest.mark.gen_test
async def test_media_round_trips(backend):
    rec = record(41)
    rec.media = {"duration": 2.5, "video_codec": "h264", "pages": None, "metadata_removed": ["gps", "xmp"]}
    saved = await backend.insert_file(rec)
    got = await backend.get_by_id(saved.id)
    assert got.media == rec.media
    plain = await backend.insert_file(record(42))
    assert (await backend.get_by_id(plain.id)).media is None


@pytest.mark.gen_test
async def test_a_database_from_before_media_gains_the_column(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""CREATE TABLE files (
        id INTEGER PRIMARY KEY AUTOINCREMENT, filehash TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL UNIQUE,
        filename TEXT NOT NULL, mimetype TEXT NOT NULL, size INTEGER NOT NULL, uploaded_at TEXT NOT NULL,
        delete_token_hash TEXT NOT NULL, private INTEGER NOT NULL DEFAULT 0, width INTEGER, height INTEGER,
        expires_at TEXT, parent_id INTEGER, variant TEXT);""")
    conn.close()
    store = SQLiteStore(str(path))
    await store.open()
    try:
        rec = record(43)
        rec.media = {"pages": 3}
        saved = await store.insert_file(rec)
        assert (await store.get_by_id(saved.id)).media == {"pages": 3}
    finally:
        await store.close()
    second = SQLiteStore(str(path))  # opening again finds the column there
    await second.open()
    await second.close()

"""Uploads stream: memory stays flat, pieces are written in order, discards are safe mid-write."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from tests.conftest import body_of
from tornado_paste.storage.blobs.local import WRITE_BUFFER, BlobStore

SIZE = 48 * 1024 * 1024


@pytest.mark.gen_test(timeout=120)
async def test_upload_memory_stays_flat(fetch, services):
    """A 48 MiB PUT never holds more than a few MiB in Python memory (client included)."""
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()

    async def producer(write):
        for i in range(SIZE // len(block)):
            piece = i.to_bytes(8, "big") + block[8:]
            digest.update(piece)
            await write(piece)

    tracemalloc.start()
    try:
        response = await fetch("/big.bin", method="PUT", body_producer=producer,
                               headers={"Content-Length": str(SIZE), "Accept": "application/json"},
                               request_timeout=120)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.code == 201, response.body
    assert body_of(response)["sha256"] == digest.hexdigest()
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB for a {SIZE // 2**20} MiB upload"


@pytest.mark.gen_test
async def test_staging_writes_pieces_in_order_and_hashes_all(tmp_path):
    blobs = BlobStore(str(tmp_path))
    blobs.ensure_dirs()
    staging = blobs.stage(head_size=16)
    data = b""
    for i in range(40):
        chunk = bytes([i]) * (WRITE_BUFFER // 7 + i)
        data += chunk
        pending = staging.write(chunk)
        if pending is not None:
            await pending
    assert staging.head == data[:16]
    assert await staging.finish() == hashlib.sha256(data).hexdigest()
    with open(staging.path, "rb") as written:
        assert written.read() == data
    staging.discard()
    assert os.listdir(blobs.tmp_dir) == []


@pytest.mark.gen_test
async def test_discard_with_a_piece_in_flight_removes_the_file(tmp_path):
    blobs = BlobStore(str(tmp_path))
    blobs.ensure_dirs()
    staging = blobs.stage(head_size=16)
    pending = staging.write(b"x" * (WRITE_BUFFER * 2))
    assert pending is not None
    staging.discard()
    await pending  # the writer finishes on its own fd, then it is closed
    assert os.listdir(blobs.tmp_dir) == []
    with pytest.raises(ValueError):
        staging.write(b"more")

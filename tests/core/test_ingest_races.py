"""The dedupe/delete protocol under the interleavings two processes can produce.

Within one process a per-sha256 lock serialises upload and delete; across
processes only the store and the filesystem are shared, so the protocol itself
must be safe: the uploader re-checks the blob after inserting its record, the
deleter re-checks the references after retiring the blob.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from tornado_paste.core.records import FileRecord


async def ingest(services, data: bytes, name: str = "f.bin"):
    upload = services.ingestor.begin()
    upload.write(data)
    return await upload.finish(name)


def blob_exists(services, data: bytes) -> bool:
    return os.path.exists(services.blobs.path_for(hashlib.sha256(data).hexdigest()))


@pytest.mark.gen_test
async def test_delete_retiring_the_blob_before_the_uploaders_insert(services):
    """Deleter (other process) retires the blob between the uploader's link and its insert."""
    data = b"raced bytes" * 100
    sha = hashlib.sha256(data).hexdigest()
    first = await ingest(services, data)
    # The deleter removed the record and saw no references...
    await services.store.delete_file(first.record.id)
    assert await services.store.count_sha256_refs(sha) == 0
    parked: list[str] = []

    async def other_process_deletes(record: FileRecord) -> None:
        # ...and retires the blob after the uploader linked it, before it inserts its record.
        parked.append(await services.blobs.retire(sha))

    services.ingestor.enrichers.append(other_process_deletes)
    second = await ingest(services, data)
    services.ingestor.enrichers.remove(other_process_deletes)
    assert second.created
    assert blob_exists(services, data), "the uploader must put back a blob retired under it"
    # The deleter now re-checks, finds the new record and restores; either way the blob is there.
    assert await services.store.count_sha256_refs(sha) == 1
    await services.blobs.restore(parked[0], sha)
    assert blob_exists(services, data)
    assert os.listdir(services.blobs.tmp_dir) == []


@pytest.mark.gen_test
async def test_uploader_inserting_after_deleter_checked_references(services, monkeypatch):
    """Deleter saw zero references, then the uploader links and inserts before the deleter retires."""
    data = b"second interleaving" * 50
    sha = hashlib.sha256(data).hexdigest()
    first = await ingest(services, data)
    await services.store.delete_file(first.record.id)
    store = services.store
    real_count = store.count_sha256_refs
    calls = {"n": 0}

    async def count_then_let_upload_in(s: str) -> int:
        calls["n"] += 1
        result = await real_count(s)
        if calls["n"] == 1:  # the deleter's first look: zero; now the upload slips in
            uploaded.append(await ingest(services, data))
        return result

    uploaded: list = []
    monkeypatch.setattr(store, "count_sha256_refs", count_then_let_upload_in)
    await services.ingestor.drop_blob_if_unreferenced(sha)
    assert uploaded and uploaded[0].created
    assert blob_exists(services, data), "the deleter removed a blob a new record uses"
    assert os.listdir(services.blobs.tmp_dir) == []


@pytest.mark.gen_test
async def test_unreferenced_blob_is_removed(services):
    data = b"lonely"
    result = await ingest(services, data)
    await services.store.delete_file(result.record.id)
    await services.ingestor.drop_blob_if_unreferenced(result.record.sha256)
    assert not blob_exists(services, data)
    assert os.listdir(services.blobs.tmp_dir) == []

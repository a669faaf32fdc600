"""Blob stores: where file bytes live, named by their sha256. ``base`` is the interface (staging writer
with streaming write + hash, commit under the content address, reads and ranges, retire/restore/purge,
sweeps); ``local`` the content-addressed directory (staging file, fsync, atomic link, directory fsync);
``s3`` an S3 bucket through aiobotocore (multipart staging, server-side copy to the content key).
``open_blob_store`` is the one place that chooses one.

May import: ``tornado_paste.errors`` only. Nothing outside this package imports aiobotocore or botocore.
"""

from __future__ import annotations

from typing import Any

from tornado_paste.storage.blobs.base import BlobStore


def open_blob_store(kind: str, data_dir: str, s3: dict[str, Any] | None = None, sweep_interval: float = 3600.0,
                    stale_age: float = 24 * 3600.0) -> BlobStore:
    """The blob store the settings ask for (not yet started): ``local``, or ``s3`` with ``S3Config`` fields."""
    if kind == "s3":
        from tornado_paste.storage.blobs.s3 import S3BlobStore
        from tornado_paste.storage.blobs.s3_client import S3Config

        return S3BlobStore(S3Config(**(s3 or {})), data_dir, sweep_interval=sweep_interval, stale_age=stale_age)
    from tornado_paste.storage.blobs.local import LocalBlobStore

    return LocalBlobStore(data_dir)

"""The single finish path for every upload: stage, hash, sniff, policy, dedupe, commit, record.

Every way in (multipart form, raw PUT, and later tus) feeds bytes into an
``Upload`` and calls ``finish``; nothing else creates file records from bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tornado_paste import errors
from tornado_paste.core.filenames import clean_filename
from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.core.locks import KeyedLocks
from tornado_paste.core.policy import TypePolicy
from tornado_paste.core.records import FileRecord, extension_for, new_filehash, utcnow
from tornado_paste.core.sniff import sniff
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import DuplicateContent, FileStore
from tornado_paste.storage.blobs.local import BlobStore, StagingDiscarded, StagingFile

log = logging.getLogger(__name__)


class IngestError(errors.BadRequest):
    """An upload refused for a reason the client can act on. ``code`` names the reason."""


class TooLarge(errors.TooLarge, IngestError):
    pass


class TypeRefused(errors.TypeRefused, IngestError):
    pass


class Forbidden(errors.Forbidden, IngestError):
    pass


class UploadCancelled(errors.ClientClosed, IngestError):
    """The client went away (connection reset) after its last byte, before the upload was stored.

    Nobody hears the answer; it maps to 499 (nginx's "client closed request") so that it counts as
    neither a stored file nor a server error.
    """


# Files the service makes itself (resize results): measured by their feature, not as uploads.
INTERNAL_SOURCES = frozenset({"derived"})


@dataclass
class IngestResult:
    record: FileRecord
    created: bool
    # Only for the upload that created the record; a dedupe hit never learns it.
    delete_token: str | None = None


# Called before a new record is inserted (e.g. to add image dimensions).
Enricher = Callable[[FileRecord, str], Awaitable[None]]
# Called after a record changed: (event type, record).
Listener = Callable[[str, FileRecord], Awaitable[None]]
# Called with the upload's size once a chunk is added, before the chunk is staged; raises to refuse it
# (an upload request's quota, reserved in the store as the bytes arrive).
Quota = Callable[[int], Awaitable[None]]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, token_hash: str) -> bool:
    if not token:
        return False
    return hmac.compare_digest(hash_token(token), token_hash)


class Upload:
    """One upload in progress: bytes go in through ``write``; ``finish`` or ``abort`` ends it."""

    def __init__(self, ingestor: Ingestor, staging: StagingFile, limit: int, source: str) -> None:
        self._ingestor = ingestor
        self.staging = staging
        self.limit = limit
        self.source = source
        # upload.* metrics describe what clients send, so internal files stay out of them.
        self.metered = source not in INTERNAL_SOURCES
        self.started = time.monotonic()
        self.done = False
        # While ``finish`` runs it owns the staging file: ``abort`` then only asks it to stop
        # (``cancel_reason``), and finish cancels at its next safe point, before the record is in.
        self.finishing = False
        self.cancel_reason: str | None = None
        self.stored = False
        # Narrower rules for this one upload (an upload request's limits), on top of the service's.
        self.quota: Quota | None = None
        self.types: TypePolicy | None = None
        # Fields of a new record (max_downloads, password_hash) that must hold from its first moment.
        self.extra: dict[str, Any] = {}

    @property
    def size(self) -> int:
        return self.staging.size

    def write(self, chunk: bytes | memoryview) -> Awaitable[None] | None:
        """Append bytes; raises TooLarge (and drops the staging file) past the limit.

        Returns an awaitable when the caller should wait before writing more
        (the disk is behind the network); await it for flow control.
        """
        if self.staging.size + len(chunk) > self.limit:
            self.abort("size")
            raise TooLarge(f"file exceeds the upload limit of {self.limit} bytes")
        if self.quota is not None:
            return self._write_within_quota(chunk)
        try:
            return self.staging.write(chunk)
        except Exception as exc:
            self.abort(errors.reason_of(exc))
            raise

    async def _write_within_quota(self, chunk: bytes | memoryview) -> None:
        assert self.quota is not None
        try:
            await self.quota(self.staging.size + len(chunk))
            pending = self.staging.write(chunk)
            if pending is not None:
                await pending
        except BaseException as exc:
            self.abort(errors.reason_of(exc))
            raise

    def abort(self, reason: str = "aborted") -> None:
        """Throw the upload away (``reason`` is one of REFUSAL_REASONS); safe to call more than once.

        During ``finish`` (a client reset after its last byte) the upload is only marked: unlinking
        the staging file under a running fsync or commit turned into 500s and half-stored files.
        Finish stops before the record is written (``UploadCancelled``) and cleans up itself; once
        the record is in, the upload stands.
        """
        if self.done:
            return
        if self.finishing:
            if self.cancel_reason is None:
                self.cancel_reason = reason
            return
        self.done = True
        self.staging.discard()
        if self.metered:
            self._ingestor.count_refusal(reason)

    def check_cancelled(self) -> None:
        """Raise ``UploadCancelled`` if ``abort`` was called while finishing (the finish path's safe points)."""
        if self.cancel_reason is not None:
            raise UploadCancelled("the client closed the connection before the upload was stored")

    async def finish(self, filename: str | None, private: bool = False,
                     expires_at: datetime | None = None, parent_id: int | None = None,
                     variant: dict[str, Any] | None = None) -> IngestResult:
        """``parent_id``/``variant`` make the new record a derivative (see ``ingest_file``)."""
        if self.done:
            if not self.stored:  # aborted (the client left) before the handler got to finish it
                raise UploadCancelled("the upload was cancelled before it was stored")
            raise IngestError("upload already finished")
        if self.finishing:
            raise IngestError("upload is already being finished")
        self.finishing = True
        try:
            result = await self._ingestor._finish(self, filename, private, expires_at, parent_id, variant)
        except BaseException as exc:
            self.finishing = False
            self.abort(errors.reason_of(exc))
            if isinstance(exc, StagingDiscarded):
                raise UploadCancelled("the upload was cancelled before it was stored") from exc
            raise
        self.finishing = False
        self.done = self.stored = True
        return result


class Ingestor:
    def __init__(self, store: FileStore, blobs: BlobStore, policy: TypePolicy, metrics: Metrics,
                 max_upload_size: int, sniff_bytes: int = 64 * 1024) -> None:
        self.store = store
        self.blobs = blobs
        self.policy = policy
        self.metrics = metrics
        self.max_upload_size = max_upload_size
        self.sniff_bytes = sniff_bytes
        self.enrichers: list[Enricher] = []
        self.listeners: list[Listener] = []
        # Serialises commit/insert against delete of the same blob in this process.
        self.blob_locks = KeyedLocks()

    def begin(self, source: str = "form", limit: int | None = None) -> Upload:
        limit = self.max_upload_size if limit is None else min(limit, self.max_upload_size)
        return Upload(self, self.blobs.stage(self.sniff_bytes), limit, source)

    async def ingest_file(self, path: str, filename: str | None, *, private: bool = False,
                          expires_at: datetime | None = None, parent_id: int | None = None,
                          variant: dict[str, Any] | None = None) -> IngestResult:
        """Ingest a file already written in the staging dir (``blobs.staging_path()``), e.g. a resize result.

        The file is consumed (committed or removed). With ``parent_id`` the
        record is a derivative and the event is ``file.derived``.
        """
        loop = asyncio.get_running_loop()
        try:
            staging = await loop.run_in_executor(self.blobs.io_pool, StagingFile.adopt, path, self.sniff_bytes,
                                                 self.blobs.io_pool)
        except BaseException:
            await loop.run_in_executor(self.blobs.io_pool, unlink_quietly, path)
            raise
        upload = Upload(self, staging, self.max_upload_size, "derived" if parent_id is not None else "file")
        return await upload.finish(filename, private=private, expires_at=expires_at, parent_id=parent_id,
                                   variant=variant)

    async def finish_prestaged(self, staged: Any, filename: str | None, *, private: bool = False,
                               expires_at: datetime | None = None, source: str = "tus") -> IngestResult:
        """The finish path for bytes another component already staged in full (tus uploads).

        ``staged`` has ``StagingFile``'s surface (``path``, ``size``, ``head``,
        ``async finish() -> sha256``, ``discard()``) and must be on the data
        dir's filesystem (commit hard-links it into the blob dir).
        """
        upload = Upload(self, staged, self.max_upload_size, source)
        if staged.size > self.max_upload_size:
            upload.abort("size")
            raise TooLarge(f"file exceeds the upload limit of {self.max_upload_size} bytes")
        return await upload.finish(filename, private=private, expires_at=expires_at)

    async def publish(self, event: str, record: FileRecord) -> None:
        for listener in self.listeners:
            try:
                await listener(event, record)
            except Exception:
                log.exception("event listener failed for %s", event)

    async def _finish(self, upload: Upload, filename: str | None, private: bool,
                      expires_at: datetime | None, parent_id: int | None = None,
                      variant: dict[str, Any] | None = None) -> IngestResult:
        staging = upload.staging
        sha256 = await staging.finish()
        upload.check_cancelled()
        mimetype = await sniff(staging.head)
        if not self.policy.permits(mimetype) or (upload.types is not None and not upload.types.permits(mimetype)):
            raise TypeRefused(f"files of type {mimetype} are not accepted here")

        existing = await self.store.get_by_sha256(sha256)
        if existing is not None and (existing.exhausted or (existing.expires_at is not None
                                                           and existing.expires_at <= utcnow())):
            # Expired (or past its download limit) but not swept yet: retire that record and store
            # these bytes as a new file. A burned file's deletion was announced when it burned.
            assert existing.id is not None
            if await self.store.delete_file(existing.id) and not existing.exhausted:
                await self.publish("file.deleted", existing)
            existing = None
        upload.check_cancelled()
        if existing is not None and self.blobs.exists(sha256):
            staging.discard()
            self._count_upload(upload, dedupe=True)
            return IngestResult(existing, created=False)

        try:
            async with self.blob_locks.hold(sha256):
                upload.check_cancelled()
                fresh = not self.blobs.exists(sha256)
                try:
                    result = await self._commit_and_record(upload, sha256, mimetype, existing, filename, private,
                                                           expires_at, parent_id, variant)
                except BaseException:
                    if fresh:
                        # No record was written (store down, disk full, enricher failed): take back the
                        # blob we linked. Safe against a concurrent upload of the same bytes: it
                        # re-checks the blob after its insert and links it again.
                        parked = await self.blobs.retire(sha256)
                        if parked is not None:
                            await self.blobs.purge(parked)
                    raise
        finally:
            staging.discard()
        if result.created:
            await self.publish("file.derived" if parent_id is not None else "file.created", result.record)
        return result

    async def _commit_and_record(self, upload: Upload, sha256: str, mimetype: str, existing: FileRecord | None,
                                 filename: str | None, private: bool, expires_at: datetime | None,
                                 parent_id: int | None = None, variant: dict[str, Any] | None = None) -> IngestResult:
        staging = upload.staging
        await self.blobs.commit(staging, sha256)
        if existing is not None:  # the record was there but its blob was missing: repaired
            self._count_upload(upload, dedupe=True)
            return IngestResult(existing, created=False)
        token = secrets.token_urlsafe(24)
        record = FileRecord(
            filehash=new_filehash(mimetype), sha256=sha256,
            filename=clean_filename(filename, extension_for(mimetype)), mimetype=mimetype,
            size=staging.size, uploaded_at=utcnow(), delete_token_hash=hash_token(token),
            private=private, expires_at=expires_at, parent_id=parent_id, variant=variant,
            **upload.extra,
        )
        for enrich in self.enrichers:
            await enrich(record, self.blobs.path_for(sha256))
        # The last point to cancel: the caller takes the blob back. After the insert the upload stands.
        upload.check_cancelled()
        try:
            record = await self.store.insert_file(record)
        except DuplicateContent:
            # Another upload of the same bytes won the race: share its record.
            winner = await self.store.get_by_sha256(sha256)
            if winner is None:
                raise
            record, token, created = winner, None, False
        else:
            created = True
        # A delete in another process may have retired the blob between our link and our
        # insert; it re-checks the references after retiring, we re-check the blob after
        # inserting, so one of us always puts it back.
        if not self.blobs.exists(sha256):
            await self.blobs.commit(staging, sha256)
        self._count_upload(upload, dedupe=not created)
        return IngestResult(record, created=created, delete_token=token)

    def _count_upload(self, upload: Upload, dedupe: bool) -> None:
        """One accepted upload (new or deduplicated): count, bytes received, duration since begin()."""
        if not upload.metered:
            return
        self.metrics.incr("upload.count")
        self.metrics.incr(f"upload.source.{upload.source}")
        self.metrics.incr("upload.bytes", upload.size)
        self.metrics.timing("upload.duration", (time.monotonic() - upload.started) * 1000)
        if dedupe:
            self.metrics.incr("upload.dedupe_hit")

    def count_refusal(self, reason: str) -> None:
        """An upload that ended without a file; also for refusals before any byte was staged."""
        self.metrics.incr(f"upload.refused.{reason if reason in errors.REFUSAL_REASONS else 'error'}")

    async def delete(self, record: FileRecord, token: str | None) -> None:
        """Remove a record (token checked in constant time) and its blob once unreferenced."""
        if not token_matches(token, record.delete_token_hash):
            raise Forbidden("the delete token does not match this file")
        await self.remove(record)

    async def remove(self, record: FileRecord) -> None:
        """Delete without a token check: only for removals the core itself decides on
        (the derivatives of a file whose owner deleted it)."""
        assert record.id is not None
        async with self.blob_locks.hold(record.sha256):
            await self.store.delete_file(record.id)
            await self.drop_blob_if_unreferenced(record.sha256)
        await self.publish("file.deleted", record)

    async def drop_blob_if_unreferenced(self, sha256: str) -> None:
        """Remove a blob no record uses, safely against a concurrent upload of the same bytes."""
        if await self.store.count_sha256_refs(sha256) > 0:
            return
        parked = await self.blobs.retire(sha256)
        if parked is None:
            return
        if await self.store.count_sha256_refs(sha256) > 0:
            await self.blobs.restore(parked, sha256)
        else:
            await self.blobs.purge(parked)

"""The single finish path for every upload: stage, hash, sniff, policy, dedupe, commit, record.

Every way in (multipart form, raw PUT, and later tus) feeds bytes into an
``Upload`` and calls ``finish``; nothing else creates file records from bytes.

Dedupe is a storage matter, not an identity one: identical bytes are one blob, but an upload
shares a *record* only when it is public and meets the public original of the same bytes (then
it answers that card, 200, with its expiry untouched). Every other upload (private, a
derivative, or public bytes held so far only by someone's private record) gets a record of its
own: its own filehash, short code, visibility, expiry and delete token. So nobody learns, merges
or extends someone else's record by uploading the same bytes. The blob lives as long as any
record references it (``drop_blob_if_unreferenced``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from tornado_paste import errors
from tornado_paste.core.filenames import upload_filename
from tornado_paste.core.fsutil import unlink_quietly
from tornado_paste.core.locks import KeyedLocks
from tornado_paste.core.policy import TypePolicy
from tornado_paste.core.records import FileRecord, extension_for, new_filehash, new_short_code, utcnow
from tornado_paste.core.sniff import seal
from tornado_paste.core.uploads import (
    Enricher,
    Forbidden,
    IngestError,
    IngestResult,
    Listener,
    Quota,
    TooLarge,
    Transform,
    Transformed,
    TypeRefused,
    UploadCancelled,
    hash_token,
    token_matches,
)
from tornado_paste.metrics.client import Metrics
from tornado_paste.storage.base import DuplicateContent, FileStore
from tornado_paste.storage.blobs.base import BlobStore, Staging, StagingDiscarded

# The names of core/uploads.py are part of this module's interface too (one import for callers).
__all__ = [
    "INTERNAL_SOURCES", "NAME_ATTEMPTS", "Enricher", "Forbidden", "IngestError", "IngestResult", "Ingestor",
    "Listener", "Quota", "TooLarge", "Transform", "Transformed", "TypeRefused", "Upload", "UploadCancelled",
    "hash_token", "token_matches",
]

log = logging.getLogger(__name__)


# Files the service makes itself (resize results): measured by their feature, not as uploads.
INTERNAL_SOURCES = frozenset({"derived"})
# Inserts tried with fresh random names when a filehash or short code was drawn twice.
NAME_ATTEMPTS = 5


class Upload:
    """One upload in progress: bytes go in through ``write``; ``finish`` or ``abort`` ends it."""

    def __init__(self, ingestor: Ingestor, staging: Staging, limit: int, source: str) -> None:
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
        # Run on uploads only (never on derivatives, which the service wrote itself).
        self.transforms: list[Transform] = []
        self.listeners: list[Listener] = []
        # Checks run once the bytes' sha256 is known, before anything is committed (the blocklist).
        self.content_checks: list[Callable[[str], Awaitable[None]]] = []
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
            staging = await self.blobs.adopt(path, self.sniff_bytes)
        except BaseException:
            await loop.run_in_executor(self.blobs.io_pool, unlink_quietly, path)
            raise
        upload = Upload(self, staging, self.max_upload_size, "derived" if parent_id is not None else "file")
        return await upload.finish(filename, private=private, expires_at=expires_at, parent_id=parent_id,
                                   variant=variant)

    async def finish_prestaged(self, staged: Any, filename: str | None, *, private: bool = False,
                               expires_at: datetime | None = None, source: str = "tus") -> IngestResult:
        """The finish path for bytes another component already staged in full (tus uploads).

        ``staged`` has ``Staging``'s surface (``size``, ``head``, ``async finish() -> sha256``,
        ``discard()``) and a ``path`` the blob store can commit: on the data dir's filesystem for the
        local store (commit hard-links it), any local file for S3 (commit uploads it).
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
        sha256, mimetype = await seal(staging)
        upload.check_cancelled()
        for check in self.content_checks:
            await check(sha256)
        if not self.policy.permits(mimetype) or (upload.types is not None and not upload.types.permits(mimetype)):
            raise TypeRefused(f"files of type {mimetype} are not accepted here")
        media: dict[str, Any] | None = None
        if upload.metered and self.transforms:
            sha256, media = await self._transform(upload, mimetype, sha256)
            staging = upload.staging

        # Only a public original is ever shared, and only with a public, non-derivative upload.
        shared = not private and parent_id is None
        existing = await self.store.get_public_original(sha256) if shared else None
        if existing is not None and (existing.exhausted or (existing.expires_at is not None
                                                           and existing.expires_at <= utcnow())):
            # Expired (or past its download limit) but not swept yet: retire that record and store
            # these bytes as a new file. A burned file's deletion was announced when it burned.
            assert existing.id is not None
            if await self.store.delete_file(existing.id) and not existing.exhausted:
                await self.publish("file.deleted", existing)
            existing = None
        upload.check_cancelled()
        if existing is not None and await self.blobs.exists(sha256):
            staging.discard()
            self._count_upload(upload, dedupe=True)
            return IngestResult(existing, created=False)

        try:
            async with self.blob_locks.hold(sha256):
                upload.check_cancelled()
                fresh = not await self.blobs.exists(sha256)
                try:
                    result = await self._commit_and_record(upload, sha256, mimetype, existing, filename, private,
                                                           expires_at, parent_id, variant, media)
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
                                 parent_id: int | None = None, variant: dict[str, Any] | None = None,
                                 media: dict[str, Any] | None = None) -> IngestResult:
        staging = upload.staging
        await self.blobs.commit(staging, sha256)
        if existing is not None:  # the record was there but its blob was missing: repaired
            self._count_upload(upload, dedupe=True)
            return IngestResult(existing, created=False)
        token = secrets.token_urlsafe(24)
        now = utcnow()
        record = FileRecord(
            filehash=new_filehash(mimetype), short_code=new_short_code(private), sha256=sha256,
            filename=upload_filename(filename, extension_for(mimetype), now), mimetype=mimetype,
            size=staging.size, uploaded_at=now, delete_token_hash=hash_token(token),
            private=private, expires_at=expires_at, parent_id=parent_id, variant=variant, media=media,
            **upload.extra,
        )
        for enrich in self.enrichers:
            await enrich(record)
        # The last point to cancel: the caller takes the blob back. After the insert the upload stands.
        upload.check_cancelled()
        record, delete_token, created = await self._insert(record, token)
        # A delete in another process may have retired the blob between our link and our
        # insert; it re-checks the references after retiring, we re-check the blob after
        # inserting, so one of us always puts it back.
        if not await self.blobs.exists(sha256):
            await self.blobs.commit(staging, sha256)
        self._count_upload(upload, dedupe=not created)
        return IngestResult(record, created=created, delete_token=delete_token)

    async def _insert(self, record: FileRecord, token: str) -> tuple[FileRecord, str | None, bool]:
        """Insert the new record: (record, its token, True); or, when another public upload of the
        same bytes won the race to be their public original, (the winner, None, False)."""
        for attempt in range(NAME_ATTEMPTS):
            try:
                return await self.store.insert_file(record), token, True
            except DuplicateContent:
                if record.public_original:
                    winner = await self.store.get_public_original(record.sha256)
                    if winner is not None:
                        return winner, None, False
                if attempt == NAME_ATTEMPTS - 1:
                    raise
                # A random name drawn twice (or the winner gone again): draw new names, try again.
                record.filehash = new_filehash(record.mimetype)
                record.short_code = new_short_code(record.private)
        raise AssertionError("unreachable")

    async def _transform(self, upload: Upload, mimetype: str, sha256: str) -> tuple[str, dict[str, Any] | None]:
        """Run the transforms on the staged bytes; each new file replaces the staging (and the sha256)."""
        loop = asyncio.get_running_loop()
        media: dict[str, Any] = {}
        for transform in self.transforms:
            wants = getattr(transform, "wants", None)
            if wants is not None and not wants(mimetype):
                continue  # not this type: with S3 its bytes are not even fetched
            # A local file of the staged bytes: the staging file, or (S3) a download of the staged object.
            async with self.blobs.staged_copy(upload.staging) as path:
                changed = await transform(mimetype, path)
            if changed is None:
                continue
            try:
                # The new file becomes the staging (S3: uploaded from the scratch dir at commit).
                fresh = await self.blobs.adopt(changed.path, self.sniff_bytes)
            except BaseException:
                await loop.run_in_executor(self.blobs.io_pool, unlink_quietly, changed.path)
                raise
            upload.staging.discard()
            upload.staging, sha256 = fresh, fresh.sha256
            media.update(changed.media)
            upload.check_cancelled()
        return sha256, media or None

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

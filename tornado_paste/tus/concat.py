"""tus concatenation: a final upload made of finished partial uploads, ingested at once.

The parts' locks are taken (and their leases renewed while the bytes are copied), the
final upload is created already locked, the parts' bytes are concatenated into its
file on an executor thread and the result goes through the ingest path; the parts are
spent once their bytes live on in the blob. The concatenation needs the total once
more on disk, which is checked first (507 ``insufficient_storage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING

from tornado_paste.core.ingest import TooLarge
from tornado_paste.core.records import TusState
from tornado_paste.storage.base import Locked
from tornado_paste.tus.files import TusStaged, concatenate
from tornado_paste.tus.protocol import TusError, UploadLocked
from tornado_paste.tus.session import PatchResult

if TYPE_CHECKING:
    from tornado_paste.tus.service import TusService


async def create_final(service: TusService, part_ids: list[str], metadata: dict[str, str],
                       client: str | None) -> PatchResult:
    if not part_ids:
        raise TusError("Upload-Concat: final needs at least one partial upload")
    if len(set(part_ids)) != len(part_ids):
        raise TusError("Upload-Concat: final lists a partial upload twice")
    service.check_metadata(metadata)
    state = service.state
    owner = service.owner_tag()
    held: list[str] = []
    renewer = asyncio.ensure_future(_renew_leases(service, held, owner))
    try:
        parts: list[TusState] = []
        for part_id in part_ids:
            if not service.is_upload_id(part_id):
                raise TusError(f"{part_id!r} is not an upload of this server")
            try:
                part = await state.acquire(part_id, owner, time.time(), service.lease)
            except Locked:
                raise UploadLocked(f"partial upload {part_id} is busy; retry shortly") from None
            if part is None:
                raise TusError(f"partial upload {part_id} does not exist")
            held.append(part_id)
            if part.concat != "partial":
                raise TusError(f"upload {part_id} was not created with Upload-Concat: partial")
            if not part.done or part.length is None or part.offset != part.length:
                raise TusError(f"partial upload {part_id} is not finished")
            parts.append(part)
        total = sum(p.length or 0 for p in parts)
        if total > service.max_size:
            raise TooLarge(f"the concatenated upload exceeds Tus-Max-Size ({service.max_size} bytes)")
        service.quota.check_disk(total)
        now = time.time()
        final = TusState(id=secrets.token_hex(16), length=total, metadata=metadata, created_at=now,
                         expires_at=now + service.expiry, concat="final", parts=part_ids,
                         lock_owner=owner, lock_until=now + service.lease, client=client)
        await state.create(final)
        held.append(final.id)
        service.metrics.incr("tus.created")
        path = service.path_for(final.id)
        try:
            sha256, head, size = await asyncio.get_running_loop().run_in_executor(
                None, concatenate, [service.path_for(p) for p in part_ids], path, service.ingestor.sniff_bytes)
        except BaseException:
            await service.remove_upload(final.id)
            raise
        if size != total:
            await service.remove_upload(final.id)
            raise TusError("a partial upload's bytes are missing")
        final.offset = size
        await state.update(final.id, owner, offset=size)
        result = await service.ingest_staged(final, owner, TusStaged(path, size, head, sha256))
        for part_id in part_ids:  # their bytes live on in the blob; the parts are spent
            await service.remove_upload(part_id)
        held[:] = [final.id]
        return PatchResult(final, result)
    finally:
        renewer.cancel()
        for held_id in held:
            with contextlib.suppress(Exception):
                await state.release(held_id, owner)


async def _renew_leases(service: TusService, ids: list[str], owner: str) -> None:
    """Keep the leases of ``ids`` (a list that grows) alive while a long concatenation runs."""
    while True:
        await asyncio.sleep(service.lease / 3)
        for upload_id in list(ids):
            with contextlib.suppress(Exception):
                await service.state.renew(upload_id, owner, time.time() + service.lease)

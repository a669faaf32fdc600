"""tus concatenation's bookkeeping: taking every partial upload's lock (and keeping the leases alive)
before the final upload is made of them (``TusService.create_final``)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from tornado_paste.core.records import TusState
from tornado_paste.storage.base import Locked, TusStateStore
from tornado_paste.tus.protocol import TusError, UploadLocked

_ID_RE = re.compile(r"^[0-9a-f]{32}$")


async def take_parts(state: TusStateStore, part_ids: list[str], owner: str, lease: float,
                     held: list[str]) -> list[TusState]:
    """Lock each finished partial upload for ``owner`` (appending to ``held``); TusError for anything else."""
    parts: list[TusState] = []
    for part_id in part_ids:
        if not _ID_RE.match(part_id):
            raise TusError(f"{part_id!r} is not an upload of this server")
        try:
            part = await state.acquire(part_id, owner, time.time(), lease)
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
    return parts


async def renew_leases(state: TusStateStore, ids: list[str], owner: str, lease: float) -> None:
    """Keep the leases of ``ids`` (a list that grows) alive while a long concatenation runs."""
    while True:
        await asyncio.sleep(lease / 3)
        for upload_id in list(ids):
            with contextlib.suppress(Exception):
                await state.renew(upload_id, owner, time.time() + lease)

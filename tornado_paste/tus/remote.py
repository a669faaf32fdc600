"""tus uploads whose bytes live in a remote blob store (S3; ``storage/blobs/s3_tus.py``): finishing and
concatenating them, the two steps that differ from local files. Any machine can do either: the bytes
and their layout are in the bucket and the state store, never on one machine's disk."""

from __future__ import annotations

from typing import Any

from tornado_paste.core.records import TusState
from tornado_paste.tus.files import TusStaged


async def staged(remote: Any, state: TusState, sha256: str | None, head_size: int) -> TusStaged:
    """The complete upload as one object, shaped for ``Ingestor.finish_prestaged`` (committed by copy)."""
    key = await remote.assemble(state.id, state.blob)
    if sha256 is None:  # the PATCHes were not all on this process: read the bytes once
        sha256, head = await remote.hash_object(key, head_size)
    else:
        head = await remote.read_head(key, head_size)
    return TusStaged(None, state.offset, head, sha256, s3_key=key)


async def concatenate(remote: Any, blobs: Any, parts: list[TusState], head_size: int) -> Any:
    """The partial uploads' bytes, in order, streamed into a new staging of the blob store (hashed on the
    way); the ingest path finishes and commits it like any upload."""
    staging = blobs.stage(head_size)
    try:
        for part in parts:
            body = await remote.stream(await remote.assemble(part.id, part.blob))
            async with body:
                async for chunk in body.iter_chunks(1 << 20):
                    pending = staging.write(chunk)
                    if pending is not None:
                        await pending
    except BaseException:
        staging.discard()
        raise
    return staging

"""What each admin command does, as coroutines over a process's ``Services`` (testable in-process).

Every command returns plain data (dicts, lists) that ``__main__`` prints as text or JSON.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable
from typing import Any

from tornado_paste.core.blocking import parse_blocklist, parse_sha256
from tornado_paste.core.records import FileRecord, human_size
from tornado_paste.services import Services

_FILEHASH_RE = re.compile(r"^[0-9a-f]{16}\.[a-z0-9]{1,8}$")


class AdminError(Exception):
    """A command that cannot be carried out (unknown file, bad hash); the CLI exits with status 1."""


async def stats(services: Services) -> dict[str, Any]:
    inventory = await services.store.stats.summary()
    out = dataclasses.asdict(inventory)
    out["bytes_human"] = human_size(inventory.bytes)
    out["originals"] = inventory.files - inventory.derivatives
    out["blocked"] = await services.store.blocklist.count()
    return out


async def find(services: Services, key: str) -> FileRecord:
    """A file by filehash, sha256, short code or /i/ /d/ /p/ /s/ link."""
    key = key.strip().rstrip("/").rsplit("/", 1)[-1] if "/" in key else key.strip()
    store = services.store
    record: FileRecord | None = None
    if _FILEHASH_RE.match(key):
        record = await store.get_by_filehash(key)
    elif (sha256 := parse_sha256(key)) is not None:
        found = await store.with_sha256(sha256, limit=1)
        record = found[0] if found else None
    else:
        record = await store.get_by_short_code(key)
    if record is None:
        raise AdminError(f"no file matches {key!r} (give a filehash, a sha256, a short code or a link)")
    return record


async def show(services: Services, key: str) -> dict[str, Any]:
    record = await find(services, key)
    card = services.links.card(record)
    card["blocked"] = await services.store.blocklist.is_blocked(record.sha256)
    card["blob_present"] = services.blobs.exists(record.sha256)
    assert record.id is not None
    children = await services.store.expiry.children(record.id)
    card["derivatives"] = [child.filehash for child in children]
    return card


async def remove(services: Services, key: str, block: bool = False, reason: str = "") -> dict[str, Any]:
    """Delete a file (and its derivatives) without its token; ``block`` first blocks its bytes."""
    record = await find(services, key)
    if block:
        await services.store.blocklist.block([record.sha256], reason or "removed by an operator", time.time())
    assert record.id is not None
    children = await services.store.expiry.children(record.id)
    # ingestor.remove publishes file.deleted: feeds hear it, and the image service removes derivatives.
    await services.ingestor.remove(record)
    return {"removed": record.filehash, "sha256": record.sha256, "derivatives": [c.filehash for c in children],
            "blocked": block}


def _hashes(values: Iterable[str]) -> list[str]:
    hashes = []
    for value in values:
        sha256 = parse_sha256(value)
        if sha256 is None:
            raise AdminError(f"not a sha256 (64 hexadecimal digits): {value!r}")
        hashes.append(sha256)
    return hashes


async def block(services: Services, values: Iterable[str], reason: str = "") -> dict[str, Any]:
    hashes = _hashes(values)
    added = await services.store.blocklist.block(hashes, reason, time.time())
    services.blocks.forget()
    present = [h for h in hashes if await services.store.with_sha256(h, limit=1)]
    return {"blocked": len(hashes), "new": added, "stored_copies": present}


async def unblock(services: Services, values: Iterable[str]) -> dict[str, Any]:
    removed = [h for h in _hashes(values) if await services.store.blocklist.unblock(h)]
    services.blocks.forget()
    return {"unblocked": removed}


async def blocklist(services: Services, limit: int = 1000) -> list[dict[str, Any]]:
    return [dataclasses.asdict(e) for e in await services.store.blocklist.entries(limit)]


async def import_blocklist(services: Services, lines: Iterable[str], reason: str = "") -> dict[str, Any]:
    hashes, bad = parse_blocklist(lines)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        raise AdminError(f"{len(bad)} line(s) are not sha256 values (line {shown}); nothing was imported")
    added = await services.store.blocklist.block(hashes, reason or "imported", time.time())
    services.blocks.forget()
    return {"read": len(hashes), "new": added}


async def prune(services: Services) -> dict[str, Any]:
    """Remove expired files and expired unfinished tus uploads now, instead of at the next sweep."""
    report = await services.retention.sweeper.sweep_expired()
    uploads = await services.tus.sweep()
    return {"files": report.records, "blobs": report.blobs, "tus_uploads": uploads}

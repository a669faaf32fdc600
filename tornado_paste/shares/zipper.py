"""A collection as one zip archive, streamed: stored entries (no compression), deterministic bytes.

Every header is computed from the entries (name, size, CRC-32, upload time), so the archive's size
is known before the first byte (``Content-Length``) and any byte range of it can be produced on its
own (``Range`` resumes a download). Memory stays flat whatever the total: headers are a few dozen
bytes each and file data is streamed from the blob store in chunks (``BlobReader``: the blob-store
interface's ``stream``, so local blobs and S3 objects alike). Names are UTF-8 (general-purpose flag bit
11) and made unique case-insensitively ("a.txt", "a (2).txt"). Zip64 records appear only where a
size, an offset or the entry count needs them, so small archives open everywhere.

No data descriptors: an entry's CRC-32 is needed before its header, so a blob never seen in an
archive is read once to compute it (``crc_of``), and the result is kept on the file record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

READ_CHUNK = 256 * 1024
# Sizes and offsets at or above this use Zip64 fields (tests lower it to reach those paths cheaply).
ZIP64_AT = 0xFFFFFFFF
_MAX16 = 0xFFFF
_FLAGS = 0x0800  # bit 11: names are UTF-8
_UNIX_FILE = (0o100644 << 16)


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    sha256: str
    mtime: datetime
    crc32: int | None = None
    # The caller's name for the file the bytes come from (a filehash): where a computed CRC-32 is kept.
    ref: str = ""


def unique_names(names: list[str]) -> list[str]:
    """Each name once, compared case-insensitively: a second "a.txt" becomes "a (2).txt"."""
    seen: set[str] = set()
    out = []
    for raw in names:
        name = (raw or "file").replace("/", "_").replace("\\", "_").strip() or "file"
        stem, dot, ext = name.rpartition(".")
        if not stem:  # ".bashrc" or "README": no extension to keep apart
            stem, dot, ext = name, "", ""
        candidate, n = name, 1
        while candidate.casefold() in seen:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def dos_time(moment: datetime) -> tuple[int, int]:
    moment = moment.astimezone(UTC)
    if moment.year < 1980:
        return 0, (0 << 9) | (1 << 5) | 1
    year = min(moment.year, 2107)
    return ((moment.hour << 11) | (moment.minute << 5) | (moment.second // 2),
            ((year - 1980) << 9) | (moment.month << 5) | moment.day)


class ZipPlan:
    """Where every byte of the archive comes from; ``size`` before anything is read."""

    def __init__(self, entries: list[Entry]) -> None:
        names = unique_names([e.name for e in entries])
        self.entries = [Entry(n, e.size, e.sha256, e.mtime, e.crc32, e.ref)
                        for n, e in zip(names, entries, strict=True)]
        self._names = [e.name.encode("utf-8") for e in self.entries]
        # (kind, index, start, length) in archive order: kinds "local", "data", "central", "end".
        self.pieces: list[tuple[str, int, int, int]] = []
        self.offsets: list[int] = []
        at = 0
        for i, entry in enumerate(self.entries):
            self.offsets.append(at)
            local = 30 + len(self._names[i]) + (20 if entry.size >= ZIP64_AT else 0)
            self.pieces.append(("local", i, at, local))
            at += local
            self.pieces.append(("data", i, at, entry.size))
            at += entry.size
        self.cd_offset = at
        for i, entry in enumerate(self.entries):
            length = 46 + len(self._names[i]) + self._central_extra_len(entry, self.offsets[i])
            self.pieces.append(("central", i, at, length))
            at += length
        self.cd_size = at - self.cd_offset
        self.zip64_end = (len(self.entries) >= _MAX16 or self.cd_size >= ZIP64_AT or self.cd_offset >= ZIP64_AT)
        end = 22 + (56 + 20 if self.zip64_end else 0)
        self.pieces.append(("end", -1, at, end))
        self.size = at + end

    @staticmethod
    def _central_extra_len(entry: Entry, offset: int) -> int:
        fields = 2 * (entry.size >= ZIP64_AT) + (offset >= ZIP64_AT)
        return 4 + 8 * fields if fields else 0

    @property
    def etag(self) -> str:
        """Changes whenever any byte of the archive would."""
        digest = hashlib.sha256()
        for entry in self.entries:
            digest.update(f"{entry.name}\0{entry.size}\0{entry.sha256}\0{entry.mtime.timestamp()}\n".encode())
        digest.update(f"zip64_at={ZIP64_AT}".encode())
        return digest.hexdigest()[:32]

    # -- header bytes ----------------------------------------------------------------------------
    def local_header(self, i: int) -> bytes:
        entry, name = self.entries[i], self._names[i]
        assert entry.crc32 is not None
        wtime, wdate = dos_time(entry.mtime)
        big = entry.size >= ZIP64_AT
        size32 = 0xFFFFFFFF if big else entry.size
        extra = struct.pack("<HHQQ", 0x0001, 16, entry.size, entry.size) if big else b""
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if big else 20, _FLAGS, 0, wtime, wdate, entry.crc32,
                           size32, size32, len(name), len(extra))
        return head + name + extra

    def central_header(self, i: int) -> bytes:
        entry, name, offset = self.entries[i], self._names[i], self.offsets[i]
        assert entry.crc32 is not None
        wtime, wdate = dos_time(entry.mtime)
        values = []
        if entry.size >= ZIP64_AT:
            values += [entry.size, entry.size]
        if offset >= ZIP64_AT:
            values.append(offset)
        extra = struct.pack(f"<HH{len(values)}Q", 0x0001, 8 * len(values), *values) if values else b""
        version = 45 if values else 20
        size32 = 0xFFFFFFFF if entry.size >= ZIP64_AT else entry.size
        head = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | version, version, _FLAGS, 0, wtime, wdate,
                           entry.crc32, size32, size32, len(name), len(extra), 0, 0, 0, _UNIX_FILE,
                           0xFFFFFFFF if offset >= ZIP64_AT else offset)
        return head + name + extra

    def end_records(self) -> bytes:
        count = len(self.entries)
        out = b""
        if self.zip64_end:
            zip64_at = self.cd_offset + self.cd_size
            out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count, self.cd_size,
                               self.cd_offset)
            out += struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, _MAX16), min(count, _MAX16),
                           0xFFFFFFFF if self.cd_size >= ZIP64_AT else self.cd_size,
                           0xFFFFFFFF if self.cd_offset >= ZIP64_AT else self.cd_offset, 0)
        return out

    def needs_crc(self, start: int, end: int) -> list[int]:
        """Entries whose CRC-32 the bytes [start, end) need (headers in the range, or any central one)."""
        wanted: set[int] = set()
        for kind, i, at, length in self.pieces:
            if at >= end or at + length <= start or kind == "data":
                continue
            if kind in ("central", "local"):
                wanted.add(i)
        return sorted(i for i in wanted if self.entries[i].crc32 is None)

    def with_crcs(self, crcs: dict[int, int]) -> None:
        self.entries = [Entry(e.name, e.size, e.sha256, e.mtime, crcs.get(i, e.crc32), e.ref)
                        for i, e in enumerate(self.entries)]


# (sha256, start, end) -> the blob's bytes [start, end) in pieces: ``BlobStore.stream``.
BlobReader = Callable[[str, int, "int | None"], AsyncIterator[bytes]]


async def crc_of(read: BlobReader, sha256: str, executor: object = None) -> int:
    """The CRC-32 of a blob, streamed from the store; each piece summed on a thread."""
    loop = asyncio.get_running_loop()
    value = 0
    async with contextlib.aclosing(read(sha256, 0, None)) as pieces:  # type: ignore[type-var]
        async for chunk in pieces:
            value = await loop.run_in_executor(executor, zlib.crc32, chunk, value)  # type: ignore[arg-type]
    return value & 0xFFFFFFFF


async def stream(plan: ZipPlan, read: BlobReader, start: int = 0, end: int | None = None,
                 executor: object = None, on_crc: Callable[[int, int], Awaitable[None]] | None = None
                 ) -> AsyncIterator[bytes]:
    """The archive's bytes [start, end), in chunks of at most ``READ_CHUNK``.

    A CRC-32 not known yet is computed just before the first header that needs it (so a first
    download starts at once and reads each file twice, the second time from the page cache), and
    handed to ``on_crc(index, crc)`` to be kept.
    """
    end = plan.size if end is None else min(end, plan.size)
    for kind, i, at, length in plan.pieces:
        if at >= end or at + length <= start or length == 0:
            continue
        lo, hi = max(start, at) - at, min(end, at + length) - at
        if kind == "data":
            left = hi - lo
            async with contextlib.aclosing(read(plan.entries[i].sha256, lo, hi)) as pieces:  # type: ignore[type-var]
                async for whole in pieces:
                    piece = whole[:left]
                    for at_piece in range(0, len(piece), READ_CHUNK):
                        yield piece[at_piece:at_piece + READ_CHUNK]
                    left -= len(piece)
                    if left <= 0:
                        break
            if left > 0:
                raise OSError(f"blob {plan.entries[i].sha256} is shorter than its record says")
            continue
        if i >= 0 and plan.entries[i].crc32 is None:
            crc = await crc_of(read, plan.entries[i].sha256, executor)
            plan.with_crcs({i: crc})
            if on_crc is not None:
                await on_crc(i, crc)
        if kind == "local":
            data = plan.local_header(i)
        elif kind == "central":
            data = plan.central_header(i)
        else:
            data = plan.end_records()
        assert len(data) == length, (kind, i, len(data), length)
        yield data[lo:hi]
